using ZImageSharp.Engine.Cuda;

namespace ZImageSharp.Engine.Tests.Cuda;

/// <summary>Which of NVML's processes is this engine: by PID where it can see its own, by size in a container where NVML
/// reports host PIDs. Counting our own weights as another process's would make the planner leave them out twice.</summary>
public class NvmlAttributionTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void OurOwnPidIsLeftOut() =>
        Assert.Equal(6 * GiB, Nvml.OthersFrom([(100, 6 * GiB), (4242, 20 * GiB)], selfPid: 4242, ownDeviceBytes: 19 * GiB));

    [Fact]
    public void InAContainerOurEntryIsTheOneThatHoldsWhatOurPoolHolds()
    {
        // NVML shows host PIDs 9001 and 9002; we are 7 inside the container and hold 19.5 GiB in our pool.
        (uint, ulong)[] processes = [(9001, (ulong)(6 * GiB)), (9002, (ulong)(20 * GiB))];
        Assert.Equal(6 * GiB, Nvml.OthersFrom(processes, selfPid: 7, ownDeviceBytes: 19 * GiB + GiB / 2));
        // Before the engine allocates anything our entry is the bare context: the small one.
        (uint, ulong)[] atStart = [(9001, (ulong)(30 * GiB)), (9002, (ulong)(GiB / 2))];
        Assert.Equal(30 * GiB, Nvml.OthersFrom(atStart, selfPid: 7, ownDeviceBytes: 0));
    }

    [Fact]
    public void AnEntryLargerThanAnythingWeHoldIsNeverTakenForOurs() =>
        // Our pool is 40 GiB: the 8 GiB process cannot be us, the 41 GiB one is.
        Assert.Equal(8 * GiB, Nvml.OthersFrom([(1, 8 * GiB), (2, 41 * GiB)], selfPid: 7, ownDeviceBytes: 40 * GiB));

    [Fact]
    public void UnreadableUsageCountsAsNothing() =>
        Assert.Equal(GiB, Nvml.OthersFrom([(1, ulong.MaxValue), (2, (ulong)GiB), (7, (ulong)(3 * GiB))], selfPid: 7, ownDeviceBytes: 0));
}
