using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Clients;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>An S3 server that is not ours (tests/clients/s3/server.mjs: s3rver, which checks every Signature V4 against
/// the one key pair it is given) on a loopback port, with one bucket; and the official AWS SDK (sdk.mjs) to read what
/// the server wrote. Like the OpenAI SDK tests: skipped where node is missing, required in CI.</summary>
internal sealed class S3rver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly NodeClient _node;
    private readonly string _folder;
    private readonly ConcurrentQueue<S3Request> _requests = new();
    private readonly ConcurrentQueue<JsonNode> _notes = new();
    private readonly Task _reader;
    private readonly LockedText _stderr = new();

    private S3rver(Process process, NodeClient node, string folder, string bucket, string accessKey, string secretKey)
    {
        (_process, _node, _folder) = (process, node, folder);
        (Bucket, AccessKey, SecretKey) = (bucket, accessKey, secretKey);
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _stderr.WriteLine(e.Data); };
        _process.BeginErrorReadLine();
        _reader = Task.Run(ReadAsync);
    }

    public string Bucket { get; }

    public string AccessKey { get; }

    public string SecretKey { get; private set; }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Every request s3rver answered, in order.</summary>
    public IReadOnlyList<S3Request> Requests => [.. _requests];

    public static async Task<S3rver> StartAsync(string bucket, string accessKey, string secretKey)
    {
        var node = await NodeClient.PrepareAsync("s3");
        string folder = TempFolder.Create();
        var start = new ProcessStartInfo(node.Node)
        {
            WorkingDirectory = node.Folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("server.mjs");
        start.ArgumentList.Add(folder);
        start.Environment["S3_BUCKET"] = bucket;
        start.Environment["S3_ACCESS_KEY"] = accessKey;
        start.Environment["S3_SECRET_KEY"] = secretKey;
        var process = Process.Start(start) ?? throw new InvalidOperationException("node server.mjs did not start.");
        var s3 = new S3rver(process, node, folder, bucket, accessKey, secretKey);
        var ready = await s3.NoteAsync("endpoint", TimeSpan.FromSeconds(30));
        s3.Endpoint = new Uri((string)ready["endpoint"]!);
        return s3;
    }

    /// <summary>Gives the key pair another secret, as an operator rotating keys under running servers would.</summary>
    public async Task ReplaceSecretAsync(string secret)
    {
        await _process.StandardInput.WriteLineAsync($"secret {secret}");
        await _process.StandardInput.FlushAsync();
        await NoteAsync("secret", TimeSpan.FromSeconds(10));
        SecretKey = secret;
    }

    /// <summary>Answers every signed request of <paramref name="method"/> 403 AccessDenied from now on, as a store does
    /// for keys whose policy does not allow it.</summary>
    public async Task DenyAsync(string method)
    {
        await _process.StandardInput.WriteLineAsync($"deny {method}");
        await _process.StandardInput.FlushAsync();
        await NoteAsync("denied", TimeSpan.FromSeconds(10));
    }

    /// <summary>Returns once every request answered so far is in <see cref="Requests"/>: s3rver reports each after it
    /// is written, so one sent now (unsigned, answered 403) is reported after all of them.</summary>
    public async Task SettleAsync()
    {
        string path = $"/settle-{Guid.NewGuid():N}";
        using var http = new HttpClient();
        using var _ = await http.GetAsync(new Uri(Endpoint, path));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!_requests.Any(r => r.Path == path))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"s3rver never reported {path}.\n{_stderr}");
            await Task.Delay(10);
        }
    }

    /// <summary>The official AWS SDK lists the bucket under <paramref name="prefix"/> and gets every object: the
    /// listing, each object's content type and bytes, and what the SDK got with a wrong secret and a wrong key.</summary>
    public async Task<SdkView> ReadWithAwsSdkAsync(string prefix)
    {
        string output = TempFolder.Create();
        try
        {
            var run = await _node.RunScriptAsync("sdk.mjs", [Endpoint.ToString().TrimEnd('/'), Bucket, prefix, output],
                new Dictionary<string, string> { ["S3_ACCESS_KEY"] = AccessKey, ["S3_SECRET_KEY"] = SecretKey }, TimeSpan.FromSeconds(60));
            Assert.True(run.ExitCode == 0, $"node sdk.mjs exited {run.ExitCode}:\n{run.StandardError}");
            var result = JsonNode.Parse(run.StandardOutput.Trim().Split('\n')[^1])!;
            var objects = result["objects"]!.AsArray().Select(o => new SdkObject(
                (string)o!["key"]!, (long)o["size"]!, (string?)o["content_type"], File.ReadAllBytes((string)o["file"]!))).ToList();
            return new SdkView((string)result["sdk"]!["version"]!, objects,
                ((string?)result["wrong_secret"]!["name"], (int?)result["wrong_secret"]!["status"]),
                ((string?)result["wrong_key"]!["name"], (int?)result["wrong_key"]!["status"]));
        }
        finally
        {
            TempFolder.Delete(output);
        }
    }

    public string PackageLockVersion(string package) =>
        (string)JsonNode.Parse(File.ReadAllText(Path.Combine(_node.Folder, "package-lock.json")))!["packages"]![$"node_modules/{package}"]!["version"]!;

    private async Task<JsonNode> NoteAsync(string name, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_notes.TryDequeue(out var note) && note[name] is not null) return note;
            if (_process.HasExited && _notes.IsEmpty)
                throw new InvalidOperationException($"node server.mjs exited {_process.ExitCode}:\n{_stderr}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"node server.mjs said no '{name}' within {timeout.TotalSeconds:0} s:\n{_stderr}");
            await Task.Delay(10);
        }
    }

    private async Task ReadAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (JsonNode.Parse(line) is not JsonObject entry) continue;
            if (entry["method"] is not null)
                _requests.Enqueue(new S3Request((string)entry["method"]!, (string)entry["path"]!, (int)entry["status"]!, (string?)entry["content_type"]));
            else
                _notes.Enqueue(entry);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // End of stdin stops it; a kill only if it does not.
        _process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _reader;
        _process.Dispose();
        TempFolder.Delete(_folder);
    }

    /// <summary>stderr arrives on a thread-pool thread; the test reads it on another.</summary>
    private sealed class LockedText
    {
        private readonly System.Text.StringBuilder _text = new();

        public void WriteLine(string line)
        {
            lock (_text) _text.AppendLine(line);
        }

        public override string ToString()
        {
            lock (_text) return _text.ToString();
        }
    }
}

/// <summary>One request as s3rver answered it: the path as sent (still URI-encoded), the status, and for a PUT the
/// Content-Type it carried.</summary>
internal sealed record S3Request(string Method, string Path, int Status, string? ContentType);

internal sealed record SdkObject(string Key, long Size, string? ContentType, byte[] Bytes);

internal sealed record SdkView(string SdkVersion, IReadOnlyList<SdkObject> Objects, (string? Name, int? Status) WrongSecret,
    (string? Name, int? Status) WrongKey);
