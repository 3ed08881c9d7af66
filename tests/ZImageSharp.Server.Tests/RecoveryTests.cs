using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>Queued and running jobs survive a crash and a shutdown: re-queued, never lost, never finished twice.</summary>
public sealed class RecoveryTests : IDisposable
{
    private readonly string _folder = TempFolder.Create();

    public void Dispose() => TempFolder.Delete(_folder);

    [Fact]
    public async Task After_a_crash_running_and_queued_jobs_run_again_once_and_finished_ones_are_untouched()
    {
        // History as a crashed server left it: one job mid-run, two waiting, one done.
        string running, queued1, queued2, finished;
        await using (var store = JobStore.Open(Path.Combine(_folder, "history.db")))
        {
            finished = await Insert(store, "finished before the crash");
            Assert.True(await store.TryStartAsync(finished, 1, DateTimeOffset.UtcNow));
            Assert.True(await store.TryCompleteAsync(finished, 1, DateTimeOffset.UtcNow, "plan", 1.0, []));
            running = await Insert(store, "running at the crash");
            Assert.True(await store.TryStartAsync(running, 1, DateTimeOffset.UtcNow));
            queued1 = await Insert(store, "queued 1 at the crash");
            queued2 = await Insert(store, "queued 2 at the crash");
        }

        await using var server = new ServerFactory(_folder);
        var client = server.CreateClient();
        foreach (string id in new[] { running, queued1, queued2 })
        {
            var done = await client.WaitForEndAsync(id);
            Assert.Equal("succeeded", (string)done["state"]!);
            Assert.Single(done["images"]!.AsArray());
        }
        Assert.Equal(2, (int)(await client.GetFromJsonAsync<JsonNode>($"/api/jobs/{running}"))!["attempt"]!);
        Assert.Equal(1, (int)(await client.GetFromJsonAsync<JsonNode>($"/api/jobs/{queued1}"))!["attempt"]!);
        foreach (string prompt in new[] { "running at the crash", "queued 1 at the crash", "queued 2 at the crash" })
            Assert.Equal(1, server.Generator.Completed(prompt));
        Assert.Equal(0, server.Generator.Started("finished before the crash"));
        Assert.Equal(3, server.Generator.TotalStarted);
        var history = await client.GetFromJsonAsync<JsonNode>("/api/jobs");
        Assert.Equal(4, history!["jobs"]!.AsArray().Count);
        Assert.Contains(server.Logs.Lines, l => l.Message.Contains("Recovered 3 unfinished job(s)"));
    }

    [Fact]
    public async Task Shutdown_requeues_a_job_that_cannot_finish_in_time_and_the_restart_runs_everything_once()
    {
        string running;
        var waiting = new List<string>();
        var first = new ServerFactory(_folder);
        first.Generator.Hold = new TaskCompletionSource(); // the running job can only end by cancellation
        var client = first.CreateClient();
        running = (string)(await client.SubmitAsync(new { prompt = "interrupted", steps = 4 }))["id"]!;
        await client.WaitForStateAsync(running, "running");
        for (int i = 0; i < 3; i++)
            waiting.Add((string)(await client.SubmitAsync(new { prompt = $"waiting {i}", steps = 2 }))["id"]!);
        await first.DisposeAsync(); // graceful stop: 1 s of grace, then cancel and re-queue

        Assert.Equal(1, first.Generator.Cancelled);
        Assert.Equal(0, first.Generator.TotalCompleted);
        Assert.Contains(first.Logs.Lines, l => l.Message.Contains($"Job {running} interrupted by shutdown in phase denoise; re-queued"));
        await using (var store = JobStore.Open(Path.Combine(_folder, "history.db")))
        {
            var record = await store.GetAsync(running);
            Assert.Equal(JobState.Queued, record!.State);
            Assert.Equal(1, record.Attempt);
            foreach (string id in waiting) Assert.Equal(JobState.Queued, (await store.GetAsync(id))!.State);
        }

        await using var second = new ServerFactory(_folder);
        client = second.CreateClient();
        foreach (string id in waiting.Prepend(running))
            Assert.Equal("succeeded", (string)(await client.WaitForEndAsync(id))["state"]!);
        Assert.Equal(2, (int)(await client.GetFromJsonAsync<JsonNode>($"/api/jobs/{running}"))!["attempt"]!);
        Assert.Equal(1, second.Generator.Completed("interrupted"));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(1, second.Generator.Completed($"waiting {i}")));
        Assert.Equal(4, second.Generator.TotalCompleted);
    }

    [Fact]
    public async Task Shutdown_lets_a_running_job_finish_within_the_grace_period()
    {
        var server = new ServerFactory(_folder, o => o.ShutdownGraceSeconds = 30);
        server.Generator.StepDelay = TimeSpan.FromMilliseconds(40);
        var client = server.CreateClient();
        string id = (string)(await client.SubmitAsync(new { prompt = "finishes during shutdown", steps = 8 }))["id"]!;
        await client.WaitForStateAsync(id, "running");
        await server.DisposeAsync();

        Assert.Equal(1, server.Generator.Completed("finishes during shutdown"));
        await using var store = JobStore.Open(Path.Combine(_folder, "history.db"));
        var record = await store.GetAsync(id);
        Assert.Equal(JobState.Succeeded, record!.State);
        Assert.Single(record.Images);
        Assert.True(File.Exists(Path.Combine(_folder, "images", record.Images[0].FileName)));
    }

    private static async Task<string> Insert(JobStore store, string prompt)
    {
        var job = await store.InsertAsync(new JobRecord
        {
            Id = Guid.CreateVersion7().ToString("N"),
            Request = new GenerationRequest { Prompt = prompt, Steps = 2, Width = 256, Height = 256, Seed = 5 },
            Source = JobSource.Native,
            CreatedAt = DateTimeOffset.UtcNow,
        });
        return job.Id;
    }
}
