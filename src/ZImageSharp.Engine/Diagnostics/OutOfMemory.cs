namespace ZImageSharp.Engine.Diagnostics;

/// <summary>Recognises a CUDA out-of-memory error as TorchSharp surfaces it: an ExternalException whose message is
/// libtorch's ("CUDA out of memory. Tried to allocate …" with the caching allocator, "… (out of memory)" with
/// cudaMallocAsync).</summary>
public static class OutOfMemory
{
    public static bool IsOutOfMemory(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is OutOfMemoryException) return false; // managed heap exhaustion is not a device OOM
            var m = x.Message;
            if (m.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
                || m.Contains("CUDA error: out of memory", StringComparison.Ordinal)
                || m.Contains("cudaErrorMemoryAllocation", StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
