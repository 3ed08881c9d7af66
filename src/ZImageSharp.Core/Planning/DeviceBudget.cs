using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>The device memory a plan may use. <see cref="FreeBytes"/> is read after this process created its CUDA
/// context, plus what ZImageSharp itself holds and the plan may replace (its weights and cached blocks).</summary>
public sealed record DeviceBudget
{
    /// <summary>The card's memory (cudaMemGetInfo total).</summary>
    public required long TotalBytes { get; init; }

    /// <summary>Free now (cudaMemGetInfo free, plus what ZImageSharp holds that a new plan may release).</summary>
    public required long FreeBytes { get; init; }

    /// <summary>Held by other processes (NVML); they may grow, so free memory is also bounded by total minus this.</summary>
    public long OtherProcessesBytes { get; init; }

    /// <summary>This process's CUDA context and libraries.</summary>
    public long ContextOverheadBytes { get; init; }

    /// <summary>Kept free at every moment (the safety margin).</summary>
    public long ReserveBytes { get; init; }

    /// <summary><c>--vram-budget</c>: plan as if the card had this much memory, whatever its real size.</summary>
    public long? OverrideBytes { get; init; }

    /// <summary>Memory the model may use before the reserve: the emulated card less its context when overridden,
    /// else free memory bounded by what other processes and the context leave of the card.</summary>
    public long UsableBytes => OverrideBytes is { } emulated
        ? emulated - ContextOverheadBytes
        : Math.Min(FreeBytes, TotalBytes - OtherProcessesBytes - ContextOverheadBytes);

    /// <summary>What every phase's predicted peak must stay under.</summary>
    public long PlanningBytes => Math.Max(0, UsableBytes - ReserveBytes);

    /// <summary>True when <c>--vram-budget</c> promises more than is free: a plan for it may not run on this card.</summary>
    public bool OverrideExceedsFreeMemory => OverrideBytes is { } emulated && emulated - ContextOverheadBytes > FreeBytes;

    /// <summary>A budget from a probe of the device, with the context and reserve taken from the options.</summary>
    public static DeviceBudget Measured(long totalBytes, long freeBytes, long otherProcessesBytes, PlannerOptions options,
        long? overrideBytes = null) => new()
    {
        TotalBytes = totalBytes,
        FreeBytes = freeBytes,
        OtherProcessesBytes = otherProcessesBytes,
        ContextOverheadBytes = options.CudaContextBytes,
        ReserveBytes = options.ReserveBytes,
        OverrideBytes = overrideBytes,
    };

    /// <summary>A card on which <paramref name="freeBytes"/> are free after the context (planner tests, <c>zimage plan</c>).</summary>
    public static DeviceBudget WithFreeMemory(long freeBytes, PlannerOptions options) =>
        Measured(freeBytes + options.CudaContextBytes, freeBytes, 0, options);

    public override string ToString() =>
        OverrideBytes is { } emulated
            ? $"{new ByteSize(PlanningBytes)} to plan with (--vram-budget {new ByteSize(emulated)}, reserve {new ByteSize(ReserveBytes)})"
            : $"{new ByteSize(PlanningBytes)} to plan with ({new ByteSize(FreeBytes)} free of {new ByteSize(TotalBytes)}, reserve {new ByteSize(ReserveBytes)})";
}
