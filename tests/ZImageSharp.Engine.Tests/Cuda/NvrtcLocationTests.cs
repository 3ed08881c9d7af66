using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Native;

namespace ZImageSharp.Engine.Tests.Cuda;

public sealed class NvrtcLocationTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "zimage-nvrtc-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string Touch(params string[] parts)
    {
        var path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, []);
        return path;
    }

    /// <summary>A pip layout: torch/lib next to nvidia/cuda_nvrtc/lib, found through the same folders the resolver
    /// is installed with (the libtorch's NvidiaLibFolders).</summary>
    [Fact]
    public void FindsTheWheelsNvrtcAndSkipsTheBuiltins()
    {
        Touch("site-packages", "torch", "lib", "libtorch.so");
        Touch("site-packages", "torch", "lib", "libtorch_cpu.so");
        Touch("site-packages", "nvidia", "cuda_nvrtc", "lib", "libnvrtc-builtins.so.13.0");
        var nvrtc = Touch("site-packages", "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.13");
        Touch("site-packages", "nvidia", "cuda_runtime", "lib", "libcudart.so.13");

        var lib = LibTorchLocator.Find(Path.Combine(_root, "site-packages"), out _);
        Assert.NotNull(lib);
        Assert.Equal(nvrtc, CudaLibraryResolver.FindNvrtc([lib.LibFolder, .. lib.NvidiaLibFolders]));
    }

    [Fact]
    public void TheNewestMajorWins()
    {
        Touch("lib", "libnvrtc.so.12");
        var newest = Touch("lib", "libnvrtc.so.13");
        Assert.Equal(newest, CudaLibraryResolver.FindNvrtc([Path.Combine(_root, "lib")]));
    }

    [Fact]
    public void NoneWhenOnlyTheBuiltinsAreThere()
    {
        Touch("lib", "libnvrtc-builtins.so.13.0");
        Assert.Null(CudaLibraryResolver.FindNvrtc([Path.Combine(_root, "lib"), Path.Combine(_root, "missing")]));
    }
}
