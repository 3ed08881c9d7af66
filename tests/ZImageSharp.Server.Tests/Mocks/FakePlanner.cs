using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Tests.Mocks;

/// <summary>Fits anything up to <see cref="MaxSide"/> on each side; beyond that, Fits=false with the same aspect
/// scaled down to fit; a step takes <see cref="SecondsPerStep"/>. Its capacity is both, so a node plans for another
/// node's fake worker as that one would.</summary>
public sealed class FakePlanner : IGenerationPlanner
{
    public int MaxSide { get; set; } = 2048;

    /// <summary>Predicted denoising time per step (a faster card has less).</summary>
    public double SecondsPerStep { get; set; } = 0.1;

    public int Calls;

    /// <summary>The request planned last (what admission or /api/plan asked about).</summary>
    public GenerationRequest? LastRequest { get; private set; }

    public string DescribeCapacity() => FormattableString.Invariant($"fake-max-side={MaxSide};seconds-per-step={SecondsPerStep}");

    public PlanReport Plan(GenerationRequest request, string capacity)
    {
        var parts = capacity.Split(';').Select(p => p.Split('=')).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);
        if (!parts.TryGetValue("fake-max-side", out string? side) || !int.TryParse(side, out int maxSide)
            || !parts.TryGetValue("seconds-per-step", out string? sps)
            || !double.TryParse(sps, System.Globalization.CultureInfo.InvariantCulture, out double secondsPerStep))
            throw new FormatException($"not a fake capacity: {capacity}");
        return Plan(request, maxSide, secondsPerStep);
    }

    public PlanReport Plan(GenerationRequest request) => Plan(request, MaxSide, SecondsPerStep);

    private PlanReport Plan(GenerationRequest request, int maxSide, double secondsPerStep)
    {
        Interlocked.Increment(ref Calls);
        LastRequest = request;
        long budget = 20L << 30;
        long peak = (long)request.Width * request.Height * 6000L * request.Count;
        var phases = new[]
        {
            new PhasePlan("encode", "resident", 8L << 30, TimeSpan.FromSeconds(0.2)),
            new PhasePlan("denoise", "resident", Math.Max(peak, 12L << 30), TimeSpan.FromSeconds(secondsPerStep * request.Steps)),
            new PhasePlan("decode", "tiled", 6L << 30, TimeSpan.FromSeconds(0.3)),
        };
        if (request.Width <= maxSide && request.Height <= maxSide)
            return new PlanReport(true, budget, phases.Max(p => p.PredictedPeakBytes), phases.Aggregate(TimeSpan.Zero, (sum, p) => sum + p.PredictedTime),
                phases, null, "resident bf16");
        double scale = Math.Min((double)maxSide / request.Width, (double)maxSide / request.Height);
        var largest = new ImageSize((int)(request.Width * scale) / 16 * 16, (int)(request.Height * scale) / 16 * 16);
        return new PlanReport(false, budget, 64L << 30, TimeSpan.Zero, phases, largest,
            // As the engine's planner words it: the summary itself names the largest size.
            $"{request.Width}x{request.Height} does not fit 20.00 GiB: even at its leanest the denoise phase needs 64.00 GiB. " +
            $"The largest size that fits at this aspect ratio is {largest}.");
    }
}
