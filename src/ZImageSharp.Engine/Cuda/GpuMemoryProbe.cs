namespace ZImageSharp.Engine.Cuda;

/// <summary>Exact pool readings for one device.</summary>
public readonly record struct PoolStats(long AllocatedBytes, long PeakAllocatedBytes, long ReservedBytes);

/// <summary>Free/total as the driver sees them (other processes' memory and our pool's reserve count as used).</summary>
public readonly record struct DeviceMemory(long FreeBytes, long TotalBytes);

/// <summary>
/// Reads device memory without a TorchSharp API. Torch is switched to the cudaMallocAsync backend at start
/// (<see cref="TorchRuntime"/>), so it allocates from the device's default CUDA memory pool, whose attributes give
/// exact allocated, peak and reserved bytes; trimming the pool returns freed memory to the device.
/// </summary>
public sealed class GpuMemoryProbe(int device)
{
    public int Device { get; } = device;

    public DeviceMemory DeviceMemory()
    {
        WithDevice(() => { });
        CudaRuntime.Check(CudaRuntime.cudaMemGetInfo(out var free, out var total), "cudaMemGetInfo");
        return new((long)free, (long)total);
    }

    public PoolStats Pool()
    {
        var pool = DefaultPool();
        return new(
            (long)Get(pool, CudaRuntime.MemPoolAttribute.UsedMemCurrent),
            (long)Get(pool, CudaRuntime.MemPoolAttribute.UsedMemHigh),
            (long)Get(pool, CudaRuntime.MemPoolAttribute.ReservedMemCurrent));
    }

    /// <summary>Starts a new peak window (per phase).</summary>
    public void ResetPeak()
    {
        var pool = DefaultPool();
        ulong zero = 0;
        CudaRuntime.Check(CudaRuntime.cudaMemPoolSetAttribute(pool, CudaRuntime.MemPoolAttribute.UsedMemHigh, ref zero), "cudaMemPoolSetAttribute(UsedMemHigh)");
    }

    /// <summary>Sets the pool's release threshold to its maximum, so synchronizations do not return freed memory.</summary>
    public void KeepFreedMemory()
    {
        ulong threshold = ulong.MaxValue;
        CudaRuntime.Check(CudaRuntime.cudaMemPoolSetAttribute(DefaultPool(), CudaRuntime.MemPoolAttribute.ReleaseThreshold, ref threshold),
            "cudaMemPoolSetAttribute(ReleaseThreshold)");
    }

    /// <summary>Returns the pool's free blocks to the device after the device is idle.</summary>
    public void Trim()
    {
        CudaRuntime.Check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        CudaRuntime.Check(CudaRuntime.cudaMemPoolTrimTo(DefaultPool(), 0), "cudaMemPoolTrimTo");
    }

    /// <summary>Returns free pool blocks to the device until at most <paramref name="keepBytes"/> stay reserved.</summary>
    public void TrimTo(long keepBytes)
    {
        CudaRuntime.Check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        CudaRuntime.Check(CudaRuntime.cudaMemPoolTrimTo(DefaultPool(), (nuint)Math.Max(0, keepBytes)), "cudaMemPoolTrimTo");
    }

    private IntPtr DefaultPool()
    {
        CudaRuntime.Check(CudaRuntime.cudaDeviceGetDefaultMemPool(out var pool, Device), "cudaDeviceGetDefaultMemPool");
        return pool;
    }

    private static ulong Get(IntPtr pool, CudaRuntime.MemPoolAttribute attribute)
    {
        CudaRuntime.Check(CudaRuntime.cudaMemPoolGetAttribute(pool, attribute, out var value), $"cudaMemPoolGetAttribute({attribute})");
        return value;
    }

    private void WithDevice(Action action)
    {
        CudaRuntime.Check(CudaRuntime.cudaSetDevice(Device), "cudaSetDevice");
        action();
    }
}
