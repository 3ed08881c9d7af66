using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Cuda;

/// <summary>NVML, for what the CUDA runtime cannot tell: memory held by other processes and the driver version.
/// Optional: every caller copes with it being absent.</summary>
internal static partial class Nvml
{
    internal const string Library = "zimage-nvml";

    [StructLayout(LayoutKind.Sequential)]
    public struct Memory { public ulong Total; public ulong Free; public ulong Used; }

    [StructLayout(LayoutKind.Sequential)]
    public struct ProcessInfo { public uint Pid; public ulong UsedGpuMemory; public uint GpuInstanceId; public uint ComputeInstanceId; }

    [LibraryImport(Library)] private static partial int nvmlInit_v2();
    [LibraryImport(Library)] private static partial int nvmlSystemGetDriverVersion(byte[] version, uint length);
    [LibraryImport(Library)] private static partial int nvmlDeviceGetHandleByIndex_v2(uint index, out IntPtr device);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int nvmlDeviceGetHandleByPciBusId_v2(string pciBusId, out IntPtr device);
    [LibraryImport(Library)] private static partial int nvmlDeviceGetMemoryInfo(IntPtr device, out Memory memory);
    [LibraryImport(Library)] private static partial int nvmlDeviceGetComputeRunningProcesses_v3(IntPtr device, ref uint count, [Out] ProcessInfo[]? infos);

    private static readonly Lazy<bool> Available = new(() =>
    {
        try { return nvmlInit_v2() == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    });

    public static bool IsAvailable => Available.Value;

    public static string? DriverVersion()
    {
        if (!IsAvailable) return null;
        var buffer = new byte[96];
        return nvmlSystemGetDriverVersion(buffer, (uint)buffer.Length) == 0
            ? System.Text.Encoding.ASCII.GetString(buffer).TrimEnd('\0')
            : null;
    }

    /// <summary>
    /// NVML's handle of CUDA device <paramref name="cudaIndex"/>: by its PCI bus id, because CUDA's index follows
    /// CUDA_VISIBLE_DEVICES (and CUDA_DEVICE_ORDER) while NVML's counts every GPU of the machine; by index only when
    /// the bus id is unknown.
    /// </summary>
    private static bool TryHandle(int cudaIndex, out IntPtr device)
    {
        if (CudaRuntime.PciBusId(cudaIndex) is { Length: > 0 } bus && nvmlDeviceGetHandleByPciBusId_v2(bus, out device) == 0)
            return true;
        return nvmlDeviceGetHandleByIndex_v2((uint)cudaIndex, out device) == 0;
    }

    /// <summary>Bytes of device memory held by processes other than this one, or null when NVML cannot tell.</summary>
    /// <param name="ownDeviceBytes">What this process holds on the device (its pool's reserved bytes): used to find
    /// its own entry when NVML lists processes by PIDs this process cannot see (a container's PID namespace).</param>
    public static long? OtherProcessesBytes(int cudaIndex, long ownDeviceBytes = 0)
    {
        if (!IsAvailable || !TryHandle(cudaIndex, out var device)) return null;
        uint count = 0;
        nvmlDeviceGetComputeRunningProcesses_v3(device, ref count, null);
        var infos = new ProcessInfo[Math.Max(count, 1) + 8];
        count = (uint)infos.Length;
        if (nvmlDeviceGetComputeRunningProcesses_v3(device, ref count, infos) != 0) return null;
        return OthersFrom(infos.Take((int)count).Select(i => (i.Pid, i.UsedGpuMemory)).ToList(), Environment.ProcessId, ownDeviceBytes);
    }

    /// <summary>
    /// Sums the other processes' memory. This process is its own PID where NVML and the process share a PID namespace.
    /// In a container NVML reports host PIDs, so no entry carries ours: then the entry closest to what we hold (our
    /// pool plus a CUDA context, never less than the pool) is taken to be ours, so the engine's own weights are not
    /// counted as another process's and planned around twice. Entries whose usage NVML cannot read count as zero.
    /// </summary>
    internal static long OthersFrom(IReadOnlyList<(uint Pid, ulong Used)> processes, int selfPid, long ownDeviceBytes)
    {
        const long TypicalContextBytes = 512L << 20;
        var known = processes.Where(p => p.Used != ulong.MaxValue).ToList();
        int own = known.FindIndex(p => p.Pid == (uint)selfPid);
        if (own < 0 && known.Count > 0)
        {
            long expected = ownDeviceBytes + TypicalContextBytes;
            var candidates = known.Select((p, i) => (Index: i, Used: (long)p.Used)).Where(p => p.Used >= ownDeviceBytes).ToList();
            if (candidates.Count > 0)
                own = candidates.MinBy(p => Math.Abs(p.Used - expected)).Index;
        }
        return known.Where((_, i) => i != own).Sum(p => (long)p.Used);
    }
}
