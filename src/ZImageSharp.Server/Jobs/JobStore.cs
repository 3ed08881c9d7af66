using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>Jobs and their images in SQLite (history.db in the data folder). Every state change is a conditional
/// UPDATE on the state it leaves, so a job finishes at most once even if a stale worker or a restart races it.
/// WAL with synchronous=NORMAL keeps committed rows through a process crash (not through power loss).</summary>
internal sealed class JobStore : IJobStore
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;
        PRAGMA foreign_keys = ON;
        CREATE TABLE IF NOT EXISTS jobs (
            seq           INTEGER PRIMARY KEY AUTOINCREMENT,
            id            TEXT NOT NULL UNIQUE,
            state         TEXT NOT NULL,
            source        TEXT NOT NULL,
            request       TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            started_at    TEXT,
            finished_at   TEXT,
            attempt       INTEGER NOT NULL DEFAULT 0,
            plan_summary  TEXT,
            total_seconds REAL,
            error_code    TEXT,
            error_phase   TEXT,
            error_message TEXT,
            weights       TEXT);
        CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
        CREATE TABLE IF NOT EXISTS images (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            idx    INTEGER NOT NULL,
            seed   INTEGER NOT NULL,
            width  INTEGER NOT NULL,
            height INTEGER NOT NULL,
            file   TEXT NOT NULL,
            PRIMARY KEY (job_id, idx));
        """;

    private const string SelectJob = """
        SELECT j.seq, j.id, j.state, j.source, j.request, j.created_at, j.started_at, j.finished_at, j.attempt,
               j.plan_summary, j.total_seconds, j.error_code, j.error_phase, j.error_message, j.weights,
               i.idx, i.seed, i.width, i.height, i.file
        FROM jobs j LEFT JOIN images i ON i.job_id = j.id
        """;

    internal static readonly JsonSerializerOptions RequestJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly SqliteConnection _connection;
    // One connection, one operation at a time: SQLite serialises writers anyway, and this avoids SQLITE_BUSY.
    private readonly SemaphoreSlim _gate = new(1, 1);

    private JobStore(SqliteConnection connection) => _connection = connection;

    public static JobStore Open(string databasePath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(databasePath)!);
        // Pooling off: the file is released on dispose, so a restart (or a test) can reopen or delete it at once.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = Schema;
        command.ExecuteNonQuery();
        AddColumnIfMissing(connection, "jobs", "weights", "TEXT");
        return new JobStore(connection);
    }

    // A history.db written before a column existed gets it on open; SQLite has no ADD COLUMN IF NOT EXISTS.
    private static void AddColumnIfMissing(SqliteConnection connection, string table, string column, string type)
    {
        using var probe = connection.CreateCommand();
        probe.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
        if (Convert.ToInt64(probe.ExecuteScalar(), CultureInfo.InvariantCulture) > 0) return;
        using var alter = connection.CreateCommand();
        alter.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {type}";
        alter.ExecuteNonQuery();
    }

    public Task<JobRecord> InsertAsync(JobRecord job, CancellationToken cancellationToken = default) => WithGate(() =>
    {
        using var command = _connection.CreateCommand();
        command.CommandText = """
            INSERT INTO jobs (id, state, source, request, created_at, attempt)
            VALUES ($id, $state, $source, $request, $created, $attempt)
            RETURNING seq
            """;
        command.Parameters.AddWithValue("$id", job.Id);
        command.Parameters.AddWithValue("$state", job.State.ToWire());
        command.Parameters.AddWithValue("$source", job.Source.ToString());
        command.Parameters.AddWithValue("$request", JsonSerializer.Serialize(job.Request, RequestJson));
        command.Parameters.AddWithValue("$created", Format(job.CreatedAt));
        command.Parameters.AddWithValue("$attempt", job.Attempt);
        long sequence = (long)command.ExecuteScalar()!;
        return job with { Sequence = sequence };
    }, cancellationToken);

    /// <summary>Queued → running with a new attempt number; false when the job is no longer queued.</summary>
    public Task<bool> TryStartAsync(string id, int attempt, DateTimeOffset startedAt) => WithGate(() =>
        Execute("UPDATE jobs SET state = 'running', attempt = $attempt, started_at = $at WHERE id = $id AND state = 'queued'",
            ("$id", id), ("$attempt", attempt), ("$at", Format(startedAt))) == 1);

    /// <summary>Running (this attempt) → succeeded, with its images, in one transaction.</summary>
    public Task<bool> TryCompleteAsync(string id, int attempt, DateTimeOffset finishedAt, string planSummary,
        double totalSeconds, IReadOnlyList<JobImage> images, string? weights = null) => WithGate(() =>
    {
        using var transaction = _connection.BeginTransaction();
        int changed = Execute("""
            UPDATE jobs SET state = 'succeeded', finished_at = $at, plan_summary = $plan, total_seconds = $total, weights = $weights
            WHERE id = $id AND state = 'running' AND attempt = $attempt
            """, ("$id", id), ("$attempt", attempt), ("$at", Format(finishedAt)), ("$plan", planSummary), ("$total", totalSeconds),
            ("$weights", weights));
        if (changed != 1) return false;
        foreach (var image in images)
            Execute("INSERT OR REPLACE INTO images (job_id, idx, seed, width, height, file) VALUES ($id, $idx, $seed, $w, $h, $file)",
                ("$id", id), ("$idx", image.Index), ("$seed", image.Seed), ("$w", image.Width), ("$h", image.Height), ("$file", image.FileName));
        transaction.Commit();
        return true;
    });

    /// <summary>Running (this attempt) → failed or cancelled.</summary>
    public Task<bool> TryEndAsync(string id, int attempt, JobState state, DateTimeOffset finishedAt, JobError? error) => WithGate(() =>
        Execute("""
            UPDATE jobs SET state = $state, finished_at = $at, error_code = $code, error_phase = $phase, error_message = $message
            WHERE id = $id AND state = 'running' AND attempt = $attempt
            """, ("$id", id), ("$attempt", attempt), ("$state", state.ToWire()), ("$at", Format(finishedAt)),
            ("$code", error?.Code), ("$phase", error?.Phase), ("$message", error?.Message)) == 1);

    /// <summary>Queued → cancelled (a queued job that never ran).</summary>
    public Task<bool> TryCancelQueuedAsync(string id, DateTimeOffset finishedAt) => WithGate(() =>
        Execute("UPDATE jobs SET state = 'cancelled', finished_at = $at WHERE id = $id AND state = 'queued'",
            ("$id", id), ("$at", Format(finishedAt))) == 1);

    /// <summary>Running (this attempt) → queued: shutdown interrupted it, the next start runs it again.</summary>
    public Task<bool> TryRequeueAsync(string id, int attempt) => WithGate(() =>
        Execute("UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = $id AND state = 'running' AND attempt = $attempt",
            ("$id", id), ("$attempt", attempt)) == 1);

    /// <summary>At startup: jobs left running by a crash go back to queued; returns every queued job, oldest first.</summary>
    public Task<IReadOnlyList<JobRecord>> RecoverUnfinishedAsync() => WithGate(() =>
    {
        Execute("UPDATE jobs SET state = 'queued', started_at = NULL WHERE state = 'running'");
        return (IReadOnlyList<JobRecord>)Query(SelectJob + " WHERE j.state = 'queued' ORDER BY j.seq, i.idx");
    });

    public Task<JobRecord?> GetAsync(string id) => WithGate(() =>
        Query(SelectJob + " WHERE j.id = $id ORDER BY i.idx", ("$id", id)).FirstOrDefault());

    /// <summary>Newest first; <paramref name="before"/> is the sequence cursor of the previous page's last job.</summary>
    public Task<IReadOnlyList<JobRecord>> ListAsync(int limit, long? before, JobState? state) => WithGate(() =>
        (IReadOnlyList<JobRecord>)Query(SelectJob + """
             WHERE j.seq IN (SELECT seq FROM jobs WHERE ($before IS NULL OR seq < $before) AND ($state IS NULL OR state = $state)
                             ORDER BY seq DESC LIMIT $limit)
             ORDER BY j.seq DESC, i.idx
            """, ("$before", before), ("$state", state?.ToWire()), ("$limit", limit)));

    /// <summary>Deletes a finished job and returns it (so its files can go too); null when absent.</summary>
    public Task<JobRecord?> DeleteFinishedAsync(string id) => WithGate(() =>
    {
        var job = Query(SelectJob + " WHERE j.id = $id ORDER BY i.idx", ("$id", id)).FirstOrDefault();
        if (job is null || !job.State.IsTerminal()) return job;
        Execute("DELETE FROM jobs WHERE id = $id", ("$id", id));
        return job;
    });

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try { await _connection.DisposeAsync().ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    /// <summary>A trivial query, for the readiness check.</summary>
    public Task PingAsync(CancellationToken cancellationToken) => WithGate(() => Execute("SELECT 1"), cancellationToken);

    private async Task<T> WithGate<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try { return work(); }
        finally { _gate.Release(); }
    }

    private int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private List<JobRecord> Query(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        using var reader = command.ExecuteReader();
        var jobs = new List<JobRecord>();
        var images = new List<JobImage>();
        JobRecord? current = null;
        while (reader.Read())
        {
            string id = reader.GetString(1);
            if (current?.Id != id)
            {
                if (current is not null) jobs.Add(current with { Images = images.ToArray() });
                images.Clear();
                current = ReadJob(reader);
            }
            if (JobRows.Image(reader) is { } image)
                images.Add(image);
        }
        if (current is not null) jobs.Add(current with { Images = images.ToArray() });
        return jobs;
    }

    private static JobRecord ReadJob(SqliteDataReader reader) =>
        JobRows.Read(reader, (row, column) => Parse(row.GetString(column)), "history database");

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
