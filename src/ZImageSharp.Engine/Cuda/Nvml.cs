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

    /// <summary>Bytes of device memory held by processes other than this one, or null when NVML cannot tell.</summary>
    public static long? OtherProcessesBytes(int index)
    {
        if (!IsAvailable || nvmlDeviceGetHandleByIndex_v2((uint)index, out var device) != 0) return null;
        uint count = 0;
        nvmlDeviceGetComputeRunningProcesses_v3(device, ref count, null);
        var infos = new ProcessInfo[Math.Max(count, 1) + 8];
        count = (uint)infos.Length;
        if (nvmlDeviceGetComputeRunningProcesses_v3(device, ref count, infos) != 0) return null;
        int self = Environment.ProcessId;
        long total = 0;
        for (int i = 0; i < count; i++)
            if (infos[i].Pid != self && infos[i].UsedGpuMemory != ulong.MaxValue)
                total += (long)infos[i].UsedGpuMemory;
        return total;
    }
}
