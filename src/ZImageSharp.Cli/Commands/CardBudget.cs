using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Native;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands;

/// <summary>The planner's budget and speeds for commands that plan without an engine (`plan`, `doctor`).</summary>
internal static class CardBudget
{
    /// <summary>The speeds to plan with, chosen as the engine chooses them (<see cref="SpeedProfiles.Choose"/>); no
    /// device (an emulated --vram-budget card) means no per-card file and nothing to measure.</summary>
    public static SpeedProfile Speed(EngineSettings settings, ComputeDevice? device) =>
        SpeedProfiles.Choose(settings.SpeedProfile, device is null ? null : CardIdentities.Of(device),
            () => device is null ? null : CardRateProbe.Measure(device));

    /// <summary>A card of exactly <paramref name="size"/> (--vram-budget without a GPU to measure).</summary>
    public static DeviceBudget Emulated(ByteSize size, PlannerOptions options) =>
        DeviceBudget.Measured(size.Bytes, size.Bytes - options.CudaContextBytes, 0, options, size.Bytes);

    /// <summary>The card as it is now: free memory, other processes' memory (NVML), and an optional override.</summary>
    public static DeviceBudget Measured(GpuMemoryProbe probe, PlannerOptions options, ByteSize? overrideSize = null)
    {
        var memory = probe.DeviceMemory();
        return DeviceBudget.Measured(memory.TotalBytes, memory.FreeBytes, Nvml.OtherProcessesBytes(probe.Device, probe.Pool().ReservedBytes) ?? 0, options, overrideSize?.Bytes);
    }

    /// <summary>The host RAM the plan may hold: --ram-budget (the whole process, so the runtime's own share is taken
    /// off), else what this host gives now less the runtime the engine would load.</summary>
    public static (HostBudget Budget, string Where) Host(ByteSize? ramBudget, PlannerOptions options)
    {
        string runtime = $"less {new ByteSize(options.HostRuntimeBytes)} for the runtime";
        if (ramBudget is { } ram)
            return (HostBudget.WithAvailable(ram.Bytes - options.HostRuntimeBytes, options, $"--ram-budget {ram}"), $"{ram} (--ram-budget, {runtime})");
        if (Engine.Host.HostMemoryProbe.Read() is not { } memory)
            return (HostBudget.Unbounded, "not read (host RAM not bounded)");
        return (HostBudget.WithAvailable(memory.AvailableBytes - options.HostRuntimeBytes, options, memory.Source),
            $"{new ByteSize(memory.AvailableBytes)} available ({memory.Source}, {runtime})");
    }
}
