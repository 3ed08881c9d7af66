using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Cuda;

/// <summary>
/// The few CUDA driver calls that load and launch a module built by <see cref="Nvrtc"/>. The runtime API torch uses
/// has no way to load a cubin, so the module goes into the device's primary context, the one torch's runtime already
/// made, and kernels launched from it share torch's memory and streams.
/// </summary>
internal static unsafe partial class CudaDriver
{
    internal const string Library = "zimage-cuda";

    public const int AttributeMultiprocessorCount = 16;
    public const int AttributeComputeCapabilityMajor = 75;
    public const int AttributeComputeCapabilityMinor = 76;

    [LibraryImport(Library)] private static partial int cuInit(uint flags);
    [LibraryImport(Library)] private static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] private static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Library)] private static partial int cuCtxGetCurrent(out IntPtr context);
    [LibraryImport(Library)] private static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(Library)] private static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);
    [LibraryImport(Library)] private static partial int cuModuleLoadData(out IntPtr module, byte* image);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] private static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);
    [LibraryImport(Library)] private static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ,
        uint blockX, uint blockY, uint blockZ, uint sharedBytes, IntPtr stream, void** parameters, void** extra);
    [LibraryImport(Library)] private static partial int cuGetErrorString(int error, out IntPtr text);

    /// <summary>The driver's device handle for a CUDA ordinal (the same numbering as torch's cuda:N).</summary>
    public static int Device(int ordinal)
    {
        Check(cuInit(0), "cuInit");
        Check(cuDeviceGet(out int device, ordinal), "cuDeviceGet");
        return device;
    }

    public static int Attribute(int device, int attribute)
    {
        Check(cuDeviceGetAttribute(out int value, attribute, device), "cuDeviceGetAttribute");
        return value;
    }

    /// <summary>"sm_90" for a compute capability 9.0 card.</summary>
    public static string Architecture(int device) =>
        $"sm_{Attribute(device, AttributeComputeCapabilityMajor)}{Attribute(device, AttributeComputeCapabilityMinor)}";

    /// <summary>The device's primary context, retained once for the life of the process (torch never releases it
    /// either).</summary>
    public static IntPtr PrimaryContext(int device)
    {
        Check(cuDevicePrimaryCtxRetain(out var context, device), "cuDevicePrimaryCtxRetain");
        return context;
    }

    /// <summary>Makes <paramref name="context"/> current on this thread: a .NET thread that has not touched CUDA yet
    /// has none, and the driver calls below act on the current one.</summary>
    public static void MakeCurrent(IntPtr context)
    {
        Check(cuCtxGetCurrent(out var current), "cuCtxGetCurrent");
        if (current != context) Check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    public static IntPtr LoadModule(CompiledKernel kernel)
    {
        fixed (byte* image = kernel.Image)
        {
            Check(cuModuleLoadData(out var module, image), "cuModuleLoadData");
            return module;
        }
    }

    public static IntPtr Function(IntPtr module, string name)
    {
        Check(cuModuleGetFunction(out var function, module, name), $"cuModuleGetFunction({name})");
        return function;
    }

    /// <summary>Launches a 1-D grid; <paramref name="parameters"/> holds one pointer to each kernel argument.</summary>
    public static void Launch(IntPtr function, uint blocks, uint threads, IntPtr stream, void** parameters) =>
        Check(cuLaunchKernel(function, blocks, 1, 1, threads, 1, 1, 0, stream, parameters, null), "cuLaunchKernel");

    private static void Check(int status, string call)
    {
        if (status == 0) return;
        string text = cuGetErrorString(status, out var ptr) == 0 && ptr != IntPtr.Zero ? Marshal.PtrToStringUTF8(ptr) ?? "" : "";
        throw new InvalidOperationException($"{call} failed: CUDA driver error {status} {text}".TrimEnd());
    }
}
