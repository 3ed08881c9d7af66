using TorchSharp;

namespace ZImageSharp.Engine.Native;

/// <summary>
/// Which attention kernels each model gets on CUDA. Measured on the H100 (docs/benchmarks.md): libtorch's cuDNN
/// attention is the fastest kernel for the DiT's long image sequences, but costs 1–2 ms of host time per call, which
/// is the whole budget of the text encoder over a short caption (35 calls, GPU work of a few ms); there the
/// memory-efficient kernel is fastest (text encoding 150 → 25 ms at 25 tokens).
/// </summary>
public static class AttentionKernels
{
    /// <summary>What the text encoder runs with: no cuDNN, and the memory-efficient kernel preferred over flash.</summary>
    public const SdpBackends TextEncoder = SdpBackends.MemoryEfficient | SdpBackends.Math;

    /// <summary>
    /// Restricts attention on <paramref name="device"/> to <paramref name="kernels"/> until the result is disposed,
    /// then restores what was allowed before. The switch is process-wide, which is safe because the engine runs one
    /// generation at a time; nothing happens off CUDA.
    /// </summary>
    public static IDisposable Use(torch.Device device, SdpBackends kernels)
    {
        if (device.type != DeviceType.CUDA) return Restore.None;
        var previous = TorchNative.GetSdpBackends();
        if (previous == kernels) return Restore.None;
        TorchNative.SetSdpBackends(kernels);
        return new Restore(previous);
    }

    private sealed class Restore(SdpBackends? previous) : IDisposable
    {
        public static readonly Restore None = new(null);

        public void Dispose()
        {
            if (previous is { } kernels) TorchNative.SetSdpBackends(kernels);
        }
    }
}
