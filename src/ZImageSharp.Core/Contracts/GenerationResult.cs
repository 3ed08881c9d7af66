namespace ZImageSharp.Contracts;

/// <summary>One finished image: a PNG that already carries its generation parameters.</summary>
public sealed record GeneratedImage(byte[] Png, long Seed, int Width, int Height);

public sealed record PhaseTiming(GenerationPhase Phase, TimeSpan Elapsed, long PeakBytes);

public sealed record GenerationResult(
    IReadOnlyList<GeneratedImage> Images,
    IReadOnlyList<PhaseTiming> Phases,
    TimeSpan Total,
    string PlanSummary,
    int OomRecoveries,
    string WeightsPrecision = "bf16");
