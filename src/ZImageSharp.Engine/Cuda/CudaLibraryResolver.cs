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
        return IntPtr.Zero;
    }
}
