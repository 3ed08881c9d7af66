using System.Runtime.InteropServices;
using TorchSharp;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Cuda.Kernels;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Native;

/// <summary>Where the engine computes, as decided once at start-up.</summary>
public sealed record ComputeDevice(torch.Device Device, string Description, LibTorchInstallation? LibTorch, GpuMemoryProbe? Memory)
{
    public bool IsCuda => Device.type == DeviceType.CUDA;
}

/// <summary>
/// Brings libtorch up exactly once, before anything touches <c>torch</c> (its static constructor loads the native
/// backend, and a failure there poisons the type for the life of the process). For CUDA it preloads the libraries of
/// an installed PyTorch by absolute path, so TorchSharp's shim binds to them by soname, and it switches torch's
/// allocator to cudaMallocAsync so pool statistics are exact.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static ComputeDevice? _current;

    public const string AllocatorConfig = "backend:cudaMallocAsync";

    /// <summary>Parses "auto", "cpu", "cuda" or "cuda:N".</summary>
    public static (DeviceType Type, int Index, bool Auto) ParseDevice(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "auto") return (DeviceType.CUDA, 0, true);
        if (t == "cpu") return (DeviceType.CPU, 0, false);
        if (t == "cuda") return (DeviceType.CUDA, 0, false);
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t.AsSpan(5), out int index) && index >= 0)
            return (DeviceType.CUDA, index, false);
        throw new ArgumentException($"--device must be auto, cpu, cuda or cuda:N (got '{text}').");
    }

    public static ComputeDevice Initialize(string device = "auto", string? libTorchPath = null)
    {
        lock (Gate)
        {
            var (type, index, auto) = ParseDevice(device);
            // A mistyped ZIMAGE_KERNELS fails here, at start-up, not in the middle of the first generation.
            _ = OwnKernels.Choice;
            // An explicit CUDA request on a machine without a CUDA libtorch fails the same way whatever ran before.
            if (type == DeviceType.CUDA && !auto) LocateCudaLibTorch(libTorchPath);
            if (_current is not null)
            {
                // libtorch is loaded once per process: the first initialization decides the device.
                if (auto || (type == _current.Device.type && (type == DeviceType.CPU || index == _current.Device.index)))
                    return _current;
                throw new DeviceUnavailableException($"This process already runs on {_current.Description}; {device} cannot be used as well.",
                    "Hint: start another process for another device.");
            }
            _current = type == DeviceType.CPU ? InitializeCpu(null) : InitializeCuda(index, auto, libTorchPath);
            return _current;
        }
    }

    private static ComputeDevice InitializeCpu(LibTorchInstallation? lib)
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException)
        {
            throw new DeviceUnavailableException(
                "libtorch could not be loaded, so the engine cannot run.",
                $"Hint: this build carries no libtorch of its own; install PyTorch (pip install torch) or set {LibTorchLocator.EnvironmentVariable} to its torch/lib folder.",
                e);
        }
        return new ComputeDevice(torch.CPU, $"CPU ({Environment.ProcessorCount} threads)", lib, null);
    }

    private static ComputeDevice InitializeCuda(int index, bool auto, string? libTorchPath)
    {
        var lib = LibTorchLocator.Find(libTorchPath, out _);
        if (lib is null || !lib.HasCuda)
        {
            if (auto) return InitializeCpu(lib);
            lib = LocateCudaLibTorch(libTorchPath);
        }

        if (NativeEnvironment.Get("PYTORCH_CUDA_ALLOC_CONF") is not { Length: > 0 })
            NativeEnvironment.Set("PYTORCH_CUDA_ALLOC_CONF", AllocatorConfig);
        Preload(lib);
        CudaLibraryResolver.Install([lib.LibFolder, .. lib.NvidiaLibFolders]);

        bool available;
        try
        {
            available = torch.TryInitializeDeviceType(DeviceType.CUDA) && torch.cuda.is_available();
        }
        catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException or ExternalException)
        {
            throw new DeviceUnavailableException(
                $"The libtorch at {lib.LibFolder} could not be loaded with CUDA: {FirstLine(e)}",
                $"Hint: check that its CUDA version matches the driver (nvidia-smi), or run with --device cpu.", e);
        }
        if (!available)
        {
            if (auto) return new ComputeDevice(torch.CPU, $"CPU ({Environment.ProcessorCount} threads; CUDA not available)", lib, null);
            throw new DeviceUnavailableException(
                $"CUDA was requested and {lib} loaded, but it reports no usable GPU.",
                "Hint: check the NVIDIA driver with nvidia-smi, CUDA_VISIBLE_DEVICES, or run with --device cpu.");
        }
        int count = torch.cuda.device_count();
        if (index >= count)
            throw new DeviceUnavailableException($"cuda:{index} was requested, but this machine has {count} CUDA device(s).",
                $"Hint: use cuda:0 … cuda:{count - 1}.");

        // fp32 parity runs must be real fp32; bf16 inference does not use TF32 either way.
        torch.backends.cuda.matmul.allow_tf32 = false;
        torch.backends.cudnn.allow_tf32 = false;
        var sdp = Environment.GetEnvironmentVariable("ZIMAGE_SDP");
        if (!string.IsNullOrEmpty(sdp)) TorchNative.SetSdpBackends(Enum.Parse<SdpBackends>(sdp.Replace('+', ','), ignoreCase: true));
        CudaRuntime.Check(CudaRuntime.cudaSetDevice(index), "cudaSetDevice");
        var name = CudaRuntime.DeviceName(index);
        var probe = new GpuMemoryProbe(index);
        // Keep freed blocks in the pool across synchronizations: with the default threshold of 0 every synchronize
        // hands them back to the driver and the next generation pays to map them again. The engine trims explicitly
        // (after an out-of-memory error, or when placements change) instead.
        probe.KeepFreedMemory();
        return new ComputeDevice(torch.device(DeviceType.CUDA, index), $"cuda:{index} {name}", lib, probe);
    }

    /// <summary>The kernels libtorch's attention may choose from on CUDA.</summary>
    public static SdpBackends AttentionKernels => TorchNative.GetSdpBackends();

    /// <summary>The installed libtorch with CUDA, or the one-sentence error that says where we looked.</summary>
    public static LibTorchInstallation LocateCudaLibTorch(string? libTorchPath)
    {
        var lib = LibTorchLocator.Find(libTorchPath, out var searched);
        if (lib is { HasCuda: true }) return lib;
        string where = lib is null
            ? $"no libtorch was found (looked in {string.Join(", ", searched.Take(8))}{(searched.Count > 8 ? ", …" : "")})"
            : $"the libtorch found has no CUDA support ({lib})";
        throw new DeviceUnavailableException(
            $"CUDA was requested, but {where}.",
            $"Hint: install PyTorch with CUDA (pip install torch) or point --libtorch / {LibTorchLocator.EnvironmentVariable} at its site-packages/torch/lib folder; or run with --device cpu.");
    }

    private static void Preload(LibTorchInstallation lib)
    {
        // Order matters: each library's dependencies must already be resident or findable through its RUNPATH.
        foreach (var name in new[] { "libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so" })
        {
            var file = Path.Combine(lib.LibFolder, name);
            if (!File.Exists(file)) continue;
            try { NativeLibrary.Load(file); }
            catch (DllNotFoundException e)
            {
                throw new DeviceUnavailableException($"Loading {file} failed: {FirstLine(e)}",
                    "Hint: the PyTorch install may be incomplete or built for another platform; reinstall it or pass --libtorch.", e);
            }
        }
    }

    private static string FirstLine(Exception e) => e.Message.Split('\n', 2)[0].Trim();
}
