using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>One worker: one engine on one device, with that engine's own planner. <see cref="MaxPixels"/> is the
/// largest request (width × height × count) its plan fits, which is what a shared queue matches jobs against.</summary>
internal sealed record WorkerSlot(int Index, string Name, string Device, IImageGenerator Generator, IGenerationPlanner Planner)
{
    public long MaxPixels { get; init; }

    /// <summary>Pixels a request asks a worker to hold: what <see cref="MaxPixels"/> is compared with.</summary>
    public static long PixelsOf(GenerationRequest request) => (long)request.Width * request.Height * Math.Max(1, request.Count);

    /// <summary>Asks the planner for the largest square request of the model's defaults it fits: the limits' largest size when that
    /// fits, else the largest fitting size the plan names (0 when nothing fits).</summary>
    public static long LargestFit(IGenerationPlanner planner, RequestLimits limits)
    {
        // The model's default request (under a guided preset the negative prompt doubles the denoise batch) at its largest size.
        var largest = limits.Preset.NewRequest("fit probe") with { Width = limits.MaxSize, Height = limits.MaxSize, Count = 1, Seed = 0 };
        var plan = planner.Plan(largest);
        if (plan.Fits) return (long)largest.Width * largest.Height;
        return plan.LargestFittingSize is { } size ? (long)size.Width * size.Height : 0;
    }
}

/// <summary>A job a worker may run: its attempt (the fencing token that completion must present) and, on a shared
/// store, the lease that heartbeats keep alive. <see cref="Lost"/> fires when the lease is gone (another worker may
/// own the job now), so the run stops without writing anything.</summary>
internal class WorkerLease(ActiveJob job, int attempt, DateTimeOffset startedAt) : IAsyncDisposable
{
    private readonly CancellationTokenSource _lost = new();

    public ActiveJob Job { get; } = job;

    public int Attempt { get; } = attempt;

    public DateTimeOffset StartedAt { get; } = startedAt;

    public CancellationToken Lost => _lost.Token;

    public bool IsLost => _lost.IsCancellationRequested;

    public void MarkLost() => _lost.Cancel();

    public virtual ValueTask DisposeAsync()
    {
        _lost.Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
