using System.Data.Common;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Store;

/// <summary>Jobs, images and the fleet's nodes in PostgreSQL, shared by every server process. The jobs table is also
/// the queue: a worker claims the oldest queued job its card fits with <c>FOR UPDATE SKIP LOCKED</c> (claims never
/// wait on each other), and holds it under a lease (<c>lease_expires_at</c>, on the database's clock) that its
/// heartbeats renew. A job whose lease ran out goes to the next claim. Every claim increments <c>attempt</c>, the
/// fencing token: finishing a job requires the attempt that claimed it, so a worker that lost its lease can no longer
/// finish (or fail, or re-queue) a job another worker now owns.</summary>
internal sealed class PostgresJobStore : IJobStore
{
    /// <summary>The LISTEN/NOTIFY channel every node listens on.</summary>
    public const string Channel = "zimage";

    // Any constant: admission and schema creation serialise on these across every node.
    private const long AdmissionLock = 0x5A494D47_41444D49;
    private const long SchemaLock = 0x5A494D47_53434845;

    // Each statement runs alone (its own implicit transaction), so no statement holds a table lock while it waits
    // for the next one: a node opening while another node's workers claim and heartbeat cannot deadlock with them.
    private static readonly string[] Schema =
    [
        """
        CREATE TABLE IF NOT EXISTS zimage_jobs (
            seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id               TEXT NOT NULL UNIQUE,
            state            TEXT NOT NULL,
            source           TEXT NOT NULL,
            request          TEXT NOT NULL,
            pixels           BIGINT NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL,
            started_at       TIMESTAMPTZ,
            finished_at      TIMESTAMPTZ,
            attempt          INTEGER NOT NULL DEFAULT 0,
            worker           TEXT,
            lease_expires_at TIMESTAMPTZ,
            cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
            plan_summary     TEXT,
            total_seconds    DOUBLE PRECISION,
            error_code       TEXT,
            error_phase      TEXT,
            error_message    TEXT);
        """,
        """
        CREATE INDEX IF NOT EXISTS zimage_jobs_active ON zimage_jobs (seq) WHERE state IN ('queued', 'running');
        """,
        """
        CREATE INDEX IF NOT EXISTS zimage_jobs_by_state ON zimage_jobs (state, seq);
        """,
        """
        CREATE TABLE IF NOT EXISTS zimage_images (
            job_id TEXT NOT NULL REFERENCES zimage_jobs(id) ON DELETE CASCADE,
            idx    INTEGER NOT NULL,
            seed   BIGINT NOT NULL,
            width  INTEGER NOT NULL,
            height INTEGER NOT NULL,
            file   TEXT NOT NULL,
            PRIMARY KEY (job_id, idx));
        """,
        // Added after the first release of this schema: the weight precision a finished job ran with.
        """
        ALTER TABLE zimage_jobs ADD COLUMN IF NOT EXISTS weights TEXT;
        """,
        """
        CREATE TABLE IF NOT EXISTS zimage_nodes (
            name         TEXT PRIMARY KEY,
            started_at   TIMESTAMPTZ NOT NULL,
            heartbeat_at TIMESTAMPTZ NOT NULL,
            workers      TEXT NOT NULL);
        """,
        // Added with preview hand-over: the latest preview of a running job too large for a NOTIFY payload.
        """
        CREATE TABLE IF NOT EXISTS zimage_previews (
            job_id  TEXT PRIMARY KEY REFERENCES zimage_jobs(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            step    INTEGER NOT NULL,
            png     BYTEA NOT NULL);
        """,
    ];

    private const string JobColumns = """
        j.seq, j.id, j.state, j.source, j.request, j.created_at, j.started_at, j.finished_at, j.attempt,
        j.plan_summary, j.total_seconds, j.error_code, j.error_phase, j.error_message, j.weights
        """;

