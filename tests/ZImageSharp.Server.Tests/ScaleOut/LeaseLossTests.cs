using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>A live worker whose lease another claim took (a long pause, a partition that healed) stops its run and
/// writes nothing; the job completes once, under the newest attempt.</summary>
public sealed class LeaseLossTests
{
    [SkippableFact]
    public async Task A_worker_that_lost_its_lease_stops_without_writing_and_the_job_completes_once_under_a_newer_attempt()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        await using var node = await InProcessNode.StartAsync(db, "slow", workers: 1, images);
        await FleetTests.WaitForFleetAsync(node.Http, workers: 1);
        node.Generator.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        string id = (string)(await node.Http.SubmitAsync(new { prompt = "paused", width = 512, height = 512, steps = 4 }))["id"]!;
        // Held after its first denoising step.
        while ((await node.Http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}"))!["progress"] is not { } progress
               || (string?)progress["phase"] != "denoise" || (int)progress["step"]! < 1)
            await Task.Delay(20);

        // What a claim by another worker does once it finds the lease expired: a newer attempt, a short lease of its
        // own (that worker then "dies", so its lease runs out too).
        node.Generator.Hold = null;
        Assert.Equal(1, (int)await db.ScalarAsync<long>($"""
            WITH stolen AS (UPDATE zimage_jobs SET attempt = attempt + 1, worker = 'ghost/0', lease_expires_at = now() + interval '1 second'
                            WHERE id = '{id}' AND state = 'running' AND attempt = 1 RETURNING 1)
            SELECT count(*) FROM stolen
            """));

        // The heartbeat finds the lease gone and stops the run; the job then comes back to this worker, attempt 3.
        var final = await node.Http.WaitForEndAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal("succeeded", (string)final["state"]!);
        Assert.Equal(3, (int)final["attempt"]!);
        Assert.Equal(1, node.Generator.Cancelled);
        Assert.Equal(2, node.Generator.Started("paused"));
        Assert.Equal(1, node.Generator.Completed("paused"));
        Assert.Equal(1, (int)await db.ScalarAsync<long>($"SELECT count(*) FROM zimage_images WHERE job_id = '{id}'"));
        Assert.Equal(["slow/0"], [await db.ScalarAsync<string>($"SELECT worker FROM zimage_jobs WHERE id = '{id}'")]);

        string metrics = await node.Http.GetStringAsync("/metrics");
        Assert.Contains("zimage_worker_jobs_total{worker=\"slow/0\",outcome=\"lease_lost\"} 1", metrics);
        Assert.Contains("zimage_worker_jobs_total{worker=\"slow/0\",outcome=\"succeeded\"} 1", metrics);
        TempFolder.Delete(images);
    }

    [SkippableFact]
    public async Task A_run_that_finishes_after_its_lease_was_taken_is_fenced_out_and_its_watchers_wait_for_the_real_end()
    {
        await using var db = await TestDatabase.CreateAsync();
        string images = TempFolder.Create();
        // A long lease: the heartbeat (every 10 s) does not notice the theft before the run finishes.
        await using var node = await InProcessNode.StartAsync(db, "late", workers: 1, images, leaseSeconds: 30);
        await FleetTests.WaitForFleetAsync(node.Http, workers: 1);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        node.Generator.Hold = hold;

        string id = (string)(await node.Http.SubmitAsync(new { prompt = "late", width = 512, height = 512, steps = 4 }))["id"]!;
        while ((await node.Http.GetFromJsonAsync<JsonNode>($"/api/jobs/{id}"))!["progress"] is not { } progress
               || (string?)progress["phase"] != "denoise" || (int)progress["step"]! < 1)
            await Task.Delay(20);
        var done = WatchForDoneAsync(node.Http, id);

        await db.ScalarAsync<long>($"""
            WITH stolen AS (UPDATE zimage_jobs SET attempt = attempt + 1, worker = 'ghost/0', lease_expires_at = now() + interval '1 second'
                            WHERE id = '{id}' AND state = 'running' AND attempt = 1 RETURNING 1)
            SELECT count(*) FROM stolen
            """);
        node.Generator.Hold = null;
        hold.SetResult(); // the first run now finishes: its completion presents attempt 1, and is refused

        var final = await done;
        Assert.Equal("succeeded", (string)final["state"]!);
        Assert.Equal(3, (int)final["attempt"]!);
        Assert.Equal(2, node.Generator.Completed("late")); // the engine finished twice; history took one
        Assert.Equal(1, (int)await db.ScalarAsync<long>($"SELECT count(*) FROM zimage_images WHERE job_id = '{id}'"));
        string metrics = await node.Http.GetStringAsync("/metrics");
        Assert.Contains("zimage_worker_jobs_total{worker=\"late/0\",outcome=\"lease_lost\"} 1", metrics);
        Assert.Contains("zimage_worker_jobs_total{worker=\"late/0\",outcome=\"succeeded\"} 1", metrics);
        Assert.Contains("zimage_jobs_total{outcome=\"succeeded\"} 1", metrics);
        TempFolder.Delete(images);
    }

    /// <summary>The data of the stream's first "done" event.</summary>
    private static async Task<JsonNode> WatchForDoneAsync(HttpClient http, string id)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = await http.GetStreamAsync($"/api/jobs/{id}/events", deadline.Token);
        using var reader = new StreamReader(stream);
        string? name = null;
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            if (name == "done" && line.StartsWith("data: ", StringComparison.Ordinal)) return JsonNode.Parse(line[6..])!;
        }
        throw new InvalidDataException("The stream ended without 'done'.");
    }
}
