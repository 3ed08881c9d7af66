using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests;

/// <summary>Runs alone: it measures process-wide heap and descriptor counts, which tests running in parallel (the
/// real demo engine's, above all) would move.</summary>
[CollectionDefinition(nameof(LoadTests), DisableParallelization = true)]
public sealed class LoadTestsCollection;

/// <summary>32 clients submit 200 jobs to a queue of 16 over loopback. Every answer is 202 or 429, every accepted
/// job succeeds, and memory and handle counts stay flat from a warm-up round to the measured one.</summary>
[Collection(nameof(LoadTests))]
public sealed class LoadTests(ITestOutputHelper output)
{
    private const int Clients = 32;
    private const int Jobs = 200;
    private const int QueueCapacity = 16;

    [Fact]
    [Trait("Category", "Load")]
    public async Task Thirty_two_clients_two_hundred_jobs_queue_of_sixteen()
    {
        var generator = new FakeImageGenerator { StepDelay = TimeSpan.FromMilliseconds(5) };
        await using var server = await LiveServer.StartAsync(generator, o => o.QueueCapacity = QueueCapacity);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Clients }) { BaseAddress = server.BaseAddress };

        var warmUp = await RunRound(http, jobs: 60, tag: "warm");
        var before = Snapshot();
        var round = await RunRound(http, Jobs, tag: "load");
        var after = Snapshot();

        output.WriteLine($"warm-up: {warmUp}");
        output.WriteLine($"measured: {round}");
        output.WriteLine($"managed heap {before.HeapMiB:0.0} -> {after.HeapMiB:0.0} MiB, working set {before.WorkingSetMiB:0.0} -> {after.WorkingSetMiB:0.0} MiB, " +
                         $"handles {before.Handles} -> {after.Handles}, threads {before.Threads} -> {after.Threads}");

        Assert.Equal(Jobs, round.Accepted);
        Assert.Equal(0, round.Unexpected);
        Assert.True(round.Refused > 0, "The queue of 16 never filled: the test does not exercise 429.");
        Assert.Equal(Jobs, round.Succeeded);
        Assert.Equal(Jobs + 60, generator.TotalCompleted);
        Assert.InRange(round.MaxQueueDepth, 1, QueueCapacity);
        Assert.InRange(after.HeapMiB - before.HeapMiB, -64, 16);
        Assert.InRange(after.Handles - before.Handles, -Clients, 16);
        WriteFigures(round, before, after);
    }

    private static async Task<Round> RunRound(HttpClient http, int jobs, string tag)
    {
        int remaining = jobs, accepted = 0, refused = 0, unexpected = 0, succeeded = 0, maxDepth = 0;
        var submitLatencies = new ConcurrentBag<double>();
        var jobLatencies = new ConcurrentBag<double>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var clock = Stopwatch.StartNew();

        async Task Client(int client)
        {
            var random = new Random(client);
            while (Interlocked.Decrement(ref remaining) >= 0)
            {
                string id;
                var submitted = Stopwatch.StartNew();
                while (true)
                {
                    var started = Stopwatch.GetTimestamp();
                    var response = await http.PostAsync("/api/jobs", Requests.Json(new { prompt = $"{tag} {client}", steps = 1, width = 256, height = 256 }), deadline.Token);
                    submitLatencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        var job = await response.ReadJson();
                        id = (string)job["id"]!;
                        int position = (int?)job["queue_position"] ?? 0;
                        InterlockedMax(ref maxDepth, position);
                        Interlocked.Increment(ref accepted);
                        break;
                    }
                    if (response.StatusCode == HttpStatusCode.TooManyRequests && response.Headers.RetryAfter?.Delta is not null)
                    {
                        Interlocked.Increment(ref refused);
                        // Retry-After is whole seconds; a test client retries sooner, with jitter, to keep the run short.
                        await Task.Delay(random.Next(5, 25), deadline.Token);
                        continue;
                    }
                    Interlocked.Increment(ref unexpected);
                    return;
                }
                while (true)
                {
                    var status = await http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}", deadline.Token);
                    string state = (string)status!["state"]!;
                    if (state == "succeeded") { Interlocked.Increment(ref succeeded); break; }
                    if (state is not ("queued" or "running")) { Interlocked.Increment(ref unexpected); break; }
                    await Task.Delay(10, deadline.Token);
                }
                jobLatencies.Add(submitted.Elapsed.TotalMilliseconds);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(() => Client(c))));
        return new Round(jobs, accepted, refused, unexpected, succeeded, maxDepth, clock.Elapsed,
            Percentile(submitLatencies, 0.5), Percentile(submitLatencies, 0.99), Percentile(jobLatencies, 0.5), Percentile(jobLatencies, 0.99));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }

    private static Resources Snapshot()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        int handles = Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : process.HandleCount;
        return new Resources(GC.GetTotalMemory(true) / 1048576.0, process.WorkingSet64 / 1048576.0, handles, process.Threads.Count);
    }

    private void WriteFigures(Round round, Resources before, Resources after)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "load-test-figures.txt");
        File.WriteAllText(path,
            $"{DateTime.UtcNow:u} {Environment.ProcessorCount} cores\n{round}\n" +
            $"managed heap {before.HeapMiB:0.0} -> {after.HeapMiB:0.0} MiB; working set {before.WorkingSetMiB:0.0} -> {after.WorkingSetMiB:0.0} MiB; " +
            $"handles {before.Handles} -> {after.Handles}; threads {before.Threads} -> {after.Threads}\n");
        output.WriteLine($"figures written to {path}");
    }

    private sealed record Round(int Jobs, int Accepted, int Refused, int Unexpected, int Succeeded, int MaxQueueDepth, TimeSpan Elapsed,
        double SubmitP50Ms, double SubmitP99Ms, double JobP50Ms, double JobP99Ms)
    {
        public override string ToString() =>
            $"{Jobs} jobs in {Elapsed.TotalSeconds:0.00} s ({Jobs / Elapsed.TotalSeconds:0} jobs/s): {Accepted} accepted (202), {Refused} refused (429), " +
            $"{Unexpected} other; {Succeeded} succeeded; deepest queue position {MaxQueueDepth}; " +
            $"submit p50 {SubmitP50Ms:0.0} ms p99 {SubmitP99Ms:0.0} ms; submit-to-done p50 {JobP50Ms:0} ms p99 {JobP99Ms:0} ms";
    }

    private sealed record Resources(double HeapMiB, double WorkingSetMiB, int Handles, int Threads);
}
