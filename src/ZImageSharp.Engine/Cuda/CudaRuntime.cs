using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Cuda;

/// <summary>
/// The few CUDA runtime calls TorchSharp does not expose (memory pool statistics, side streams, events, async copies),
/// bound to the libcudart that torch itself loaded, so both talk to the same context and pool. The library name is
/// resolved by <see cref="CudaLibraryResolver"/>.
/// </summary>
internal static partial class CudaRuntime
{
    internal const string Library = "zimage-cudart";

    public enum MemPoolAttribute
    {
        ReleaseThreshold = 4,
        ReservedMemCurrent = 5,
        ReservedMemHigh = 6,
        UsedMemCurrent = 7,
        UsedMemHigh = 8,
    }

    public enum MemcpyKind { HostToHost = 0, HostToDevice = 1, DeviceToHost = 2, DeviceToDevice = 3, Default = 4 }

    public const uint StreamNonBlocking = 1;
    public const uint EventDisableTiming = 2;

    [LibraryImport(Library)] public static partial int cudaGetDeviceCount(out int count);
    [LibraryImport(Library)] private static partial int cudaDeviceGetPCIBusId(byte[] pciBusId, int length, int device);
    [LibraryImport(Library)] public static partial int cudaSetDevice(int device);
    [LibraryImport(Library)] public static partial int cudaGetDevice(out int device);
    [LibraryImport(Library)] public static partial int cudaMemGetInfo(out nuint free, out nuint total);
    [LibraryImport(Library)] public static partial int cudaDeviceSynchronize();
    [LibraryImport(Library)] public static partial int cudaDriverGetVersion(out int version);
    [LibraryImport(Library)] public static partial int cudaRuntimeGetVersion(out int version);
    [LibraryImport(Library)] public static partial int cudaDeviceGetDefaultMemPool(out IntPtr pool, int device);
    [LibraryImport(Library)] public static partial int cudaMemPoolGetAttribute(IntPtr pool, MemPoolAttribute attr, out ulong value);
    [LibraryImport(Library)] public static partial int cudaMemPoolSetAttribute(IntPtr pool, MemPoolAttribute attr, ref ulong value);
    [LibraryImport(Library)] public static partial int cudaMemPoolTrimTo(IntPtr pool, nuint minBytesToKeep);
    [LibraryImport(Library)] public static partial int cudaStreamCreateWithFlags(out IntPtr stream, uint flags);
    [LibraryImport(Library)] public static partial int cudaStreamDestroy(IntPtr stream);
    [LibraryImport(Library)] public static partial int cudaStreamSynchronize(IntPtr stream);
    [LibraryImport(Library)] public static partial int cudaStreamWaitEvent(IntPtr stream, IntPtr evt, uint flags);
    [LibraryImport(Library)] public static partial int cudaEventCreateWithFlags(out IntPtr evt, uint flags);
    [LibraryImport(Library)] public static partial int cudaEventDestroy(IntPtr evt);
    [LibraryImport(Library)] public static partial int cudaEventRecord(IntPtr evt, IntPtr stream);
    [LibraryImport(Library)] public static partial int cudaEventSynchronize(IntPtr evt);
    [LibraryImport(Library)] public static partial int cudaEventElapsedTime(out float ms, IntPtr start, IntPtr end);
    [LibraryImport(Library)] public static partial int cudaMemcpyAsync(IntPtr dst, IntPtr src, nuint count, MemcpyKind kind, IntPtr stream);
    [LibraryImport(Library)] public static partial int cudaHostRegister(IntPtr ptr, nuint size, uint flags);
    [LibraryImport(Library)] public static partial int cudaHostUnregister(IntPtr ptr);
    [LibraryImport(Library)] public static partial int cudaMalloc(out IntPtr ptr, nuint size);
    [LibraryImport(Library)] public static partial int cudaFree(IntPtr ptr);
    [LibraryImport(Library)] public static partial int cudaMallocHost(out IntPtr ptr, nuint size);
    [LibraryImport(Library)] public static partial int cudaFreeHost(IntPtr ptr);
    [LibraryImport(Library)] public static partial IntPtr cudaGetErrorString(int error);
    [LibraryImport(Library)] public static partial int cudaGetDeviceProperties(IntPtr props, int device);

    /// <summary>Throws with the runtime's own message when a call fails.</summary>
    public static void Check(int status, string call)
    {
        if (status == 0) return;
        string text = Marshal.PtrToStringAnsi(cudaGetErrorString(status)) ?? "unknown error";
        throw new CudaException($"{call} failed: {text} (cudaError {status}).", status);
    }

    /// <summary>The device's marketing name (the first field of cudaDeviceProp, 256 chars).</summary>
    /// <summary>The device's PCI bus id ("0000:3B:00.0"), or null when the runtime cannot tell: the one name CUDA and
    /// NVML share, since CUDA's index follows CUDA_VISIBLE_DEVICES and its ordering while NVML's counts every GPU.</summary>
    public static string? PciBusId(int device)
    {
        var buffer = new byte[32];
        try
        {
            return cudaDeviceGetPCIBusId(buffer, buffer.Length, device) == 0
                ? System.Text.Encoding.ASCII.GetString(buffer).TrimEnd('\0')
                : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    public static string DeviceName(int device)
    {
        // cudaDeviceProp is about 1 KB and grows between CUDA versions; a generous buffer keeps us independent of it.
        IntPtr buffer = Marshal.AllocHGlobal(16 * 1024);
        try
        {
            Check(cudaGetDeviceProperties(buffer, device), "cudaGetDeviceProperties");
            return Marshal.PtrToStringAnsi(buffer) ?? $"cuda:{device}";
        }
        finally { Marshal.FreeHGlobal(buffer); }
    }
}

public sealed class CudaException(string message, int status) : Exception(message)
{
    public int Status { get; } = status;
}
