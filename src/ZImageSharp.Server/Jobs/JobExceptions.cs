namespace ZImageSharp.Server.Jobs;

/// <summary>The queue holds <see cref="Capacity"/> jobs already; the client should retry after the given delay.</summary>
internal sealed class QueueFullException(int capacity, int retryAfterSeconds)
    : Exception($"The queue is full ({capacity} jobs waiting); retry in about {retryAfterSeconds} s.")
{
    public int Capacity { get; } = capacity;
    public int RetryAfterSeconds { get; } = retryAfterSeconds;
}

internal sealed class JobNotFoundException(string id, string? what = null)
    : Exception(what ?? $"No job with id '{id}' exists; it may have been deleted.")
{
    public string JobId { get; } = id;
}

/// <summary>The job is in a state that does not allow the operation (cancel a finished job, delete a running one).</summary>
internal sealed class JobConflictException(string id, string message) : Exception(message)
{
    public string JobId { get; } = id;
}

/// <summary>A synchronous API's job ended without images (failed, cancelled, or re-queued by shutdown).</summary>
internal sealed class JobEndedException(JobRecord job) : Exception(Describe(job))
{
    public JobRecord Job { get; } = job;

    private static string Describe(JobRecord job) => job.State switch
    {
        JobState.Failed => job.Error?.Message ?? $"Job {job.Id} failed.",
        JobState.Cancelled => $"Job {job.Id} was cancelled before it finished.",
        JobState.Queued => $"The server is shutting down; job {job.Id} was re-queued and will run after the restart (GET /api/jobs/{job.Id}).",
        _ => $"Job {job.Id} ended in state {job.State.ToWire()}.",
    };
}

/// <summary>A synchronous API's job did not finish within the configured wait; it was cancelled.</summary>
internal sealed class SyncTimeoutException(string id, int seconds)
    : Exception($"Job {id} did not finish within {seconds} s (ZImage:Server:SyncTimeoutSeconds) and was cancelled; " +
                "use the asynchronous API (POST /api/jobs) for long generations.")
{
    public string JobId { get; } = id;
}
