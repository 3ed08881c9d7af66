using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Cuda.Kernels;

namespace ZImageSharp.Engine.Tests.Cuda;

public sealed class KernelCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "zimage-kernels-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void KeyChangesWithEverythingThatChangesTheBinary()
    {
        string[] options = Nvrtc.Options("sm_90");
        string key = KernelCache.Key(SwiGluKernelSource.Source, "sm_90", "13.0", options);
        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Equal(key, KernelCache.Key(SwiGluKernelSource.Source, "sm_90", "13.0", options));
        Assert.NotEqual(key, KernelCache.Key(SwiGluKernelSource.Source, "sm_89", "13.0", Nvrtc.Options("sm_89")));
        Assert.NotEqual(key, KernelCache.Key(SwiGluKernelSource.Source, "sm_90", "12.8", options));
        Assert.NotEqual(key, KernelCache.Key(SwiGluKernelSource.Source + " ", "sm_90", "13.0", options));
        Assert.NotEqual(key, KernelCache.Key(SwiGluKernelSource.Source, "sm_90", "13.0", [.. options, "-lineinfo"]));
    }

    [Fact]
    public void OptionsNameTheArchitecture()
    {
        Assert.Equal(["--gpu-architecture=sm_86", "-default-device", "--std=c++17"], Nvrtc.Options("sm_86"));
    }

    [Fact]
    public void DefaultFolderFollowsXdgCacheHomeThenHome()
    {
        Assert.Equal(Path.Combine("/x/cache", "zimage", "kernels"),
            KernelCache.DefaultDirectory(n => n == "XDG_CACHE_HOME" ? "/x/cache" : null));
        Assert.Equal(Path.Combine("/home/u", ".cache", "zimage", "kernels"),
            KernelCache.DefaultDirectory(n => n == "HOME" ? "/home/u" : null));
    }

    [Fact]
    public void CompilesOnceThenReadsTheFile()
    {
        var cache = new KernelCache(_dir);
        byte[] cubin = [0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 2, 3];
        int compiles = 0;
        CompiledKernel Compile() { compiles++; return new CompiledKernel(cubin, IsCubin: true); }

        var first = cache.GetOrCompile("abc", Compile, out bool firstCached);
        Assert.False(firstCached);
        Assert.Equal(cubin, first.Image);
        Assert.Equal(Path.Combine(_dir, "abc.cubin"), cache.PathFor("abc", cubin: true));
        Assert.Equal(cubin, File.ReadAllBytes(cache.PathFor("abc", cubin: true)));
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));

        // Another process (a new cache object) gets the file and does not compile.
        var second = new KernelCache(_dir).GetOrCompile("abc", Compile, out bool secondCached);
        Assert.True(secondCached);
        Assert.True(second.IsCubin);
        Assert.Equal(cubin, second.Image);
        Assert.Equal(1, compiles);
    }

    [Fact]
    public void PtxIsCachedUnderItsOwnExtension()
    {
        var cache = new KernelCache(_dir);
        byte[] ptx = [(byte)'.', (byte)'v', 0];
        cache.GetOrCompile("k", () => new CompiledKernel(ptx, IsCubin: false), out _);
        Assert.True(File.Exists(Path.Combine(_dir, "k.ptx")));
        var again = cache.GetOrCompile("k", () => throw new InvalidOperationException("must not compile"), out bool cached);
        Assert.True(cached);
        Assert.False(again.IsCubin);
        Assert.Equal(ptx, again.Image);
    }

    /// <summary>An empty file (a crash between create and write with a non-atomic writer) is not a kernel.</summary>
    [Fact]
    public void AnEmptyFileIsCompiledOver()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllBytes(Path.Combine(_dir, "e.cubin"), []);
        var kernel = new KernelCache(_dir).GetOrCompile("e", () => new CompiledKernel([9, 9], IsCubin: true), out bool cached);
        Assert.False(cached);
        Assert.Equal([9, 9], File.ReadAllBytes(Path.Combine(_dir, "e.cubin")));
        Assert.Equal([9, 9], kernel.Image);
    }

    [Fact]
    public void AtomicWriteReplacesTheFileAndLeavesNoTemporary()
    {
        var path = Path.Combine(_dir, "sub", "w.cubin");
        KernelCache.WriteAtomically(path, [1, 2, 3]);
        KernelCache.WriteAtomically(path, [4, 5]);
        Assert.Equal([4, 5], File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void AFailedWriteRemovesItsTemporary()
    {
        Directory.CreateDirectory(_dir);
        var target = Path.Combine(_dir, "taken");
        Directory.CreateDirectory(target); // a folder where the file should go: the rename fails
        Assert.ThrowsAny<IOException>(() => KernelCache.WriteAtomically(target, [1]));
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
