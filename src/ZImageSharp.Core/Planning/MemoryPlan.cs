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

    /// <summary>Host memory the plan holds: pinned masters, the CPU encoder's weights, staging for file reads.</summary>
    public long HostBytes { get; init; }

    public long HostBudgetBytes => Input.Host.PlanningBytes;

    public bool HostFits => HostBytes <= HostBudgetBytes;

    /// <summary>Every phase fits the card and the plan fits the host.</summary>
    public bool Fits => HostFits && Phases.All(phase => phase.Fits);

    /// <summary>The weight precision the plan computes with, as the PNG parameters and the job record name it:
    /// "bf16", "fp32", or "fp8 e4m3" (with what is stored so) when any weights are stored as fp8.</summary>
    public string WeightsPrecision
    {
        get
        {
            var fp8 = new List<string>();
            if (TextEncoder.Storage == WeightStorage.Fp8) fp8.Add("text encoder");
            if (Transformer.Storage == WeightStorage.Fp8) fp8.Add("transformer");
            return fp8.Count == 0 ? ComputeName : $"fp8 e4m3 ({string.Join(" and ", fp8)}; {ComputeName} compute)";
        }
    }

    /// <summary>True when any weights are stored as fp8 (the image then differs slightly from a bf16 plan's).</summary>
    public bool UsesFp8 => TextEncoder.Storage == WeightStorage.Fp8 || Transformer.Storage == WeightStorage.Fp8;

    private string ComputeName => Input.ComputeInFloat32 ? "fp32" : "bf16";

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
            if (!HostFits && Phases.All(phase => phase.Fits))
            {
                return $"{size} does not fit this host's memory: even the leanest plan that fits the card holds {new ByteSize(HostBytes)} " +
                       $"of host RAM ({TextEncoder.Describe()}; {Transformer.Describe()}) but {new ByteSize(HostBudgetBytes)} can be used " +
                       $"({Input.Host.Source}). Free host memory or raise --ram-budget, allow fp8 weights if they are forbidden, " +
                       "or use a card with more memory (weights that stay on the card need no host copy).";
            }
            if (!Fits)
            {
                var tight = TightestPhase;
                string largest = LargestFittingSize is { } s
                    ? $" The largest size that fits at this aspect ratio is {s}."
                    : " No size fits at this aspect ratio.";
                return $"{size} does not fit {new ByteSize(tight.BudgetBytes)}: even at its leanest the {tight.Phase.ReportName()} phase " +
                       $"needs {new ByteSize(tight.PeakBytes)} ({tight.Placement}).{largest}";
            }
            string host = Input.Host.IsBounded ? $", host RAM {new ByteSize(HostBytes)} of {new ByteSize(HostBudgetBytes)}" : "";
            return $"{size} in {Seconds(PredictedTime)}, peak {new ByteSize(PredictedPeakBytes)} of {new ByteSize(BudgetBytes)}{host}: " +
                   $"text encoder {TextEncoder.Describe()}; transformer {Transformer.Describe()}; VAE {Vae.Describe()}.";
        }
    }

    public PlanReport ToReport() => new(
        Fits,
        BudgetBytes,
        PredictedPeakBytes,
        PredictedTime,
        Phases.Select(p => new PhasePlan(p.Phase.ReportName(), p.Placement, p.PeakBytes, p.Time, p.HostBytes)).ToList(),
        LargestFittingSize,
        Summary,
        HostBytes,
        Input.Host.IsBounded ? HostBudgetBytes : null,
        WeightsPrecision,
        Input.Speed.Label);

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
