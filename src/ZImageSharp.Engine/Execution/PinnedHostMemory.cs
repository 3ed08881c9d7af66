using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Page-locked host tensors of exactly their size. libtorch's <c>pin_memory()</c> allocates through its caching host
/// allocator, which rounds every block up to a power of two and keeps freed blocks pinned for reuse: on the H200 a
/// plan predicted to hold 19.7 GiB of masters peaked at 29.2 GiB of RSS, and a 16 GiB cgroup killed the process.
/// Here a plain CPU tensor is registered with <c>cudaHostRegister</c> (same copy speed: the copy engine sees pinned
/// pages) and unregistered before it is freed, so the memory goes back to the system with the tensor.
/// </summary>
internal static class PinnedHostMemory
{
    private static readonly Dictionary<nint, long> Registered = [];
    private static readonly Lock Gate = new();

    /// <summary>A new page-locked tensor (uninitialised).</summary>
    public static Tensor Allocate(long[] shape, ScalarType dtype)
    {
        var host = empty(shape, dtype, CPU).DetachFromDisposeScope();
        try
        {
            Register(host);
            return host;
        }
        catch (CudaException)
        {
            // A driver that refuses to register this range: libtorch's pinned allocator still works, at its rounding.
            using (host) return host.pin_memory().DetachFromDisposeScope();
        }
    }

    /// <summary>A page-locked copy of <paramref name="source"/> in <paramref name="dtype"/>.</summary>
    public static Tensor CopyOf(Tensor source, ScalarType dtype)
    {
        var host = Allocate(source.shape, dtype);
        using var noGrad = no_grad();
        host.copy_(source);
        return host;
    }

    /// <summary>True for a tensor registered here.</summary>
    public static bool IsRegistered(Tensor tensor)
    {
        if (tensor.numel() == 0) return false;
        lock (Gate) return Registered.ContainsKey(TorchNative.DataPointer(tensor));
    }

    /// <summary>Unregisters (when registered here) and disposes the tensor.</summary>
    public static void Free(Tensor? tensor)
    {
        if (tensor is null) return;
        if (tensor.numel() > 0 && !tensor.IsInvalid)
        {
            nint ptr = TorchNative.DataPointer(tensor);
            bool mine;
            lock (Gate) mine = Registered.Remove(ptr);
            if (mine) CudaRuntime.cudaHostUnregister(ptr);
        }
        tensor.Dispose();
    }

    private static void Register(Tensor host)
    {
        long bytes = host.numel() * host.ElementSize;
        if (bytes == 0) return;
        nint ptr = TorchNative.DataPointer(host);
        CudaRuntime.Check(CudaRuntime.cudaHostRegister(ptr, (nuint)bytes, 0), "cudaHostRegister");
        lock (Gate) Registered[ptr] = bytes;
    }
}
