using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>The shared store's queue on a real PostgreSQL: claims, leases, fencing and fleet-wide admission.</summary>
public sealed class PostgresStoreTests
{
    private static JobRecord Job(string prompt, int width = 512, int height = 512) => new()
    {
        Id = Guid.CreateVersion7().ToString("N"),
        Request = new GenerationRequest { Prompt = prompt, Width = width, Height = height, Steps = 4, Seed = 7 },
        Source = JobSource.Native,
        CreatedAt = DateTimeOffset.UtcNow,
    };

    [SkippableFact]
    public async Task A_worker_whose_lease_expired_cannot_finish_the_job_the_next_claim_took()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var store = PostgresJobStore.Open(db.ConnectionString);
        var job = await store.InsertAsync(Job("fenced"));

        var first = await store.ClaimAsync("node-a/0", _ => true, leaseSeconds: 2, DateTimeOffset.UtcNow);
        Assert.NotNull(first);
        Assert.Equal(1, first.Attempt);
        // While the lease holds, nobody else gets the job.
        Assert.Null(await store.ClaimAsync("node-b/0", _ => true, leaseSeconds: 2, DateTimeOffset.UtcNow));
        Assert.False(await store.RenewAsync(job.Id, 1, leaseSeconds: 1)); // renewed for 1 s; no cancel asked

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var second = await store.ClaimAsync("node-b/0", _ => true, leaseSeconds: 30, DateTimeOffset.UtcNow);
        Assert.NotNull(second);
        Assert.Equal(job.Id, second.Id);
        Assert.Equal(2, second.Attempt);

        // The first worker comes back: its renewal says the lease is gone, and its completion is refused.
        Assert.Null(await store.RenewAsync(job.Id, 1, leaseSeconds: 30));
        Assert.False(await store.TryCompleteAsync(job.Id, 1, DateTimeOffset.UtcNow, "stale", 1, [new JobImage(0, 7, 512, 512, "stale.png")]));
        Assert.False(await store.TryEndAsync(job.Id, 1, JobState.Failed, DateTimeOffset.UtcNow, new JobError("internal", "denoise", "stale")));
        Assert.False(await store.TryRequeueAsync(job.Id, 1));
        Assert.True(await store.TryCompleteAsync(job.Id, 2, DateTimeOffset.UtcNow, "plan", 1, [new JobImage(0, 7, 512, 512, $"{job.Id}-0.png")]));

        var final = await store.GetAsync(job.Id);
        Assert.Equal(JobState.Succeeded, final!.State);
        Assert.Equal(2, final.Attempt);
        Assert.Equal($"{job.Id}-0.png", Assert.Single(final.Images).FileName);
    }

    [SkippableFact]
    public async Task Concurrent_workers_on_two_connections_claim_every_job_exactly_once()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var nodeA = PostgresJobStore.Open(db.ConnectionString);
        await using var nodeB = PostgresJobStore.Open(db.ConnectionString);
        const int jobs = 60;
        for (int i = 0; i < jobs; i++) await nodeA.InsertAsync(Job($"job {i}"));

        var claimed = new System.Collections.Concurrent.ConcurrentBag<string>();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var store = w % 2 == 0 ? nodeA : nodeB;
            while (await store.ClaimAsync($"w{w}", _ => true, 30, DateTimeOffset.UtcNow) is { } job)
            {
                claimed.Add(job.Id);
                Assert.True(await store.TryCompleteAsync(job.Id, job.Attempt, DateTimeOffset.UtcNow, "plan", 0.1, []));
            }
        })).ToArray();
        await Task.WhenAll(workers);

        Assert.Equal(jobs, claimed.Count);
        Assert.Equal(jobs, claimed.Distinct().Count());
        Assert.Equal(jobs, (int)await db.ScalarAsync<long>("SELECT count(*) FROM zimage_jobs WHERE state = 'succeeded' AND attempt = 1"));
    }

    [SkippableFact]
    public async Task A_worker_claims_only_jobs_its_card_fits_oldest_first()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var store = PostgresJobStore.Open(db.ConnectionString);
        var big = await store.InsertAsync(Job("2048 square", 2048, 2048));
        var small = await store.InsertAsync(Job("1024 square", 1024, 1024));

        // A worker whose plan fits 1024² passes over the older 2048² job; one that fits 2048² takes it. The store
        // asks the worker about each candidate, oldest first.
        var asked = new List<int>();
        var eight = await store.ClaimAsync("small/0", j => { asked.Add(j.Request.Width); return j.Request.Width <= 1024; }, 30, DateTimeOffset.UtcNow);
        Assert.Equal(small.Id, eight?.Id);
        Assert.Equal([2048, 1024], asked);
        Assert.Null(await store.ClaimAsync("small/0", j => j.Request.Width <= 1024, 30, DateTimeOffset.UtcNow));
        var large = await store.ClaimAsync("large/0", j => j.Request.Width <= 2048, 30, DateTimeOffset.UtcNow);
        Assert.Equal(big.Id, large?.Id);
    }

    [SkippableFact]
    public async Task Admission_counts_the_whole_fleets_queue_under_one_lock()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var nodeA = PostgresJobStore.Open(db.ConnectionString);
        await using var nodeB = PostgresJobStore.Open(db.ConnectionString);
        const int capacity = 5;
        var attempts = Enumerable.Range(0, 24).Select(i => (i % 2 == 0 ? nodeA : nodeB).TryAdmitAsync(Job($"admit {i}"), capacity)).ToArray();
        var results = await Task.WhenAll(attempts);

        var admitted = results.Where(r => r is not null).Select(r => r!.Value).ToList();
        Assert.Equal(capacity, admitted.Count);
        Assert.Equal(Enumerable.Range(1, capacity), admitted.Select(a => a.Position).Order());
        Assert.Equal(capacity, await nodeB.QueuedCountAsync());
        Assert.Equal(capacity, await nodeA.PositionOfAsync(admitted.MaxBy(a => a.Job.Sequence).Job.Id));
    }

    [SkippableFact]
    public async Task A_cancel_asked_of_a_job_whose_worker_died_ends_it_cancelled_not_rerun()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var store = PostgresJobStore.Open(db.ConnectionString);
        var job = await store.InsertAsync(Job("cancel a dead worker's job"));
        Assert.NotNull(await store.ClaimAsync("dead/0", _ => true, leaseSeconds: 1, DateTimeOffset.UtcNow));
        Assert.NotNull(await store.RequestCancelAsync(job.Id));

        await Task.Delay(TimeSpan.FromSeconds(1.3));
        Assert.Null(await store.ClaimAsync("alive/0", _ => true, 30, DateTimeOffset.UtcNow));
        Assert.Equal([job.Id], await store.ReapCancelledAsync());
        Assert.Equal(JobState.Cancelled, (await store.GetAsync(job.Id))!.State);
    }
}
