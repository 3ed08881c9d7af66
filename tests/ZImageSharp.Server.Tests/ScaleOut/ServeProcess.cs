using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>A real <c>zimage serve</c> process (the CLI as built, run with <c>dotnet zimage.dll</c>) on a free
/// loopback port, its output kept for the test to read. <see cref="Kill"/> is SIGKILL: no shutdown, no goodbye.</summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServeProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }

    public HttpClient Http { get; }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    public static ServeProcess Start(params string[] arguments)
    {
        int port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ZimageDll.Value);
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.ToString().TrimEnd('/'));
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // The demo model on the CPU, whatever this machine's environment says.
        foreach (string name in new[] { "ZIMAGE_MODEL", "ZIMAGE_DEVICE", "ZIMAGE_VRAM_BUDGET", "ZIMAGE_RAM_BUDGET", "ZIMAGE_INJECT_OOM", "ZIMAGE_API_KEYS" })
            start.Environment.Remove(name);
        start.Environment["DOTNET_gcServer"] = "0";
        var process = new Process { StartInfo = start };
        var serve = new ServeProcess(process, address);
        process.OutputDataReceived += (_, e) => serve.Append(e.Data);
        process.ErrorDataReceived += (_, e) => serve.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return serve;
    }

    /// <summary>Waits until /health/ready answers 200; fails with the process's output if it exits or takes too long.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"zimage serve exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var response = await Http.GetAsync("/health/ready");
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"zimage serve at {Address} is not ready after {timeout}:\n{Output}");
            await Task.Delay(200);
        }
    }

    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited) Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The CLI built beside this test assembly (the test project builds it first), same configuration.</summary>
    private static readonly Lazy<string> ZimageDll = new(() =>
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "ZImageSharp.slnx"))) root = root.Parent;
        if (root is null) throw new FileNotFoundException("The repository root (ZImageSharp.slnx) is not above the test assembly.");
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        string bin = Path.Combine(root.FullName, "src", "ZImageSharp.Cli", "bin", configuration);
        var found = Directory.Exists(bin) ? Directory.GetFiles(bin, "zimage.dll", SearchOption.AllDirectories) : [];
        return found.OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            ?? throw new FileNotFoundException($"zimage.dll is not built under {bin}; build src/ZImageSharp.Cli -c {configuration}.");
    });
}
