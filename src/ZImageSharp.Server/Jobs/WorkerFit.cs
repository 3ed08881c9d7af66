using System.Runtime.InteropServices;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>Whether a request fits a worker, and how fast it would run there, by that worker's own plan (every phase, the host, the LoRAs, an init
/// image's encode, the negative prompt's batch), never by a proxy such as its pixel count: a slot of this node asks its
/// engine; a worker of another node is planned here from the capacity it published with its heartbeat
/// (<see cref="IGenerationPlanner.DescribeCapacity"/>).</summary>
internal static class WorkerFit
{
    public static PlanReport Plan(WorkerSlot slot, GenerationRequest request) => slot.Planner.Plan(request);

    /// <summary>The worker's plan for the request; null when it published no capacity this version can read.</summary>
    public static PlanReport? Plan(IGenerationPlanner planner, FleetWorker worker, GenerationRequest request)
    {
        if (worker.Capacity is not { } capacity) return null;
        try { return planner.Plan(request, capacity); }
        catch (FormatException) { return null; }
    }

    /// <summary>What a slot publishes for the others to plan with; null when its card cannot be read now.</summary>
    public static string? Capacity(WorkerSlot slot)
    {
        try { return slot.Planner.DescribeCapacity(); }
        catch (Exception e) when (e is InvalidOperationException or ExternalException) { return null; }
    }

    /// <summary>How much faster another idle worker must be predicted to run a job for this one to leave it to that
    /// one: well beyond the prediction's own error, so that equal cards never wait for each other.</summary>
    public const double PreferFasterFactor = 1.5;

    /// <summary>True when <paramref name="other"/> fits and is predicted to run the job much faster than <paramref name="mine"/>.</summary>
    public static bool MuchFaster(PlanReport? other, PlanReport mine) =>
        other is { Fits: true } && other.PredictedTime > TimeSpan.Zero
        && other.PredictedTime.TotalSeconds * PreferFasterFactor < mine.PredictedTime.TotalSeconds;

    /// <summary>One worker's reason, for the error that says a request fits no worker.</summary>
    public static string Reason(string worker, string device, PlanReport? plan) => plan is null
        ? $"{worker} ({device}): its capacity could not be read (a node of another version?)"
        : $"{worker} ({device}): {plan.Summary.TrimEnd().TrimEnd('.')}"; // joined with "; " into one sentence
}

/// <summary>Whether some worker online fits a request and, when none does, each worker's reason.</summary>
internal sealed record WorkerMatch(bool Fits, string Why)
{
    public static WorkerMatch Fit { get; } = new(true, "");
}