    private const string SelectJob = "SELECT " + JobColumns + """
        , i.idx, i.seed, i.width, i.height, i.file
        FROM zimage_jobs j LEFT JOIN zimage_images i ON i.job_id = j.id
        """;

    private static readonly JsonSerializerOptions WorkersJson = new(JsonSerializerDefaults.Web);

    private readonly NpgsqlDataSource _source;

    private PostgresJobStore(NpgsqlDataSource source) => _source = source;

    public NpgsqlDataSource DataSource => _source;

    /// <summary>Connects and creates the tables when they are missing (one node at a time). A database whose schema is
    /// current is not touched: DDL takes table locks even when it changes nothing, and a node starting beside busy
    /// workers must not take those.</summary>
    public static PostgresJobStore Open(string connectionString)
    {
        var source = new NpgsqlDataSourceBuilder(connectionString) { Name = "zimage" }.Build();
        try
        {
            using var connection = source.OpenConnection();
            if (!SchemaIsCurrent(connection))
            {
                using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_lock({SchemaLock})", connection)) lockCommand.ExecuteNonQuery();
                try
                {
                    foreach (string statement in Schema)
                    {
                        using var command = new NpgsqlCommand(statement, connection);
                        command.ExecuteNonQuery();
                    }
                }
                finally
                {
                    using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({SchemaLock})", connection);
                    unlock.ExecuteNonQuery();
                }
            }
        }
        catch
        {
            source.Dispose();
            throw;
        }
        return new PostgresJobStore(source);
    }

    /// <summary>True when the newest table and column of <see cref="Schema"/> exist (catalog reads take no table locks).</summary>
    private static bool SchemaIsCurrent(NpgsqlConnection connection)
    {
        using var command = new NpgsqlCommand("""
            SELECT to_regclass('zimage_previews') IS NOT NULL
               AND EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'zimage_jobs' AND column_name = 'weights')
            """, connection);
        return (bool)command.ExecuteScalar()!;
    }

