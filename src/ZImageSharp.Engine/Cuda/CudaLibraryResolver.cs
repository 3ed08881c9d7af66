using System.Reflection;
using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Cuda;

/// <summary>
/// Points our CUDA P/Invokes at the libcudart (and NVML) that is already in the process. dlopen by soname returns the
/// copy torch loaded, so the pool statistics we read are torch's own; the folders of the located libtorch are searched
/// as a fallback.
/// </summary>
internal static class CudaLibraryResolver
{
    private static readonly string[] CudartNames = ["libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"];
    private static readonly string[] NvmlNames = ["libnvidia-ml.so.1", "libnvidia-ml.so"];
    private static readonly string[] TorchCpuNames = ["libtorch_cpu.so"];
    private static readonly string[] DriverNames = ["libcuda.so.1", "libcuda.so"];
    // NVRTC is not loaded by torch; the sonames come first (a system CUDA on the loader path), then the wheels' copy.
    private static readonly string[] NvrtcNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"];
    private static int _installed;
    private static IReadOnlyList<string> _searchFolders = [];

    public static void Install(IReadOnlyList<string> searchFolders)
    {
        _searchFolders = searchFolders;
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(CudaLibraryResolver).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        string[]? candidates = name switch
        {
            CudaRuntime.Library => CudartNames,
            Nvml.Library => NvmlNames,
            "torch_cpu" => TorchCpuNames, // loaded by TorchRuntime already: dlopen by soname returns that copy
            CudaDriver.Library => DriverNames,
            Nvrtc.Library => NvrtcNames,
            _ => null,
        };
        if (candidates is null) return IntPtr.Zero;
        foreach (var soname in candidates)
            if (NativeLibrary.TryLoad(soname, out var handle)) return handle;
        foreach (var folder in _searchFolders)
        foreach (var soname in candidates)
        {
            var file = Path.Combine(folder, soname);
            if (File.Exists(file) && NativeLibrary.TryLoad(file, out var handle)) return handle;
        }
        if (name == Nvrtc.Library && FindNvrtc(_searchFolders) is { } nvrtcFile && NativeLibrary.TryLoad(nvrtcFile, out var nvrtc))
            return nvrtc;
        return IntPtr.Zero;
    }

    /// <summary>
    /// The NVRTC library in <paramref name="folders"/> (torch/lib and site-packages/nvidia/*/lib): pip's
    /// nvidia-cuda-nvrtc wheel ships <c>libnvrtc.so.13</c> (or <c>.12</c>) beside <c>libnvrtc-builtins.so.*</c>, which
    /// NVRTC loads itself and which is not the library to bind. The newest major wins when several are present.
    /// </summary>
    internal static string? FindNvrtc(IEnumerable<string> folders)
    {
        foreach (var folder in folders)
        {
            if (!Directory.Exists(folder)) continue;
            var found = Directory.EnumerateFiles(folder, "libnvrtc.so*")
                .Where(f => !Path.GetFileName(f).StartsWith("libnvrtc-builtins", StringComparison.Ordinal))
                .OrderByDescending(f => MajorOf(Path.GetFileName(f)))
                .FirstOrDefault();
            if (found is not null) return found;
        }
        return null;
    }

    private static int MajorOf(string fileName)
    {
        var parts = fileName.Split('.');
        return parts.Length > 2 && int.TryParse(parts[2], out int major) ? major : -1;
    }

    /// <summary>The folders searched for NVRTC; empty until a CUDA libtorch was brought up.</summary>
    internal static IReadOnlyList<string> SearchFolders => _searchFolders;
}
