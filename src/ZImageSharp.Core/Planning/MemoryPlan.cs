using System.Globalization;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>How one request runs on one device: a placement per component and, per phase, the predicted peak and time.
/// When nothing fits, the plan is the leanest one, with <see cref="Fits"/> false and the largest size that would fit.</summary>
public sealed record MemoryPlan
{
    public required PlannerInput Input { get; init; }
    public required ComponentPlacement TextEncoder { get; init; }
    public required ComponentPlacement Transformer { get; init; }
    public required VaePlacement Vae { get; init; }

    /// <summary>The phases in the order they run.</summary>
    public required IReadOnlyList<PhaseEstimate> Phases { get; init; }

    /// <summary>Only when the plan does not fit: the largest size in multiples of 16 at the request's aspect ratio
    /// (same count and guidance) that would.</summary>
    public ImageSize? LargestFittingSize { get; init; }

    /// <summary>Out-of-memory recoveries that led to this plan (<see cref="MemoryPlanner.Degrade"/>).</summary>
    public int DegradeSteps { get; init; }

    /// <summary>Per-phase budgets lowered by out-of-memory recoveries; a phase not listed has the device budget.</summary>
    public IReadOnlyDictionary<PlanPhase, long> PhaseCaps { get; init; } = new Dictionary<PlanPhase, long>();

    public long BudgetBytes => Input.Device.PlanningBytes;

    public bool Fits => Phases.All(phase => phase.Fits);

    public long PredictedPeakBytes => Phases.Max(phase => phase.PeakBytes);

    public TimeSpan PredictedTime => Phases.Aggregate(TimeSpan.Zero, (sum, phase) => sum + phase.Time);

    /// <summary>The estimate of <paramref name="phase"/>; throws when the request has no such phase.</summary>
    public PhaseEstimate Phase(PlanPhase phase) => Phases.FirstOrDefault(p => p.Phase == phase)
        ?? throw new ArgumentException($"This plan has no {phase.ReportName()} phase (phases: {string.Join(", ", Phases.Select(p => p.Phase.ReportName()))}).", nameof(phase));

    /// <summary>The phase that overflows its budget the most (or, when all fit, the one with the least room).</summary>
    public PhaseEstimate TightestPhase => Phases.MaxBy(phase => phase.PeakBytes - phase.BudgetBytes)!;

    public string Summary
    {
        get
        {
            var request = Input.Request;
            string size = $"{request.Width}x{request.Height}";
            if (!Fits)
            {
                var tight = TightestPhase;
                string largest = LargestFittingSize is { } s
                    ? $" The largest size that fits at this aspect ratio is {s}."
                    : " No size fits at this aspect ratio.";
                return $"{size} does not fit {new ByteSize(tight.BudgetBytes)}: even at its leanest the {tight.Phase.ReportName()} phase " +
                       $"needs {new ByteSize(tight.PeakBytes)} ({tight.Placement}).{largest}";
            }
            return $"{size} in {Seconds(PredictedTime)}, peak {new ByteSize(PredictedPeakBytes)} of {new ByteSize(BudgetBytes)}: " +
                   $"text encoder {TextEncoder.Describe()}; transformer {Transformer.Describe()}; VAE {Vae.Describe()}.";
        }
    }

    public PlanReport ToReport() => new(
        Fits,
        BudgetBytes,
        PredictedPeakBytes,
        PredictedTime,
        Phases.Select(p => new PhasePlan(p.Phase.ReportName(), p.Placement, p.PeakBytes, p.Time)).ToList(),
        LargestFittingSize,
        Summary);

    /// <summary>Returns this plan, or throws <see cref="NoPlanFitsException"/> naming the phase that does not fit.</summary>
    public MemoryPlan EnsureFits()
    {
        if (Fits) return this;
        throw new NoPlanFitsException(Summary, TightestPhase.Phase.ReportName(), LargestFittingSize);
    }

    public override string ToString() => Summary;

    internal static string Seconds(TimeSpan time) =>
        time.TotalSeconds.ToString(time.TotalSeconds < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture) + " s";
}
