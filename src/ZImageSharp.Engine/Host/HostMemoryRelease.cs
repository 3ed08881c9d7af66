using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Host;

/// <summary>
/// Hands freed host memory back to the operating system after weights move, so that the process's resident set is
/// what the plan holds. Two caches keep freed memory otherwise: glibc's heap (freed tensors of a few MB stay in the
/// arena) and libtorch's caching host allocator (freed pinned masters stay pinned for reuse). Both count against a
/// cgroup limit exactly like live memory.
/// </summary>
public static class HostMemoryRelease
{
    private const string LibTorchCuda = "libtorch_cuda.so";
    // at::cuda::CachingHostAllocator_emptyCache(): exported by the libtorch builds that define it out of line.
    private const string EmptyPinnedCacheSymbol = "_ZN2at4cuda31CachingHostAllocator_emptyCacheEv";
    private static readonly Lazy<nint> EmptyPinnedCache = new(FindEmptyPinnedCache);

    /// <summary>True when libtorch exports the call that empties its pinned-memory cache (doctor reports it).</summary>
    public static bool CanEmptyPinnedCache => EmptyPinnedCache.Value != 0;

    /// <summary>Empties libtorch's pinned cache (where it can) and trims glibc's heap. Cheap; call after a placement
    /// change, never inside a phase.</summary>
    public static unsafe void Release()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (EmptyPinnedCache.Value is var fn and not 0) ((delegate* unmanaged<void>)fn)();
        try { malloc_trim(0); }
        catch (EntryPointNotFoundException) { } // not glibc
        catch (DllNotFoundException) { }
    }

    private static nint FindEmptyPinnedCache()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        // Only a libtorch already loaded by TorchRuntime (CUDA): never load one here.
        if (!NativeLibrary.TryLoad(LibTorchCuda, out var handle)) return 0;
        return NativeLibrary.TryGetExport(handle, EmptyPinnedCacheSymbol, out var fn) ? fn : 0;
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}
