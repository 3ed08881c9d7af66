namespace ZImageSharp.Server.Jobs;

/// <summary>Job history: every state change is a conditional update on the state it leaves and, for a running job,
/// on its attempt number, so a job finishes at most once even when a stale worker races a newer one. The attempt is
/// the fencing token: each start (or claim) increments it, and only the holder of the latest may finish the job.
/// <see cref="JobStore"/> is SQLite in one process; <see cref="Store.PostgresJobStore"/> is shared by a fleet.</summary>
internal interface IJobStore : IAsyncDisposable
{
    Task<JobRecord> InsertAsync(JobRecord job, CancellationToken cancellationToken = default);

    /// <summary>Queued → running with a new attempt number; false when the job is no longer queued.</summary>
    Task<bool> TryStartAsync(string id, int attempt, DateTimeOffset startedAt);

    /// <summary>Running (this attempt) → succeeded, with its images, in one transaction.</summary>
    Task<bool> TryCompleteAsync(string id, int attempt, DateTimeOffset finishedAt, string planSummary,
        double totalSeconds, IReadOnlyList<JobImage> images, string? weights = null);

    /// <summary>Running (this attempt) → failed or cancelled.</summary>
    Task<bool> TryEndAsync(string id, int attempt, JobState state, DateTimeOffset finishedAt, JobError? error);

    /// <summary>Queued → cancelled (a queued job that never ran).</summary>
    Task<bool> TryCancelQueuedAsync(string id, DateTimeOffset finishedAt);

    /// <summary>Running (this attempt) → queued: shutdown interrupted it, a worker runs it again.</summary>
    Task<bool> TryRequeueAsync(string id, int attempt);

    Task<JobRecord?> GetAsync(string id);

    /// <summary>Newest first; <paramref name="before"/> is the sequence cursor of the previous page's last job.</summary>
    Task<IReadOnlyList<JobRecord>> ListAsync(int limit, long? before, JobState? state);

    /// <summary>Deletes a finished job and returns it (so its files can go too); null when absent.</summary>
    Task<JobRecord?> DeleteFinishedAsync(string id);

    /// <summary>A trivial query, for the readiness check.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
