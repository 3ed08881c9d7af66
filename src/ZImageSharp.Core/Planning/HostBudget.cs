using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>
/// The host memory a plan may hold: pinned weight masters, the CPU text encoder, staging for file reads. Host RAM is a
/// budget like the card's memory: a plan that needs more than this is never chosen, because running out of host memory
/// kills the process (the kernel's OOM killer, a cgroup limit) where a CUDA out-of-memory error can be recovered from.
/// </summary>
public sealed record HostBudget
{
    /// <summary>What this process may still take, plus the weight masters it already holds (a new plan may replace
    /// them): the smaller of MemAvailable and the cgroup's limit less its non-reclaimable use.</summary>
    public required long AvailableBytes { get; init; }

    /// <summary>Kept free for the runtime's own growth (images, tokenizer, the server, the page cache of reads).</summary>
    public long ReserveBytes { get; init; }

    /// <summary>Where <see cref="AvailableBytes"/> came from: "MemAvailable", "cgroup memory.max", "--ram-budget".</summary>
    public string Source { get; init; } = "unbounded";

    /// <summary>What every plan's host bytes must stay under.</summary>
    public long PlanningBytes => Math.Max(0, AvailableBytes - ReserveBytes);

    /// <summary>No host limit (tests of the device side, machines where nothing can be read).</summary>
    public static HostBudget Unbounded { get; } = new() { AvailableBytes = long.MaxValue / 4, Source = "unbounded" };

    public bool IsBounded => AvailableBytes < long.MaxValue / 4;

    /// <summary>A host with <paramref name="availableBytes"/> for the engine (planner tests, <c>zimage plan</c>).</summary>
    public static HostBudget WithAvailable(long availableBytes, PlannerOptions options, string source = "--ram-budget") =>
        new() { AvailableBytes = availableBytes, ReserveBytes = options.HostReserveBytes, Source = source };

    public override string ToString() => IsBounded
        ? $"{new ByteSize(PlanningBytes)} of host RAM to plan with ({Source}, reserve {new ByteSize(ReserveBytes)})"
        : "host RAM not bounded";
}
