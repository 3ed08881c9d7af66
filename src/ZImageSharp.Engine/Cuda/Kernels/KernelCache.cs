using System.Security.Cryptography;
using System.Text;

namespace ZImageSharp.Engine.Cuda.Kernels;

/// <summary>
/// Compiled kernels on disk, so NVRTC runs once per source, architecture and compiler version rather than once per
/// process: <c>$XDG_CACHE_HOME/zimage/kernels/&lt;sha256&gt;.cubin</c> (or <c>.ptx</c> when NVRTC gave PTX). The
/// key covers everything that changes the binary, so a stale file is never picked up; files are written through a
/// temporary file and a rename, so a reader never loads half a binary.
/// </summary>
internal sealed class KernelCache(string directory)
{
    public string Directory { get; } = directory;

    /// <summary>The default folder, from <c>XDG_CACHE_HOME</c> (else <c>~/.cache</c>).</summary>
    public static string DefaultDirectory(Func<string, string?>? environment = null) =>
        Options.CacheDirectory.For("kernels", environment);

    /// <summary>Lower-case hex SHA-256 of the source, the architecture, the NVRTC version and the options.</summary>
    public static string Key(string source, string arch, string nvrtcVersion, IEnumerable<string> options)
    {
        var text = string.Join("\n", new[] { source, arch, nvrtcVersion }.Concat(options));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    public string PathFor(string key, bool cubin) => Path.Combine(Directory, key + (cubin ? ".cubin" : ".ptx"));

    /// <summary>The cached binary for <paramref name="key"/>, or <paramref name="compile"/>'s, written for next time.
    /// <paramref name="fromCache"/> says which.</summary>
    public CompiledKernel GetOrCompile(string key, Func<CompiledKernel> compile, out bool fromCache)
    {
        foreach (bool cubin in new[] { true, false })
        {
            var path = PathFor(key, cubin);
            if (File.Exists(path) && new FileInfo(path).Length > 0)
            {
                fromCache = true;
                return new CompiledKernel(File.ReadAllBytes(path), cubin);
            }
        }
        var kernel = compile();
        fromCache = false;
        // A read-only or full cache folder costs the next process a compile, nothing more.
        try { WriteAtomically(PathFor(key, kernel.IsCubin), kernel.Image); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return kernel;
    }

    /// <summary>Writes through a per-process temporary file in the same folder and renames it over the target.</summary>
    public static void WriteAtomically(string path, byte[] bytes)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temp = $"{path}.{Environment.ProcessId}.partial";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
