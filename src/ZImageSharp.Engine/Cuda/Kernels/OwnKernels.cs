using System.Collections.Concurrent;
using TorchSharp;
using ZImageSharp.Engine.Native;

namespace ZImageSharp.Engine.Cuda.Kernels;

/// <summary>Whether the engine may use its own NVRTC kernels (<c>ZIMAGE_KERNELS</c>).</summary>
public enum KernelChoice
{
    /// <summary>Use them where NVRTC compiled them for this card; torch ops otherwise.</summary>
    Auto,

    /// <summary>Always the torch ops (the reference).</summary>
    Torch,
}

/// <summary>Whether the own kernels run on a device, and the one line that says why or why not.</summary>
public sealed record KernelBackendStatus(bool Available, string Description);

/// <summary>
/// The engine's own CUDA kernels, built at run time by NVRTC for the card in use, once per process per device (the
/// binary is cached on disk by <see cref="KernelCache"/>). Anything that keeps them from running (a CPU device, no
/// NVRTC, a compile error, <c>ZIMAGE_KERNELS=torch</c>) leaves the torch ops in place, and
/// <see cref="Status"/> says which.
/// </summary>
public static class OwnKernels
{
    public const string EnvironmentVariable = "ZIMAGE_KERNELS";

    private static readonly ConcurrentDictionary<int, Lazy<(KernelBackendStatus Status, SwiGluModule? Module)>> Devices = new();
    private static readonly Lazy<KernelChoice> ChoiceFromEnvironment = new(() => ParseChoice(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    /// <summary>The choice from <c>ZIMAGE_KERNELS</c>: unset, "auto" or "torch".</summary>
    public static KernelChoice Choice => ChoiceFromEnvironment.Value;

    public static KernelChoice ParseChoice(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => KernelChoice.Auto,
        "torch" => KernelChoice.Torch,
        _ => throw new ArgumentException($"{EnvironmentVariable} must be auto or torch (got '{text}')."),
    };

    /// <summary>Whether the own kernels run on <paramref name="device"/>; the first call for a CUDA device compiles
    /// (or loads from the cache) and loads them.</summary>
    public static KernelBackendStatus Status(torch.Device device) => Status(device, Choice);

    internal static KernelBackendStatus Status(torch.Device device, KernelChoice choice)
    {
        if (device.type != DeviceType.CUDA)
            return new(false, "needs CUDA (this process runs on the CPU); the torch ops run instead");
        if (choice == KernelChoice.Torch)
            return new(false, $"off ({EnvironmentVariable}=torch); the torch ops run instead");
        return Load(device).Status;
    }

    /// <summary>The loaded SwiGLU module for a CUDA device, or null when the torch ops must run.</summary>
    internal static SwiGluModule? SwiGlu(torch.Device device) =>
        device.type == DeviceType.CUDA && Choice == KernelChoice.Auto ? Load(device).Module : null;

    private static (KernelBackendStatus Status, SwiGluModule? Module) Load(torch.Device device)
    {
        int index = Math.Max(device.index, 0);
        return Devices.GetOrAdd(index, i => new(() => TryLoad(i))).Value;
    }

    private static (KernelBackendStatus, SwiGluModule?) TryLoad(int ordinal)
    {
        string version;
        try { version = Nvrtc.Version(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            var folders = CudaLibraryResolver.SearchFolders;
            string where = folders.Count == 0 ? "the loader path" : $"the loader path and {string.Join(", ", folders.Take(4))}{(folders.Count > 4 ? ", …" : "")}";
            return (new(false, $"NVRTC not found (no libnvrtc.so.* in {where}; pip install nvidia-cuda-nvrtc); the torch ops run instead"), null);
        }
        try
        {
            int device = CudaDriver.Device(ordinal);
            string arch = CudaDriver.Architecture(device);
            var cache = new KernelCache(KernelCache.DefaultDirectory());
            string key = KernelCache.Key(SwiGluKernelSource.Source, arch, version, Nvrtc.Options(arch));
            var kernel = cache.GetOrCompile(key, () => Nvrtc.Compile(SwiGluKernelSource.Source, SwiGluKernelSource.Name, arch), out bool cached);
            var module = SwiGluModule.Load(device, kernel);
            string what = $"NVRTC {version}, {arch}, {(kernel.IsCubin ? "cubin" : "PTX")} {(cached ? "from" : "compiled into")} {cache.PathFor(key, kernel.IsCubin)}; fused SwiGLU on";
            return (new(true, what), module);
        }
        catch (NvrtcCompileException e)
        {
            return (new(false, $"compile error: {e.Message}; the torch ops run instead"), null);
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            return (new(false, $"{e.Message}; the torch ops run instead"), null);
        }
    }
}

/// <summary>The SwiGLU kernels loaded into one device's primary context.</summary>
internal sealed unsafe class SwiGluModule
{
    private const uint Threads = 256;
    private readonly IntPtr _context;
    private readonly IntPtr _vector;
    private readonly IntPtr _scalar;
    private readonly uint _maxBlocks;

    private SwiGluModule(IntPtr context, IntPtr vector, IntPtr scalar, uint maxBlocks) =>
        (_context, _vector, _scalar, _maxBlocks) = (context, vector, scalar, maxBlocks);

    public static SwiGluModule Load(int device, CompiledKernel kernel)
    {
        var context = CudaDriver.PrimaryContext(device);
        CudaDriver.MakeCurrent(context);
        var module = CudaDriver.LoadModule(kernel);
        // Enough blocks to fill every SM several times; the grid-stride loops cover the rest.
        uint maxBlocks = (uint)Math.Max(1, CudaDriver.Attribute(device, CudaDriver.AttributeMultiprocessorCount) * 16);
        return new SwiGluModule(context, CudaDriver.Function(module, SwiGluKernelSource.VectorEntry),
            CudaDriver.Function(module, SwiGluKernelSource.ScalarEntry), maxBlocks);
    }

    /// <summary><paramref name="output"/> = silu(a)·b over <paramref name="count"/> bf16 elements at device addresses;
    /// output may equal a. Enqueued on the legacy default stream, where torch runs its kernels.</summary>
    public void Launch(IntPtr a, IntPtr b, IntPtr output, long count)
    {
        if (count == 0) return;
        CudaDriver.MakeCurrent(_context);
        long start = 0;
        if (((a | b | output) & 15) == 0)
        {
            long chunks = count / SwiGluKernelSource.VectorWidth;
            if (chunks > 0)
            {
                void** args = stackalloc void*[4];
                args[0] = &a; args[1] = &b; args[2] = &output; args[3] = &chunks;
                CudaDriver.Launch(_vector, Blocks(chunks), Threads, CudaStream.Default, args);
            }
            start = chunks * SwiGluKernelSource.VectorWidth;
        }
        if (start < count)
        {
            void** args = stackalloc void*[5];
            args[0] = &a; args[1] = &b; args[2] = &output; args[3] = &start; args[4] = &count;
            CudaDriver.Launch(_scalar, Blocks(count - start), Threads, CudaStream.Default, args);
        }
    }

    private uint Blocks(long work) => (uint)Math.Min(_maxBlocks, (work + Threads - 1) / Threads);
}
