namespace ZImageSharp.Contracts;

public sealed record GpuReport(
    int Index,
    string Name,
    long TotalBytes,
    long FreeBytes,
    long? AllocatedBytes,
    long? ReservedBytes,
    long? PeakAllocatedBytes,
    long? OtherProcessesBytes,
    string? Driver);

/// <summary>What the engine runs on: device, libtorch, model and the memory it sees now.</summary>
/// <param name="SpeedProfile">Which speed profile its plans predict times with (<c>PlanReport.SpeedSource</c>).</param>
public sealed record SystemReport(
    string Device,
    string LibTorch,
    IReadOnlyList<GpuReport> Gpus,
    ModelInfo Model,
    string? CurrentPlan,
    string? SpeedProfile = null);

public interface ISystemInfo
{
    SystemReport Describe();
}
