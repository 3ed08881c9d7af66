namespace ZImageSharp.Engine.Cuda;

/// <summary>
/// Device memory taken outside torch's pool with plain cudaMalloc, to emulate a smaller card (only the requested
/// amount stays free) or another process grabbing memory mid-generation. The engine sees it exactly as it would see
/// another program's memory: less free on the device, nothing in its own pool.
/// </summary>
public sealed class DeviceBallast : IDisposable
{
    private readonly List<IntPtr> _blocks = [];
    private const long ChunkBytes = 1L << 30;

    public long Bytes { get; private set; }

    /// <summary>Takes memory until only <paramref name="freeBytes"/> stay free on the device.</summary>
    public static DeviceBallast LeaveFree(GpuMemoryProbe probe, long freeBytes)
    {
        var ballast = new DeviceBallast();
        long take = probe.DeviceMemory().FreeBytes - freeBytes;
        // In 1 GiB pieces: one huge allocation can fail on fragmentation where pieces succeed.
        while (take > 0)
        {
            long size = Math.Min(take, ChunkBytes);
            CudaRuntime.Check(CudaRuntime.cudaMalloc(out var ptr, (nuint)size), "cudaMalloc(ballast)");
            ballast._blocks.Add(ptr);
            ballast.Bytes += size;
            take -= size;
        }
        return ballast;
    }

    public void Dispose()
    {
        foreach (var block in _blocks) CudaRuntime.cudaFree(block);
        _blocks.Clear();
        Bytes = 0;
    }
}
