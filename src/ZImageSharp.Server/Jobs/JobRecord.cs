using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

internal enum JobState { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>Which API submitted a job: the synchronous ones wait for it, and A1111's interrupt only stops its own.</summary>
internal enum JobSource { Native, OpenAi, Automatic1111 }

internal static class JobStateExtensions
{
    public static bool IsTerminal(this JobState state) => state is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    public static string ToWire(this JobState state) => state switch
    {
        JobState.Queued => "queued",
        JobState.Running => "running",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        _ => "cancelled",
    };

    public static JobState ParseState(string text) => text switch
    {
        "queued" => JobState.Queued,
        "running" => JobState.Running,
        "succeeded" => JobState.Succeeded,
        "failed" => JobState.Failed,
        "cancelled" => JobState.Cancelled,
        _ => throw new InvalidDataException($"The history database holds an unknown job state '{text}'."),
    };
}

/// <summary>One stored image of a finished job; <see cref="FileName"/> is relative to the images folder.</summary>
internal sealed record JobImage(int Index, long Seed, int Width, int Height, string FileName);

/// <summary>Why a job failed: the engine's error code, the phase it failed in, and the user-facing sentence.</summary>
internal sealed record JobError(string Code, string? Phase, string Message);

/// <summary>A job as history knows it. The request is stored with its seed already drawn, so a job re-run
/// after a restart makes the same images.</summary>
internal sealed record JobRecord
{
    public required string Id { get; init; }
    public required GenerationRequest Request { get; init; }
    public required JobSource Source { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public JobState State { get; init; } = JobState.Queued;
    /// <summary>Row order in the store; the history cursor.</summary>
    public long Sequence { get; init; }
    /// <summary>Times a worker has started this job (more than 1 after a restart re-queued it).</summary>
    public int Attempt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string? PlanSummary { get; init; }
    /// <summary>The weight precision the job ran with ("bf16", "fp32", or "fp8 e4m3 (…)" when weights were stored as
    /// fp8); null for jobs that have not succeeded, or finished before this was recorded.</summary>
    public string? Weights { get; init; }
    public double? TotalSeconds { get; init; }
    public JobError? Error { get; init; }
    public IReadOnlyList<JobImage> Images { get; init; } = [];
}
