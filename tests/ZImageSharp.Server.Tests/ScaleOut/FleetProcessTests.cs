using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>Runs alone: three engine processes on a small machine would slow whatever ran beside them.</summary>
[CollectionDefinition(nameof(FleetProcessTests), DisableParallelization = true)]
public sealed class FleetProcessTestsCollection;

/// <summary>
/// Issue #13 over real processes: three <c>zimage serve</c> processes on loopback share one PostgreSQL database and one
/// images folder. "api" has no workers (--devices none); "w1" and "w2" run the demo engine with two workers each
/// (--devices cpu,cpu: two engines, two device threads in one process). Sixteen clients submit a hundred jobs across
/// the three nodes and every job is watched over SSE through the node without workers. w2 is killed with SIGKILL
/// while it runs jobs: their leases run out, w1 takes them, and every job ends succeeded, exactly once, none lost.
/// </summary>
[Collection(nameof(FleetProcessTests))]
public sealed partial class FleetProcessTests(ITestOutputHelper output)
{
    private const int Jobs = 100;
    private const int Clients = 16;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(150);

    [GeneratedRegex(@"Job ([0-9a-f]{32}) succeeded in")]
    private static partial Regex SucceededLine();

    [SkippableFact]
    [Trait("Category", "Load")]
    public async Task Three_processes_share_the_queue_and_a_worker_node_killed_mid_job_loses_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        string root = TempFolder.Create();
        string images = Path.Combine(root, "images");
        string[] Common(string node) =>
        [
            "--store", db.Uri, "--images-dir", images, "--node-name", node, "--data-dir", Path.Combine(root, $"data-{node}"),
            "--queue", "200", "--ZImage:Server:LeaseSeconds=3", "--ZImage:Server:ShutdownGraceSeconds=1",
        ];
        var clock = Stopwatch.StartNew();
        await using var api = ServeProcess.Start([.. Common("api"), "--devices", "none"]);
        await using var w1 = ServeProcess.Start([.. Common("w1"), "--devices", "cpu,cpu"]);
        await using var w2 = ServeProcess.Start([.. Common("w2"), "--devices", "cpu,cpu"]);
        var nodes = new[] { api, w1, w2 };
        try
        {
            await Task.WhenAll(nodes.Select(n => n.WaitReadyAsync(TimeSpan.FromSeconds(90))));
            await FleetTests.WaitForFleetAsync(api.Http, workers: 4);
            output.WriteLine($"three nodes ready in {clock.Elapsed.TotalSeconds:0.0} s");
            var system = (await api.Http.GetFromJsonAsync<JsonNode>("/api/system"))!;
            Assert.Equal(["api", "w1", "w2"], system["fleet"]!.AsArray().Select(n => (string)n!["name"]!).Order());

            using var watchers = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Jobs + 8 })
            {
                BaseAddress = api.Address,
                Timeout = Deadline,
            };
            using var deadline = new CancellationTokenSource(Deadline);

            // Sixteen clients, each submitting its share of the jobs round-robin to the three nodes, and each job
            // watched through the API node from the moment it is accepted.
            var watches = new System.Collections.Concurrent.ConcurrentBag<Task<(string Id, string First, string Final, int Progress)>>();
            var submitted = await Task.WhenAll(Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
            {
                var ids = new List<string>();
                for (int n = client; n < Jobs; n += Clients)
                {
                    var node = nodes[n % 3];
                    var response = await node.Http.PostAsync("/api/jobs",
                        Requests.Json(new { prompt = $"fleet job {n}", width = 128, height = 128, steps = 4, seed = n }), deadline.Token);
                    Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                    string id = (string)(await response.ReadJson())["id"]!;
                    ids.Add(id);
                    watches.Add(WatchAsync(watchers, id, deadline.Token));
                }
                return ids;
            })));
            var all = submitted.SelectMany(ids => ids).ToList();
            Assert.Equal(Jobs, all.Distinct().Count());

            // Kill w2 while its workers hold jobs (after some have finished, so that it is well under way).
            while (await db.ScalarAsync<long>("SELECT count(*) FROM zimage_jobs WHERE state = 'succeeded'") < 12)
                await Task.Delay(50, deadline.Token);
            List<string> orphaned = [];
            for (int tries = 0; tries < 200 && orphaned.Count == 0; tries++)
            {
                if (await db.ScalarAsync<long>("SELECT count(*) FROM zimage_jobs WHERE state = 'running' AND worker LIKE 'w2/%'") > 0)
                {
                    w2.Kill();
                    orphaned = await RunningOnAsync(db, "w2/%");
                }
                else await Task.Delay(10, deadline.Token);
            }
            Assert.True(w2.HasExited, "w2 never ran a job to be killed in");
            Assert.NotEmpty(orphaned);
            output.WriteLine($"killed w2 at {clock.Elapsed.TotalSeconds:0.0} s with {orphaned.Count} job(s) running on it");

            var results = await Task.WhenAll(watches);
            output.WriteLine($"{Jobs} jobs watched to the end at {clock.Elapsed.TotalSeconds:0.0} s");

            // Every job: succeeded once in history, its image on the shared folder, its watcher told so through a node
            // that ran none of them.
            Assert.All(results, r => Assert.Equal("succeeded", r.Final));
            // A stream opened while its job waited sees its steps, from whichever node runs it (a job that ended before
            // its stream opened has nothing left to show but the end).
            // A node killed with SIGKILL takes the events it had not sent yet with it, so jobs w2 itself finished are
            // left out here; their end still reached the watchers (above).
            var finishedOnW2 = (await FinishedOnAsync(db, "w2/%")).ToHashSet();
            var whole = results.Where(r => r.First == "queued" && !finishedOnW2.Contains(r.Id)).ToList();
            output.WriteLine($"{whole.Count} of {Jobs} streams opened while their job was queued and ran on a node that lived; " +
                             $"{finishedOnW2.Count} jobs finished on w2 before it was killed");
            Assert.True(whole.Count >= Jobs / 2, $"only {whole.Count} of {Jobs} streams opened while their job waited");
            Assert.All(whole, r => Assert.True(r.Progress > 0, $"the watcher of {r.Id} saw no progress"));
            Assert.Equal(Jobs, (int)await db.ScalarAsync<long>("SELECT count(*) FROM zimage_jobs WHERE state = 'succeeded'"));
            Assert.Equal(Jobs, (int)await db.ScalarAsync<long>("SELECT count(*) FROM zimage_images"));
            foreach (string id in all)
            {
                var job = (await api.Http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}"))!;
                Assert.Equal("succeeded", (string)job["state"]!);
                Assert.True(File.Exists(Path.Combine(images, $"{id}-0.png")), $"no image for {id}");
            }
            // The jobs w2 died in ran again elsewhere, under a newer attempt (the fencing token).
            foreach (string id in orphaned)
            {
                Assert.True(await db.ScalarAsync<int>($"SELECT attempt FROM zimage_jobs WHERE id = '{id}'") >= 2);
                Assert.StartsWith("w1/", await db.ScalarAsync<string>($"SELECT worker FROM zimage_jobs WHERE id = '{id}'"));
            }
            // No job completed twice: each succeeded line appears once across all three nodes' logs.
            var completions = nodes.SelectMany(n => SucceededLine().Matches(n.Output).Select(m => m.Groups[1].Value)).ToList();
            Assert.Equal(completions.Count, completions.Distinct().Count());
            Assert.Subset(all.ToHashSet(), completions.ToHashSet());
            Assert.DoesNotContain(orphaned, id => SucceededLine().Matches(w2.Output).Any(m => m.Groups[1].Value == id));

            // Metrics per node and per worker: w1's two workers both ran jobs; the API node's queue is the fleet's.
            string metrics = await w1.Http.GetStringAsync("/metrics");
            Assert.Matches(@"zimage_worker_jobs_total\{worker=""w1/0"",outcome=""succeeded""\} [1-9]", metrics);
            Assert.Matches(@"zimage_worker_jobs_total\{worker=""w1/1"",outcome=""succeeded""\} [1-9]", metrics);
            // The fleet's queue depth is read once a second: it reaches 0 within a few reads.
            var depthDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            string apiMetrics;
            while (!(apiMetrics = await api.Http.GetStringAsync("/metrics")).Contains("zimage_queue_depth 0") && DateTime.UtcNow < depthDeadline)
                await Task.Delay(200);
            Assert.Contains("zimage_queue_depth 0", apiMetrics);

            // The dead node leaves the fleet once its heartbeats stop for a lease.
            await FleetTests.WaitForFleetAsync(api.Http, workers: 2, TimeSpan.FromSeconds(15));

            // A cancel sent to the API node reaches the worker on w1 that runs the job.
            string slow = (string)(await api.Http.SubmitAsync(new { prompt = "slow", width = 512, height = 512, steps = 100 }))["id"]!;
            await api.Http.WaitForStateAsync(slow, "running", TimeSpan.FromSeconds(30));
            var cancel = await api.Http.PostAsync($"/api/jobs/{slow}/cancel", null);
            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
            var cancelled = await api.Http.WaitForEndAsync(slow, TimeSpan.FromSeconds(30));
            Assert.Equal("cancelled", (string)cancelled["state"]!);
            Assert.Contains($"Job {slow} cancelled in phase", w1.Output);
            output.WriteLine($"done at {clock.Elapsed.TotalSeconds:0.0} s");
        }
        catch
        {
            foreach (var (node, name) in nodes.Zip(new[] { "api", "w1", "w2" }))
                output.WriteLine($"--- {name} ---\n{string.Join('\n', node.Output.Split('\n').TakeLast(60))}");
            throw;
        }
        finally
        {
            TempFolder.Delete(root);
        }
    }

    private static Task<List<string>> RunningOnAsync(TestDatabase db, string worker) => IdsAsync(db, "running", worker);

    private static Task<List<string>> FinishedOnAsync(TestDatabase db, string worker) => IdsAsync(db, "succeeded", worker);

    private static async Task<List<string>> IdsAsync(TestDatabase db, string state, string worker)
    {
        await using var connection = new Npgsql.NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT id FROM zimage_jobs WHERE state = @s AND worker LIKE @w", connection);
        command.Parameters.AddWithValue("s", state);
        command.Parameters.AddWithValue("w", worker);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) ids.Add(reader.GetString(0));
        return ids;
    }

    private static async Task<(string Id, string First, string Final, int Progress)> WatchAsync(HttpClient http, string id, CancellationToken cancellationToken)
    {
        using var stream = await http.GetStreamAsync($"/api/jobs/{id}/events", cancellationToken);
        using var reader = new StreamReader(stream);
        string? name = null, first = null;
        int progress = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (name == "state") first ??= (string)JsonNode.Parse(line[6..])!["state"]!;
            if (name == "progress") progress++;
            if (name == "done") return (id, first ?? "done", (string)JsonNode.Parse(line[6..])!["state"]!, progress);
        }
        return (id, first ?? "none", "stream ended without 'done'", progress);
    }
}
