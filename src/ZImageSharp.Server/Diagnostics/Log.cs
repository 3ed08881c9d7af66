using Microsoft.Extensions.Logging;

namespace ZImageSharp.Server.Diagnostics;

/// <summary>Source-generated log lines. At the default level a request logs one line (<see cref="Request"/>) and a job
/// one when it ends; every job failure names the job, the phase and the error code.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Job {JobId} queued from {Source}: {Width}x{Height}, {Steps} steps, {Count} image(s), position {Position}")]
    public static partial void JobQueued(ILogger logger, string jobId, string source, int width, int height, int steps, int count, int position);

    [LoggerMessage(2, LogLevel.Debug, "Job {JobId} started on worker {Worker} (attempt {Attempt})")]
    public static partial void JobStarted(ILogger logger, string jobId, int worker, int attempt);

    [LoggerMessage(3, LogLevel.Information, "Job {JobId} succeeded in {Seconds:0.00} s with plan {Plan}")]
    public static partial void JobSucceeded(ILogger logger, string jobId, double seconds, string plan);

    [LoggerMessage(4, LogLevel.Warning, "Job {JobId} failed in phase {Phase} ({Code}): {Message}")]
    public static partial void JobFailed(ILogger logger, string jobId, string phase, string code, string message);

    [LoggerMessage(5, LogLevel.Error, "Job {JobId} failed in phase {Phase} (internal): unexpected {ExceptionType}")]
    public static partial void JobCrashed(ILogger logger, Exception exception, string jobId, string phase, string exceptionType);

    [LoggerMessage(6, LogLevel.Information, "Job {JobId} cancelled in phase {Phase}")]
    public static partial void JobCancelled(ILogger logger, string jobId, string phase);

    [LoggerMessage(7, LogLevel.Warning, "Job {JobId} interrupted by shutdown in phase {Phase}; re-queued for the next start")]
    public static partial void JobRequeued(ILogger logger, string jobId, string phase);

    [LoggerMessage(8, LogLevel.Information, "Recovered {Count} unfinished job(s) from history; they run first")]
    public static partial void Recovered(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Debug, "Job {JobId} {Phase} step {Step}/{TotalSteps}")]
    public static partial void Step(ILogger logger, string jobId, string phase, int step, int totalSteps);

    // The request's own line already carries the refusal's code.
    [LoggerMessage(10, LogLevel.Debug, "Submission refused ({Reason}): {Message}")]
    public static partial void Refused(ILogger logger, string reason, string message);

    [LoggerMessage(11, LogLevel.Warning, "Job {JobId} finished but its record had changed meanwhile (state {State}); result not stored")]
    public static partial void StaleFinish(ILogger logger, string jobId, string state);

    [LoggerMessage(12, LogLevel.Information, "Serving on {Workers} worker(s), queue capacity {Capacity}, data in {DataDirectory}, model {Model}")]
    public static partial void Serving(ILogger logger, int workers, int capacity, string dataDirectory, string model);

    [LoggerMessage(13, LogLevel.Warning, "The engine sent a preview that could not be encoded; previews skipped for this step")]
    public static partial void BadPreview(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 14, Message = "{Method} {Path} {Status} in {Milliseconds:0.0} ms")]
    public static partial void Request(ILogger logger, LogLevel level, string method, string path, int status, double milliseconds);

    [LoggerMessage(EventId = 15, Message = "{Method} {Path} {Status} {Code} in {Milliseconds:0.0} ms")]
    public static partial void RequestFailed(ILogger logger, LogLevel level, string method, string path, int status, string code, double milliseconds);

    [LoggerMessage(16, LogLevel.Warning, "Serving {Addresses} without authentication (AllowUnauthenticatedNetwork, --insecure-no-auth): anyone who can reach it may generate, cancel, delete and read every job")]
    public static partial void Unauthenticated(ILogger logger, string addresses);

    [LoggerMessage(17, LogLevel.Information, "API keys required: {Full} with full access, {Read} read-only")]
    public static partial void KeysRequired(ILogger logger, int full, int read);

    // 40 and up: the shared store (PostgreSQL) and the fleet.
    [LoggerMessage(40, LogLevel.Warning, "Worker {Worker} could not claim a job: {Reason}; retrying")]
    public static partial void ClaimFailed(ILogger logger, string worker, string reason);

    [LoggerMessage(41, LogLevel.Warning, "Job {JobId} lost its lease on worker {Worker} in phase {Phase}; another worker may run it, this run stops without writing")]
    public static partial void LeaseLost(ILogger logger, string jobId, string worker, string phase);

    [LoggerMessage(42, LogLevel.Information, "Joined the fleet on {Store} as node {Node} with {Workers} worker(s)")]
    public static partial void JoinedFleet(ILogger logger, string store, string node, int workers);

    [LoggerMessage(43, LogLevel.Warning, "The shared store's notifications stopped ({Reason}); reconnecting")]
    public static partial void ListenerLost(ILogger logger, string reason);

    [LoggerMessage(44, LogLevel.Information, "Worker {Worker} claimed job {JobId} (attempt {Attempt})")]
    public static partial void Claimed(ILogger logger, string worker, string jobId, int attempt);

    [LoggerMessage(45, LogLevel.Warning, "Fleet upkeep failed: {Reason}")]
    public static partial void UpkeepFailed(ILogger logger, string reason);
}
