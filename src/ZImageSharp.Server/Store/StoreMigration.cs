using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Store;

/// <summary>What a history migration did.</summary>
public sealed record StoreMigrationResult(int Copied, int AlreadyThere, int Requeued);

/// <summary>Copies a SQLite history (history.db) into a PostgreSQL store (<c>zimage store migrate</c>): every job with
/// its id, state, times, attempt, error and image rows, oldest first so the order of history is kept. Jobs the SQLite
/// server left queued or running arrive queued, as its own restart would have re-queued them. A job already in the
/// target is left alone, so the command can run again after an interruption. Image files are not moved: point
/// <c>ImagesDirectory</c> at the old images/ folder, or copy it to the shared one.</summary>
public static class StoreMigration
{
    private const int Page = 500;

    public static async Task<StoreMigrationResult> FromSqliteAsync(string sqlitePath, string postgres, IProgress<int>? progress = null)
    {
        if (!File.Exists(sqlitePath))
            throw new FileNotFoundException($"There is no SQLite history at {sqlitePath} (the server's is history.db in its data folder).", sqlitePath);
        if (!StoreLocation.IsPostgres(postgres))
            throw new FormatException($"The target must be a PostgreSQL connection (postgres://user:password@host:5432/database), not '{StoreLocation.Redact(postgres)}'.");
        await using var source = JobStore.Open(sqlitePath);
        await using var target = PostgresJobStore.Open(StoreLocation.ToConnectionString(postgres));

        // Newest first is how the SQLite store pages; gathered, then written oldest first.
        var jobs = new List<JobRecord>();
        long? before = null;
        while (true)
        {
            var page = await source.ListAsync(Page, before, null).ConfigureAwait(false);
            jobs.AddRange(page);
            if (page.Count < Page) break;
            before = page[^1].Sequence;
        }
        int copied = 0, there = 0, requeued = 0;
        foreach (var job in Enumerable.Reverse(jobs))
        {
            var record = job;
            if (!job.State.IsTerminal())
            {
                record = job with { State = JobState.Queued, StartedAt = null };
                requeued++;
            }
            if (await target.TryImportAsync(record).ConfigureAwait(false)) copied++;
            else there++;
            progress?.Report(copied + there);
        }
        return new StoreMigrationResult(copied, there, requeued);
    }
}
