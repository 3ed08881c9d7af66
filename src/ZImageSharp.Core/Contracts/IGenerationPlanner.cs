namespace ZImageSharp.Contracts;

/// <summary>One row of a memory plan: how a phase runs and what it is predicted to cost.</summary>
/// <param name="PredictedHostBytes">Host RAM held during the phase (pinned masters, CPU weights, file staging).</param>
public sealed record PhasePlan(string Phase, string Placement, long PredictedPeakBytes, TimeSpan PredictedTime, long PredictedHostBytes = 0);

/// <summary>The plan for one request on this device, or the reason none fits.</summary>
/// <param name="SpeedSource">Which speed profile the predicted times come from (the card's own calibration file, or
/// the reference profile and how it was scaled); empty when not known.</param>
public sealed record PlanReport(
    bool Fits,
    long BudgetBytes,
    long PredictedPeakBytes,
    TimeSpan PredictedTime,
    IReadOnlyList<PhasePlan> Phases,
    ImageSize? LargestFittingSize,
    string Summary,
    long HostBytes = 0,
    long? HostBudgetBytes = null,
    string WeightsPrecision = "bf16",
    string SpeedSource = "");

public readonly record struct ImageSize(int Width, int Height)
{
    public override string ToString() => $"{Width}x{Height}";
}

/// <summary>Plans a request without running it (admission control, <c>zimage plan</c>, <c>/api/plan</c>).</summary>
public interface IGenerationPlanner
{
    /// <summary>The plan for the request on this planner's device as it is now.</summary>
    PlanReport Plan(GenerationRequest request);

    /// <summary>What this planner's plans depend on besides the request (its card and host as measured now, its
    /// model, speeds and policy), as text that <see cref="Plan(GenerationRequest, string)"/> reads back on any node:
    /// how a worker of a fleet tells the other nodes what it fits.</summary>
    string DescribeCapacity();

    /// <summary>The plan for the request on the worker that <paramref name="capacity"/> describes
    /// (<see cref="DescribeCapacity"/>'s output, possibly from another node).</summary>
    /// <exception cref="FormatException">The capacity is not one this version reads.</exception>
    PlanReport Plan(GenerationRequest request, string capacity);
}
