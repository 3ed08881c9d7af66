using System.Runtime.InteropServices;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>Whether a request fits a worker, by that worker's own plan (every phase, the host, the LoRAs, an init
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

    /// <summary>One worker's reason, for the error that says a request fits no worker.</summary>
    public static string Reason(string worker, string device, PlanReport? plan) => plan is null
        ? $"{worker} ({device}): its capacity could not be read (a node of another version?)"
        : $"{worker} ({device}): {plan.Summary}";
}

/// <summary>Whether some worker online fits a request and, when none does, each worker's reason.</summary>
internal sealed record WorkerMatch(bool Fits, string Why)
{
    public static WorkerMatch Fit { get; } = new(true, "");
}
