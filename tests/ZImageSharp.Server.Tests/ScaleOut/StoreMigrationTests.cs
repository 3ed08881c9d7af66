using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Store;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary><c>zimage store migrate</c>: a single server's SQLite history moves into PostgreSQL whole, in order, once.</summary>
public sealed class StoreMigrationTests
{
    [SkippableFact]
    public async Task A_sqlite_history_moves_to_postgres_in_order_and_a_second_run_copies_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        string folder = TempFolder.Create();
        string history = Path.Combine(folder, "history.db");
        var t0 = new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);
        JobRecord Job(string prompt, int minutes) => new()
        {
            Id = Guid.CreateVersion7().ToString("N"),
            Request = new GenerationRequest { Prompt = prompt, Width = 512, Height = 768, Steps = 8, Seed = 42 },
            Source = JobSource.OpenAi,
            CreatedAt = t0.AddMinutes(minutes),
        };
        var ids = new List<string>();
        await using (var sqlite = JobStore.Open(history))
        {
            var done = await sqlite.InsertAsync(Job("done", 0));
            await sqlite.TryStartAsync(done.Id, 1, t0.AddMinutes(1));
            await sqlite.TryCompleteAsync(done.Id, 1, t0.AddMinutes(2), "resident bf16", 12.5, [new JobImage(0, 42, 512, 768, $"{done.Id}-0.png")]);
            var failed = await sqlite.InsertAsync(Job("failed", 3));
            await sqlite.TryStartAsync(failed.Id, 1, t0.AddMinutes(3));
            await sqlite.TryEndAsync(failed.Id, 1, JobState.Failed, t0.AddMinutes(4), new JobError("out_of_memory", "decode", "Decode ran out of memory."));
            var queued = await sqlite.InsertAsync(Job("queued", 5));
            var running = await sqlite.InsertAsync(Job("running", 6));
            await sqlite.TryStartAsync(running.Id, 1, t0.AddMinutes(7));
            ids.AddRange([done.Id, failed.Id, queued.Id, running.Id]);
        }

        var first = await StoreMigration.FromSqliteAsync(history, db.Uri);
        Assert.Equal(new StoreMigrationResult(Copied: 4, AlreadyThere: 0, Requeued: 2), first);
        Assert.Equal(new StoreMigrationResult(Copied: 0, AlreadyThere: 4, Requeued: 2), await StoreMigration.FromSqliteAsync(history, db.Uri));

        await using var store = PostgresJobStore.Open(db.ConnectionString);
        var moved = (await store.ListAsync(10, null, null)).Reverse().ToList();
        Assert.Equal(ids, moved.Select(j => j.Id));
        Assert.Equal([JobState.Succeeded, JobState.Failed, JobState.Queued, JobState.Queued], moved.Select(j => j.State));
        var succeeded = moved[0];
        Assert.Equal(t0, succeeded.CreatedAt);
        Assert.Equal(t0.AddMinutes(2), succeeded.FinishedAt);
        Assert.Equal(12.5, succeeded.TotalSeconds);
        Assert.Equal("resident bf16", succeeded.PlanSummary);
        Assert.Equal(JobSource.OpenAi, succeeded.Source);
        Assert.Equal((512, 768, 42L), (succeeded.Request.Width, succeeded.Request.Height, succeeded.Request.Seed));
        Assert.Equal(new JobImage(0, 42, 512, 768, $"{ids[0]}-0.png"), Assert.Single(succeeded.Images));
        Assert.Equal(new JobError("out_of_memory", "decode", "Decode ran out of memory."), moved[1].Error);
        Assert.Null(moved[3].StartedAt);

        // A fleet worker then runs what the single server left unfinished.
        await using var worker = await InProcessNode.StartAsync(db, "after-migration", workers: 1, Path.Combine(folder, "images"));
        Assert.Equal("succeeded", (string)(await worker.Http.WaitForEndAsync(ids[2], TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal("succeeded", (string)(await worker.Http.WaitForEndAsync(ids[3], TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal(1, worker.Generator.Completed("queued"));
        Assert.Equal(1, worker.Generator.Completed("running"));
        TempFolder.Delete(folder);
    }

    [Fact]
    public async Task A_missing_history_or_a_target_that_is_not_postgres_is_refused_with_what_to_give()
    {
        var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => StoreMigration.FromSqliteAsync("/nonexistent/history.db", "postgres://x@127.0.0.1/db"));
        Assert.Contains("/nonexistent/history.db", missing.Message);
        string folder = TempFolder.Create();
        string history = Path.Combine(folder, "history.db");
        await (await Task.FromResult(JobStore.Open(history))).DisposeAsync();
        var wrong = await Assert.ThrowsAsync<FormatException>(() => StoreMigration.FromSqliteAsync(history, "mysql://root:secret@db/zimage"));
        Assert.Contains("postgres://user:password@host:5432/database", wrong.Message);
        Assert.DoesNotContain("secret", wrong.Message);
        TempFolder.Delete(folder);
    }
}