    public async Task<JobRecord> InsertAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await InsertAsync(connection, job, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inserts a queued job unless <paramref name="capacity"/> jobs already wait in the whole fleet; returns
    /// it with its 1-based position, or null when full. The count and the insert run under one advisory lock that
    /// every node's admission takes, so two nodes cannot both take the last slot.</summary>
    public async Task<(JobRecord Job, int Position)?> TryAdmitAsync(JobRecord job, int capacity)
    {
        await using var connection = await _source.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({AdmissionLock})", connection, transaction))
            await lockCommand.ExecuteNonQueryAsync().ConfigureAwait(false);
        long waiting;
        await using (var count = new NpgsqlCommand("SELECT count(*) FROM zimage_jobs WHERE state = 'queued'", connection, transaction))
            waiting = (long)(await count.ExecuteScalarAsync().ConfigureAwait(false))!;
        if (waiting >= capacity) return null;
        var inserted = await InsertAsync(connection, job, CancellationToken.None, transaction).ConfigureAwait(false);
        await transaction.CommitAsync().ConfigureAwait(false);
        return (inserted, (int)waiting + 1);
    }

    /// <summary>Copies a job from another history as it is (id, state, times, attempt, images); false when a job
    /// with its id is here already, so a migration can run again.</summary>
    public async Task<bool> TryImportAsync(JobRecord job)
    {
        await using var connection = await _source.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using (var exists = new NpgsqlCommand("SELECT count(*) FROM zimage_jobs WHERE id = @id", connection, transaction))
        {
            exists.Parameters.Add(P("id", job.Id));
            if ((long)(await exists.ExecuteScalarAsync().ConfigureAwait(false))! > 0) return false;
        }
        await InsertAsync(connection, job, CancellationToken.None, transaction).ConfigureAwait(false);
        await transaction.CommitAsync().ConfigureAwait(false);
        return true;
    }

    private static async Task<JobRecord> InsertAsync(NpgsqlConnection connection, JobRecord job, CancellationToken cancellationToken,
        NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand("""
            INSERT INTO zimage_jobs (id, state, source, request, pixels, created_at, attempt, started_at, finished_at,
                                     plan_summary, total_seconds, error_code, error_phase, error_message, weights)
            VALUES (@id, @state, @source, @request, @pixels, @created, @attempt, @started, @finished,
                    @plan, @total, @code, @phase, @message, @weights)
            RETURNING seq
            """, connection, transaction);
        command.Parameters.AddWithValue("id", job.Id);
        command.Parameters.AddWithValue("state", job.State.ToWire());
        command.Parameters.AddWithValue("source", job.Source.ToString());
        command.Parameters.AddWithValue("request", JsonSerializer.Serialize(job.Request, JobStore.RequestJson));
        command.Parameters.AddWithValue("pixels", WorkerSlot.PixelsOf(job.Request));
        command.Parameters.AddWithValue("created", job.CreatedAt.ToUniversalTime());
        command.Parameters.AddWithValue("attempt", job.Attempt);
        command.Parameters.Add(Typed("started", job.StartedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Typed("finished", job.FinishedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Typed("plan", job.PlanSummary, NpgsqlDbType.Text));
        command.Parameters.Add(Typed("total", job.TotalSeconds, NpgsqlDbType.Double));
        command.Parameters.Add(Typed("code", job.Error?.Code, NpgsqlDbType.Text));
        command.Parameters.Add(Typed("phase", job.Error?.Phase, NpgsqlDbType.Text));
        command.Parameters.Add(Typed("message", job.Error?.Message, NpgsqlDbType.Text));
        command.Parameters.Add(Typed("weights", job.Weights, NpgsqlDbType.Text));
        long sequence = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        foreach (var image in job.Images)
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO zimage_images (job_id, idx, seed, width, height, file) VALUES (@id, @idx, @seed, @w, @h, @file)",
                connection, transaction);
            insert.Parameters.AddWithValue("id", job.Id);
            insert.Parameters.AddWithValue("idx", image.Index);
            insert.Parameters.AddWithValue("seed", image.Seed);
            insert.Parameters.AddWithValue("w", image.Width);
            insert.Parameters.AddWithValue("h", image.Height);
            insert.Parameters.AddWithValue("file", image.FileName);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        return job with { Sequence = sequence };
    }

    // A job a worker may claim: queued, or running under a lease that ran out (its worker is gone).
    private const string Claimable = "(state = 'queued' OR (state = 'running' AND lease_expires_at < now() AND NOT cancel_requested))";
    private const int ClaimScan = 16;

    /// <summary>Claims the oldest job that <paramref name="takes"/> accepts (the worker's own plan fits it): a queued
    /// one, or a running one whose lease expired. Candidates are read without locks and planned in this process; the
    /// claim itself re-checks the row under <c>FOR UPDATE SKIP LOCKED</c>, so a job another worker claimed meanwhile is
    /// passed over, never taken twice. The claim increments the attempt (the fencing token) and starts a lease of
    /// <paramref name="leaseSeconds"/>.</summary>
    public async Task<JobRecord?> ClaimAsync(string worker, Func<JobRecord, bool> takes, int leaseSeconds, DateTimeOffset startedAt)
    {
        long after = 0;
        while (true)
        {
            var candidates = await QueryAsync($"SELECT {JobColumns} FROM zimage_jobs j WHERE j.seq > @after AND {Claimable} ORDER BY j.seq LIMIT {ClaimScan}",
                withImages: false, P("after", after)).ConfigureAwait(false);
            foreach (var candidate in candidates)
            {
                after = candidate.Sequence;
                if (!takes(candidate)) continue;
                var claimed = await QueryAsync($"""
                    WITH next AS (SELECT seq FROM zimage_jobs WHERE seq = @seq AND {Claimable} FOR UPDATE SKIP LOCKED)
                    UPDATE zimage_jobs j
                    SET state = 'running', attempt = j.attempt + 1, started_at = @at, worker = @worker,
                        lease_expires_at = now() + make_interval(secs => @lease), cancel_requested = FALSE
                    FROM next WHERE j.seq = next.seq
                    RETURNING {JobColumns}
                    """,
                    withImages: false,
                    P("seq", candidate.Sequence), P("at", startedAt.ToUniversalTime()), P("worker", worker), P("lease", (double)leaseSeconds)).ConfigureAwait(false);
                if (claimed.Count > 0) return claimed[0];
            }
            if (candidates.Count < ClaimScan) return null;
        }
    }

    /// <summary>The workers running a job now (under a live lease): the database's word, not a heartbeat's.</summary>
    public async Task<IReadOnlySet<string>> BusyWorkersAsync()
    {
        await using var command = _source.CreateCommand(
            "SELECT DISTINCT worker FROM zimage_jobs WHERE state = 'running' AND lease_expires_at > now() AND worker IS NOT NULL");
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        var busy = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync().ConfigureAwait(false)) busy.Add(reader.GetString(0));
        return busy;
    }

    /// <summary>Renews a running job's lease: null when the lease is lost (the job was re-claimed, ended or deleted),
    /// else whether a cancel was requested.</summary>
    public async Task<bool?> RenewAsync(string id, int attempt, int leaseSeconds)
    {
        await using var command = _source.CreateCommand("""
            UPDATE zimage_jobs SET lease_expires_at = now() + make_interval(secs => @lease)
            WHERE id = @id AND state = 'running' AND attempt = @attempt
            RETURNING cancel_requested
            """);
        command.Parameters.Add(P("lease", (double)leaseSeconds));
        command.Parameters.Add(P("id", id));
        command.Parameters.Add(P("attempt", attempt));
        return await command.ExecuteScalarAsync().ConfigureAwait(false) is bool requested ? requested : null;
    }

    /// <summary>Asks the worker running a job to stop; the running record, or null when the job is not running.</summary>
    public async Task<JobRecord?> RequestCancelAsync(string id)
    {
        var jobs = await QueryAsync("UPDATE zimage_jobs j SET cancel_requested = TRUE WHERE id = @id AND state = 'running' RETURNING " + JobColumns,
            withImages: false, P("id", id)).ConfigureAwait(false);
        return jobs.Count == 0 ? null : jobs[0];
    }

    /// <summary>Running jobs whose cancel was asked for and whose worker then died: cancelled; their ids.</summary>
    public async Task<IReadOnlyList<string>> ReapCancelledAsync()
    {
        await using var command = _source.CreateCommand("""
            UPDATE zimage_jobs SET state = 'cancelled', finished_at = now()
            WHERE state = 'running' AND cancel_requested AND lease_expires_at < now()
            RETURNING id
            """);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false)) ids.Add(reader.GetString(0));
        return ids;
    }

    public async Task<int> QueuedCountAsync()
    {
        await using var command = _source.CreateCommand("SELECT count(*) FROM zimage_jobs WHERE state = 'queued'");
        return (int)(long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    public async Task<int> PositionOfAsync(string id)
    {
        await using var command = _source.CreateCommand("""
            SELECT count(*) FROM zimage_jobs q, zimage_jobs j
            WHERE j.id = @id AND j.state = 'queued' AND q.state = 'queued' AND q.seq <= j.seq
            """);
        command.Parameters.Add(P("id", id));
        return (int)(long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    /// <summary>Of the given ids, those whose jobs ended more than <paramref name="graceSeconds"/> ago, or no longer
    /// exist. The grace lets the runner's own events (the steps, then the end) arrive first.</summary>
    public async Task<IReadOnlyList<string>> EndedAmongAsync(IReadOnlyCollection<string> ids, double graceSeconds)
    {
        if (ids.Count == 0) return [];
        await using var command = _source.CreateCommand("""
            SELECT id FROM zimage_jobs
            WHERE id = ANY(@ids) AND (state IN ('queued', 'running') OR finished_at > now() - make_interval(secs => @grace))
            """);
        command.Parameters.Add(P("ids", ids.ToArray()));
        command.Parameters.Add(P("grace", graceSeconds));
        var active = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false)) active.Add(reader.GetString(0));
        return ids.Where(id => !active.Contains(id)).ToArray();
    }

    /// <summary>Sends the payloads in order, in one round trip (and one transaction, so PostgreSQL delivers them
    /// together, in this order).</summary>
    /// <summary>Sends a batch of events in one transaction, so that a preview stored for an event is readable when the
    /// event arrives (NOTIFY is delivered at commit), and a job's stored preview goes when its end is told.</summary>
    public async Task NotifyAsync(NpgsqlConnection connection, IReadOnlyList<OutgoingEvent> events)
    {
        await using var batch = new NpgsqlBatch(connection);
        foreach (var e in events)
        {
            if (e.Preview is { } preview)
            {
                var store = new NpgsqlBatchCommand("""
                    INSERT INTO zimage_previews (job_id, attempt, step, png) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt, step = EXCLUDED.step, png = EXCLUDED.png
                    """);
                store.Parameters.Add(new NpgsqlParameter<string> { TypedValue = preview.JobId });
                store.Parameters.Add(new NpgsqlParameter<int> { TypedValue = preview.Attempt });
                store.Parameters.Add(new NpgsqlParameter<int> { TypedValue = preview.Step });
                store.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = preview.Png });
                batch.BatchCommands.Add(store);
            }
            if (e.ForgetPreviewOf is { } ended)
            {
                var forget = new NpgsqlBatchCommand("DELETE FROM zimage_previews WHERE job_id = $1");
                forget.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ended });
                batch.BatchCommands.Add(forget);
            }
            var command = new NpgsqlBatchCommand($"SELECT pg_notify('{Channel}', $1)");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = e.Payload });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>The stored preview of one step of one attempt; null once a later step replaced it or the job ended.</summary>
    public async Task<byte[]?> PreviewAsync(string id, int attempt, int step)
    {
        await using var command = _source.CreateCommand("SELECT png FROM zimage_previews WHERE job_id = @id AND attempt = @attempt AND step = @step");
        command.Parameters.Add(P("id", id));
        command.Parameters.Add(P("attempt", attempt));
        command.Parameters.Add(P("step", step));
        return await command.ExecuteScalarAsync().ConfigureAwait(false) as byte[];
    }

    /// <summary>Says this node is alive, with its workers as they are now.</summary>
    public async Task HeartbeatNodeAsync(string node, DateTimeOffset startedAt, IReadOnlyList<FleetWorker> workers)
    {
        await using var command = _source.CreateCommand("""
            INSERT INTO zimage_nodes (name, started_at, heartbeat_at, workers) VALUES (@name, @started, now(), @workers)
            ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(), workers = EXCLUDED.workers, started_at = EXCLUDED.started_at
            """);
        command.Parameters.Add(P("name", node));
        command.Parameters.Add(P("started", startedAt.ToUniversalTime()));
        command.Parameters.Add(P("workers", JsonSerializer.Serialize(workers, WorkersJson)));
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task RemoveNodeAsync(string node)
    {
        await using var command = _source.CreateCommand("DELETE FROM zimage_nodes WHERE name = @name");
        command.Parameters.Add(P("name", node));
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Nodes heard from within <paramref name="staleSeconds"/>; older rows (a node killed) are dropped.</summary>
    public async Task<IReadOnlyList<FleetNode>> NodesAsync(int staleSeconds)
    {
        await using var command = _source.CreateCommand("""
            DELETE FROM zimage_nodes WHERE heartbeat_at < now() - interval '1 day';
            SELECT name, started_at, heartbeat_at, workers FROM zimage_nodes
            WHERE heartbeat_at > now() - make_interval(secs => @stale) ORDER BY name
            """);
        command.Parameters.Add(P("stale", (double)staleSeconds));
        var nodes = new List<FleetNode>();
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
            nodes.Add(new FleetNode(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetFieldValue<DateTimeOffset>(2),
                JsonSerializer.Deserialize<FleetWorker[]>(reader.GetString(3), WorkersJson) ?? []));
        return nodes;
    }

    // IJobStore: the same conditional transitions as SQLite's, with the attempt as the fencing token.

    public async Task<bool> TryStartAsync(string id, int attempt, DateTimeOffset startedAt) =>
        await ExecuteAsync("UPDATE zimage_jobs SET state = 'running', attempt = @attempt, started_at = @at WHERE id = @id AND state = 'queued'",
            P("id", id), P("attempt", attempt), P("at", startedAt.ToUniversalTime())).ConfigureAwait(false) == 1;

    public async Task<bool> TryCompleteAsync(string id, int attempt, DateTimeOffset finishedAt, string planSummary,
        double totalSeconds, IReadOnlyList<JobImage> images, string? weights = null)
    {
        await using var connection = await _source.OpenConnectionAsync().ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
        await using (var update = new NpgsqlCommand("""
            UPDATE zimage_jobs SET state = 'succeeded', finished_at = @at, plan_summary = @plan, total_seconds = @total,
                                   weights = @weights, lease_expires_at = NULL
            WHERE id = @id AND state = 'running' AND attempt = @attempt
            """, connection, transaction))
        {
            update.Parameters.Add(P("id", id));
            update.Parameters.Add(P("attempt", attempt));
            update.Parameters.Add(P("at", finishedAt.ToUniversalTime()));
            update.Parameters.Add(P("plan", planSummary));
            update.Parameters.Add(P("total", totalSeconds));
            update.Parameters.Add(Typed("weights", weights, NpgsqlDbType.Text));
            if (await update.ExecuteNonQueryAsync().ConfigureAwait(false) != 1) return false;
        }
        foreach (var image in images)
        {
            await using var insert = new NpgsqlCommand("""
                INSERT INTO zimage_images (job_id, idx, seed, width, height, file) VALUES (@id, @idx, @seed, @w, @h, @file)
                ON CONFLICT (job_id, idx) DO UPDATE SET seed = EXCLUDED.seed, width = EXCLUDED.width, height = EXCLUDED.height, file = EXCLUDED.file
                """, connection, transaction);
            insert.Parameters.Add(P("id", id));
            insert.Parameters.Add(P("idx", image.Index));
            insert.Parameters.Add(P("seed", image.Seed));
            insert.Parameters.Add(P("w", image.Width));
            insert.Parameters.Add(P("h", image.Height));
            insert.Parameters.Add(P("file", image.FileName));
            await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        await transaction.CommitAsync().ConfigureAwait(false);
        return true;
    }

    public async Task<bool> TryEndAsync(string id, int attempt, JobState state, DateTimeOffset finishedAt, JobError? error) =>
        await ExecuteAsync("""
            UPDATE zimage_jobs SET state = @state, finished_at = @at, error_code = @code, error_phase = @phase,
                                   error_message = @message, lease_expires_at = NULL
            WHERE id = @id AND state = 'running' AND attempt = @attempt
            """, P("id", id), P("attempt", attempt), P("state", state.ToWire()), P("at", finishedAt.ToUniversalTime()),
            Typed("code", error?.Code, NpgsqlDbType.Text), Typed("phase", error?.Phase, NpgsqlDbType.Text),
            Typed("message", error?.Message, NpgsqlDbType.Text)).ConfigureAwait(false) == 1;

    public async Task<bool> TryCancelQueuedAsync(string id, DateTimeOffset finishedAt) =>
        await ExecuteAsync("UPDATE zimage_jobs SET state = 'cancelled', finished_at = @at WHERE id = @id AND state = 'queued'",
            P("id", id), P("at", finishedAt.ToUniversalTime())).ConfigureAwait(false) == 1;

    public async Task<bool> TryRequeueAsync(string id, int attempt) =>
        await ExecuteAsync("""
            UPDATE zimage_jobs SET state = 'queued', started_at = NULL, worker = NULL, lease_expires_at = NULL
            WHERE id = @id AND state = 'running' AND attempt = @attempt
            """, P("id", id), P("attempt", attempt)).ConfigureAwait(false) == 1;

    public async Task<JobRecord?> GetAsync(string id) =>
        (await QueryAsync(SelectJob + " WHERE j.id = @id ORDER BY i.idx", withImages: true, P("id", id)).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<JobRecord>> ListAsync(int limit, long? before, JobState? state) =>
        await QueryAsync(SelectJob + """
             WHERE j.seq IN (SELECT seq FROM zimage_jobs WHERE (@before::bigint IS NULL OR seq < @before) AND (@state::text IS NULL OR state = @state)
                             ORDER BY seq DESC LIMIT @limit)
             ORDER BY j.seq DESC, i.idx
            """, withImages: true, Typed("before", before, NpgsqlDbType.Bigint), Typed("state", state?.ToWire(), NpgsqlDbType.Text),
            P("limit", limit)).ConfigureAwait(false);

    /// <summary>Every job, oldest first, a page at a time (for the history migration).</summary>
    public async Task<IReadOnlyList<JobRecord>> PageAsync(long after, int limit) =>
        await QueryAsync(SelectJob + """
             WHERE j.seq IN (SELECT seq FROM zimage_jobs WHERE seq > @after ORDER BY seq LIMIT @limit)
             ORDER BY j.seq, i.idx
            """, withImages: true, P("after", after), P("limit", limit)).ConfigureAwait(false);

    public async Task<JobRecord?> DeleteFinishedAsync(string id)
    {
        var job = await GetAsync(id).ConfigureAwait(false);
        if (job is null || !job.State.IsTerminal()) return job;
        await ExecuteAsync("DELETE FROM zimage_jobs WHERE id = @id AND state IN ('succeeded', 'failed', 'cancelled')", P("id", id)).ConfigureAwait(false);
        return job;
    }

    public async Task PingAsync(CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand("SELECT 1");
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();

    private async Task<int> ExecuteAsync(string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = _source.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private async Task<List<JobRecord>> QueryAsync(string sql, bool withImages, params NpgsqlParameter[] parameters)
    {
        await using var command = _source.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        var jobs = new List<JobRecord>();
        var images = new List<JobImage>();
        JobRecord? current = null;
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            string id = reader.GetString(1);
            if (current?.Id != id)
            {
                if (current is not null) jobs.Add(current with { Images = images.ToArray() });
                images.Clear();
                current = ReadJob(reader);
            }
            if (withImages && JobRows.Image(reader) is { } image)
                images.Add(image);
        }
        if (current is not null) jobs.Add(current with { Images = images.ToArray() });
        return jobs;
    }

    private static JobRecord ReadJob(DbDataReader reader) =>
        JobRows.Read(reader, (row, column) => row.GetFieldValue<DateTimeOffset>(column), "shared store");

    private static NpgsqlParameter P<T>(string name, T value) => new NpgsqlParameter<T>(name, value);

    private static NpgsqlParameter Typed(string name, object? value, NpgsqlDbType type) =>
        new(name, type) { Value = value ?? DBNull.Value };
}

/// <summary>One event on its way to NOTIFY: the payload, a preview too large for it (stored first, in the same
/// transaction), or the job whose stored preview its end retires.</summary>
internal sealed record OutgoingEvent(string Payload, StoredPreview? Preview = null, string? ForgetPreviewOf = null);

internal sealed record StoredPreview(string JobId, int Attempt, int Step, byte[] Png);
