using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Runs alone: two thousand streams would slow whatever ran beside it, and its timings would mean little.</summary>
[CollectionDefinition(nameof(SseWatcherLoadTests), DisableParallelization = true)]
public sealed class SseWatcherLoadTestsCollection;

/// <summary>
/// Issue #10's load over loopback: the real engine with the demo model, 32 jobs queued at once and 64 progress streams
/// open on each from before it starts. Every stream serialises its own copy of each step's event (a preview PNG as a
/// data URL), so the process allocates hard and collects often while the device thread is inside libtorch: before
/// the engine owned its Scalars, jobs failed there with "internal" in phase denoise. Every job must succeed and every
/// watcher must see its steps and its end.
/// </summary>
[Collection(nameof(SseWatcherLoadTests))]
public sealed class SseWatcherLoadTests(TinyEngineFixture tiny, ITestOutputHelper output) : IClassFixture<TinyEngineFixture>
{
    private const int Jobs = 32;
    private const int WatchersPerJob = 64;
    private const int Steps = 4;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    [Trait("Category", "Load")]
    public async Task Thirty_two_jobs_with_sixty_four_progress_streams_each_all_succeed()
    {
        await using var host = new ServerFactory(configure: o => o.QueueCapacity = Jobs);
        var address = tiny.ServeOnLoopback(host);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Jobs * WatchersPerJob + 8 })
        {
            BaseAddress = address,
            Timeout = Deadline,
        };
        using var deadline = new CancellationTokenSource(Deadline);
        var clock = Stopwatch.StartNew();

        var ids = new List<string>();
        var watchers = new List<Task<Watch>>();
        for (int j = 0; j < Jobs; j++)
        {
            // 128² keeps a job near 0.1 s on two cores, so the run stays well inside CI's time; previews still
            // come with every step.
            var response = await http.PostAsync("/api/jobs", Requests.Json(new { prompt = $"watched job {j}", width = 128, height = 128, steps = Steps, seed = j }), deadline.Token);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            string id = (string)(await response.ReadJson())["id"]!;
            ids.Add(id);
            for (int w = 0; w < WatchersPerJob; w++) watchers.Add(WatchAsync(http, id, deadline.Token));
        }

        var watches = await Task.WhenAll(watchers);
        var finals = new List<JsonNode>();
        foreach (var id in ids) finals.Add((await http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}", deadline.Token))!);
        clock.Stop();

        var failed = finals.Where(f => (string)f["state"]! != "succeeded").Select(f => f.ToJsonString()).ToList();
        int progressEvents = watches.Sum(w => w.Progress);
        output.WriteLine($"{Jobs} jobs × {WatchersPerJob} watchers: {Jobs - failed.Count} succeeded, {failed.Count} failed, " +
                         $"{progressEvents} progress events streamed, {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(failed.Count == 0, $"{failed.Count} of {Jobs} jobs did not succeed:\n{string.Join("\n", failed)}");
        Assert.All(watches, w => Assert.Equal("succeeded", w.FinalState));
        // Each job reports step 0 and every finished step; a watcher opened while its job was queued sees all of them.
        var whole = watches.Where(w => w.FirstState == "queued").ToList();
        output.WriteLine($"{whole.Count} of {watches.Length} streams opened while their job was queued");
        Assert.True(whole.Count >= watches.Length * 9 / 10, $"only {whole.Count} of {watches.Length} streams watched a whole job");
        Assert.All(whole, w => Assert.Equal(Enumerable.Range(0, Steps + 1), w.DenoiseSteps));
        Assert.All(whole, w => Assert.True(w.Previews >= Steps, $"{w.Previews} previews for {Steps} steps"));
    }

    /// <param name="FirstState">The job's state when the stream opened: "queued" means it sees the whole job.</param>
    private sealed record Watch(string FirstState, string FinalState, int Progress, IReadOnlyList<int> DenoiseSteps, int Previews);

    private static async Task<Watch> WatchAsync(HttpClient http, string id, CancellationToken cancellationToken)
    {
        using var stream = await http.GetStreamAsync($"/api/jobs/{id}/events", cancellationToken);
        using var reader = new StreamReader(stream);
        string? name = null, first = null;
        int progress = 0, previews = 0;
        var steps = new SortedSet<int>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = JsonNode.Parse(line[6..])!;
            if (name == "done") return new Watch(first ?? "done", (string)data["state"]!, progress, [.. steps], previews);
            if (name == "state") first ??= (string)data["state"]!;
            if (name != "progress") continue;
            progress++;
            if ((string?)data["phase"] == "denoise") steps.Add((int)data["step"]!);
            if (data["preview"] is JsonValue) previews++;
        }
        return new Watch(first ?? "none", "stream ended without 'done'", progress, [.. steps], previews);
    }
}
