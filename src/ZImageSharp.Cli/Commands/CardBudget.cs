using ZImageSharp.Engine.Cuda;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands;

/// <summary>The planner's budget for commands that plan without an engine (`plan`, `doctor`).</summary>
internal static class CardBudget
{
    /// <summary>A card of exactly <paramref name="size"/> (--vram-budget without a GPU to measure).</summary>
    public static DeviceBudget Emulated(ByteSize size, PlannerOptions options) =>
        DeviceBudget.Measured(size.Bytes, size.Bytes - options.CudaContextBytes, 0, options, size.Bytes);

    /// <summary>The card as it is now: free memory, other processes' memory (NVML), and an optional override.</summary>
    public static DeviceBudget Measured(GpuMemoryProbe probe, PlannerOptions options, ByteSize? overrideSize = null)
    {
        var memory = probe.DeviceMemory();
        return DeviceBudget.Measured(memory.TotalBytes, memory.FreeBytes, Nvml.OtherProcessesBytes(probe.Device) ?? 0, options, overrideSize?.Bytes);
    }
}
