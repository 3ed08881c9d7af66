using System.Runtime.InteropServices;
using System.Text;

namespace ZImageSharp.Engine.Cuda;

/// <summary>What NVRTC produced for one source: a cubin for the device's real architecture, or PTX that the driver
/// compiles when it loads it.</summary>
internal sealed record CompiledKernel(byte[] Image, bool IsCubin);

/// <summary>A compilation NVRTC refused, with its log (the first lines say which line of the source failed).</summary>
internal sealed class NvrtcCompileException(string message) : Exception(message);

/// <summary>
/// The runtime compiler of CUDA C++ (libnvrtc, shipped by every CUDA build of PyTorch as the nvidia-cuda-nvrtc wheel),
/// so the engine can build its own kernels for the card it runs on without a CUDA toolkit. The library name is
/// resolved by <see cref="CudaLibraryResolver"/>.
/// </summary>
internal static partial class Nvrtc
{
    internal const string Library = "zimage-nvrtc";

    [LibraryImport(Library)] private static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(Library)] private static partial IntPtr nvrtcGetErrorString(int result);
    [LibraryImport(Library)] private static partial int nvrtcCreateProgram(out IntPtr program, byte[] source, byte[] name, int numHeaders, IntPtr headers, IntPtr includeNames);
    [LibraryImport(Library)] private static partial int nvrtcDestroyProgram(ref IntPtr program);
    [LibraryImport(Library)] private static partial int nvrtcCompileProgram(IntPtr program, int numOptions, IntPtr[] options);
    [LibraryImport(Library)] private static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);
    [LibraryImport(Library)] private static partial int nvrtcGetProgramLog(IntPtr program, byte[] log);
    [LibraryImport(Library)] private static partial int nvrtcGetCUBINSize(IntPtr program, out nuint size);
    [LibraryImport(Library)] private static partial int nvrtcGetCUBIN(IntPtr program, byte[] cubin);
    [LibraryImport(Library)] private static partial int nvrtcGetPTXSize(IntPtr program, out nuint size);
    [LibraryImport(Library)] private static partial int nvrtcGetPTX(IntPtr program, byte[] ptx);

    /// <summary>"13.0"; throws <see cref="DllNotFoundException"/> when no NVRTC can be found.</summary>
    public static string Version()
    {
        Check(nvrtcVersion(out int major, out int minor), "nvrtcVersion");
        return $"{major}.{minor}";
    }

    /// <summary>The options every kernel is compiled with, for <paramref name="arch"/> such as "sm_90".</summary>
    public static string[] Options(string arch) => [$"--gpu-architecture={arch}", "-default-device", "--std=c++17"];

    /// <summary>Compiles <paramref name="source"/> for <paramref name="arch"/>; a cubin when NVRTC gives one, else PTX.</summary>
    public static CompiledKernel Compile(string source, string name, string arch)
    {
        Check(nvrtcCreateProgram(out var program, Utf8Z(source), Utf8Z(name), 0, IntPtr.Zero, IntPtr.Zero), "nvrtcCreateProgram");
        var options = Options(arch).Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
        try
        {
            int status = nvrtcCompileProgram(program, options.Length, options);
            if (status != 0)
                throw new NvrtcCompileException($"NVRTC could not compile {name} for {arch} ({ErrorString(status)}): {Log(program).Trim()}");
            if (nvrtcGetCUBINSize(program, out var cubinSize) == 0 && cubinSize > 0)
            {
                var cubin = new byte[cubinSize];
                Check(nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
                return new CompiledKernel(cubin, IsCubin: true);
            }
            Check(nvrtcGetPTXSize(program, out var ptxSize), "nvrtcGetPTXSize");
            var ptx = new byte[ptxSize]; // includes the terminating NUL the driver needs
            Check(nvrtcGetPTX(program, ptx), "nvrtcGetPTX");
            return new CompiledKernel(ptx, IsCubin: false);
        }
        finally
        {
            foreach (var o in options) Marshal.FreeCoTaskMem(o);
            nvrtcDestroyProgram(ref program);
        }
    }

    private static string Log(IntPtr program)
    {
        if (nvrtcGetProgramLogSize(program, out var size) != 0 || size <= 1) return "(no log)";
        var log = new byte[size];
        return nvrtcGetProgramLog(program, log) == 0 ? Encoding.UTF8.GetString(log, 0, log.Length - 1) : "(no log)";
    }

    private static byte[] Utf8Z(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static string ErrorString(int status) => Marshal.PtrToStringUTF8(nvrtcGetErrorString(status)) ?? $"error {status}";

    private static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed: {ErrorString(status)}");
    }
}
