using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ZImageSharp.Engine.Native;

/// <summary>A libtorch found on this machine (usually the one inside a pip/conda PyTorch install).</summary>
public sealed record LibTorchInstallation(string LibFolder, string FoundBy, string? Version, bool HasCuda, IReadOnlyList<string> NvidiaLibFolders)
{
    public override string ToString() =>
        $"libtorch {Version ?? "(version unknown)"} {(HasCuda ? "with CUDA" : "CPU only")} at {LibFolder} ({FoundBy})";
}

/// <summary>
/// Finds the libtorch of an installed PyTorch, so a GPU machine needs no CUDA build of TorchSharp: TorchSharp's shim
/// runs on PyTorch's own libraries (platform notes). Order: the explicit path (option or ZIMAGE_LIBTORCH), the active
/// virtual/conda environment, usual install prefixes, and finally asking python3 where torch lives.
/// </summary>
public static partial class LibTorchLocator
{
    public const string EnvironmentVariable = "ZIMAGE_LIBTORCH";

    public static LibTorchInstallation? Find(string? explicitPath, out IReadOnlyList<string> searched)
    {
        var tried = new List<string>();
        searched = tried;
        explicitPath ??= Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : null;
        if (explicitPath is not null)
        {
            // An explicit path is a decision: do not fall back silently to another install.
            return Probe(explicitPath, "explicit path", tried);
        }
        foreach (var (root, how) in CandidateRoots())
            if (Probe(root, how, tried) is { } found) return found;
        if (AskPython(tried) is { } fromPython) return fromPython;
        return null;
    }

    private static IEnumerable<(string Root, string How)> CandidateRoots()
    {
        if (Environment.GetEnvironmentVariable("VIRTUAL_ENV") is { Length: > 0 } venv) yield return (venv, "VIRTUAL_ENV");
        if (Environment.GetEnvironmentVariable("CONDA_PREFIX") is { Length: > 0 } conda) yield return (conda, "CONDA_PREFIX");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        yield return (Path.Combine(Environment.CurrentDirectory, ".venv"), "./.venv");
        if (home.Length > 0)
        {
            yield return (Path.Combine(home, ".venv"), "~/.venv");
            yield return (Path.Combine(home, ".local"), "~/.local");
        }
        foreach (var dir in SafeDirectories("/opt"))
        {
            yield return (Path.Combine(dir, ".venv"), "/opt/*/.venv");
            yield return (Path.Combine(dir, "venv"), "/opt/*/venv");
        }
        yield return ("/usr/local", "/usr/local");
        yield return ("/usr", "/usr");
    }

    /// <summary>Accepts a torch/lib folder, a torch package folder, a site-packages folder or an environment root.</summary>
    private static LibTorchInstallation? Probe(string path, string how, List<string> tried)
    {
        tried.Add(path);
        foreach (var lib in LibFolderCandidates(path))
        {
            if (File.Exists(Path.Combine(lib, "libtorch_cpu.so")) && File.Exists(Path.Combine(lib, "libtorch.so")))
                return Describe(lib, how);
        }
        return null;
    }

    private static IEnumerable<string> LibFolderCandidates(string path)
    {
        yield return path;
        yield return Path.Combine(path, "lib");
        yield return Path.Combine(path, "torch", "lib");
        foreach (var libDir in new[] { Path.Combine(path, "lib"), Path.Combine(path, "lib64") })
        foreach (var python in SafeDirectories(libDir).Where(d => Path.GetFileName(d).StartsWith("python3", StringComparison.Ordinal)))
        {
            yield return Path.Combine(python, "site-packages", "torch", "lib");
            yield return Path.Combine(python, "dist-packages", "torch", "lib");
        }
    }

    private static LibTorchInstallation Describe(string lib, string how)
    {
        string torchDir = Path.GetDirectoryName(Path.GetFullPath(lib))!;
        string? version = null;
        var versionFile = Path.Combine(torchDir, "version.py");
        if (File.Exists(versionFile) && VersionLine().Match(File.ReadAllText(versionFile)) is { Success: true } m)
            version = m.Groups[1].Value;
        // pip's CUDA wheels keep the CUDA runtime, cuBLAS, cuDNN... in site-packages/nvidia/*/lib.
        var sitePackages = Path.GetDirectoryName(torchDir)!;
        var nvidia = SafeDirectories(Path.Combine(sitePackages, "nvidia"))
            .SelectMany(d => new[] { Path.Combine(d, "lib") }.Concat(SafeDirectories(d).Select(x => Path.Combine(x, "lib"))))
            .Where(Directory.Exists).Distinct().ToList();
        return new LibTorchInstallation(Path.GetFullPath(lib), how, version, File.Exists(Path.Combine(lib, "libtorch_cuda.so")), nvidia);
    }

    private static LibTorchInstallation? AskPython(List<string> tried)
    {
        foreach (var python in new[] { "python3", "python" })
        {
            try
            {
                var psi = new ProcessStartInfo(python, ["-c", "import os, torch; print(os.path.dirname(torch.__file__))"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                using var process = Process.Start(psi);
                if (process is null) continue;
                var output = process.StandardOutput.ReadToEnd().Trim();
                if (!process.WaitForExit(30_000)) { process.Kill(); continue; }
                if (process.ExitCode == 0 && output.Length > 0)
                    return Probe(Path.Combine(output, "lib"), $"{python} -c 'import torch'", tried);
                tried.Add($"{python} (no torch module)");
            }
            catch (System.ComponentModel.Win32Exception)
            {
                tried.Add($"{python} (not on PATH)");
            }
        }
        return null;
    }

    private static IEnumerable<string> SafeDirectories(string path)
    {
        try { return Directory.Exists(path) ? Directory.GetDirectories(path).Order(StringComparer.Ordinal).ToArray() : []; }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return []; }
    }

    [GeneratedRegex("""__version__\s*=\s*['"]([^'"]+)['"]""")]
    private static partial Regex VersionLine();
}
