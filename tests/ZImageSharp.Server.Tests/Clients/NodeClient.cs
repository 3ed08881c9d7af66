using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace ZImageSharp.Server.Tests.Clients;

/// <summary>A Node client folder of tests/clients (copied next to the test assembly), its packages installed once by
/// <c>npm ci</c> from its package-lock.json and kept there until the lock file changes. CI (env CI=true) must run
/// these tests, so a missing node/npm or a failed install is a failure there; elsewhere a machine without node skips.</summary>
internal sealed class NodeClient
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    private NodeClient(string folder, string node) => (Folder, Node) = (folder, node);

    public string Folder { get; }

    public string Node { get; }

    public static bool InCi => Environment.GetEnvironmentVariable("CI") is "true" or "1";

    /// <summary>The client folder <paramref name="name"/> with its node_modules in place; skips (outside CI) when node
    /// is not on PATH.</summary>
    public static async Task<NodeClient> PrepareAsync(string name)
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "clients", name);
        if (!File.Exists(Path.Combine(folder, "package-lock.json")))
            throw new InvalidOperationException($"{folder} has no package-lock.json: the test project copies tests/clients/{name}.");
        string? node = FindOnPath("node");
        string? npm = FindOnPath("npm");
        if (node is null || npm is null)
        {
            string missing = $"{(node is null ? "node" : "npm")} is not on PATH; the Node client tests (tests/clients) need Node 20+ and npm.";
            if (InCi) throw new InvalidOperationException(missing + " CI must run them.");
            Skip.If(node is null, missing);
            throw new InvalidOperationException(missing + " node is there, so npm should be too.");
        }

        // npm ci deletes and rewrites node_modules: one test at a time, and only when the lock file changed.
        await InstallLock.WaitAsync();
        try
        {
            string stamp = Path.Combine(folder, "node_modules", ".zimage-lock-sha256");
            string lockHash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(folder, "package-lock.json"))));
            if (!File.Exists(stamp) || await File.ReadAllTextAsync(stamp) != lockHash)
            {
                var install = await RunAsync(npm, ["ci", "--no-audit", "--no-fund", "--loglevel=error"], folder, TimeSpan.FromMinutes(3));
                if (install.ExitCode != 0)
                    throw new InvalidOperationException($"npm ci in {folder} failed ({install.ExitCode}):\n{install.StandardError}\n{install.StandardOutput}");
                await File.WriteAllTextAsync(stamp, lockHash);
            }
        }
        finally
        {
            InstallLock.Release();
        }
        return new NodeClient(folder, node);
    }

    public Task<ProcessResult> RunScriptAsync(string script, IEnumerable<string> arguments, IDictionary<string, string> environment, TimeSpan timeout) =>
        RunAsync(Node, [script, .. arguments], Folder, timeout, environment);

    private static string? FindOnPath(string program)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, string folder, TimeSpan timeout,
        IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // The client reads its key from the environment given here, never from the developer's own OpenAI settings.
        start.Environment.Remove("OPENAI_API_KEY");
        start.Environment.Remove("OPENAI_BASE_URL");
        start.Environment["NO_COLOR"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', start.ArgumentList)} ran past {timeout.TotalSeconds:0} s:\n{await stderr}");
        }
        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}

internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError);
