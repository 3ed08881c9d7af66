using System.Runtime.InteropServices;
using TorchSharp;

namespace ZImageSharp.Engine.Native;

/// <summary>Entry points of TorchSharp's native shim that its managed API does not expose.</summary>
internal static class TorchNative
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>Address of a tensor's first element (contiguous tensors only; CPU or device memory).</summary>
    public static IntPtr DataPointer(torch.Tensor tensor)
    {
        if (!tensor.is_contiguous())
            throw new InvalidOperationException("A data pointer is only meaningful for a contiguous tensor.");
        var ptr = THSTensor_data(tensor.Handle);
        if (ptr == IntPtr.Zero && tensor.numel() > 0)
            throw new InvalidOperationException("libtorch returned no data pointer for the tensor.");
        return ptr;
    }

    /// <summary>
    /// <paramref name="count"/> bytes of a contiguous CPU uint8 tensor from element <paramref name="offset"/>, as one
    /// block copy (TorchSharp's element accessors take tens of milliseconds for an image).
    /// </summary>
    public static byte[] CopyBytes(torch.Tensor tensor, long offset, int count)
    {
        if (tensor.dtype != torch.ScalarType.Byte || tensor.device_type != DeviceType.CPU)
            throw new ArgumentException($"Expected a uint8 tensor on the CPU; got {tensor.dtype} on {tensor.device}.", nameof(tensor));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + count, tensor.numel(), nameof(count));
        var bytes = new byte[count];
        Marshal.Copy(DataPointer(tensor) + (nint)offset, bytes, 0, count);
        return bytes;
    }

    // libtorch's global context (at::globalContext()) has no C entry point in TorchSharp's shim; its C++ methods are
    // exported from libtorch_cpu under their Itanium names and take the context as the first argument.
    private const string TorchCpu = "torch_cpu";

    [DllImport(TorchCpu, EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport(TorchCpu, EntryPoint = "_ZN2at7Context14setSDPUseFlashEb")]
    private static extern void SetSdpUseFlash(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(TorchCpu, EntryPoint = "_ZN2at7Context21setSDPUseMemEfficientEb")]
    private static extern void SetSdpUseMemEfficient(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(TorchCpu, EntryPoint = "_ZN2at7Context13setSDPUseMathEb")]
    private static extern void SetSdpUseMath(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(TorchCpu, EntryPoint = "_ZN2at7Context14setSDPUseCuDNNEb")]
    private static extern void SetSdpUseCuDnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(TorchCpu, EntryPoint = "_ZNK2at7Context19userEnabledFlashSDPEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool FlashSdpEnabled(IntPtr context);

    [DllImport(TorchCpu, EntryPoint = "_ZNK2at7Context26userEnabledMemEfficientSDPEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool MemEfficientSdpEnabled(IntPtr context);

    [DllImport(TorchCpu, EntryPoint = "_ZNK2at7Context18userEnabledMathSDPEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool MathSdpEnabled(IntPtr context);

    [DllImport(TorchCpu, EntryPoint = "_ZNK2at7Context19userEnabledCuDNNSDPEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool CuDnnSdpEnabled(IntPtr context);

    /// <summary>
    /// Which kernels <c>scaled_dot_product_attention</c> may choose from (PyTorch's
    /// <c>torch.backends.cuda.enable_*_sdp</c>); returns what is in effect afterwards.
    /// </summary>
    public static SdpBackends SetSdpBackends(SdpBackends enabled)
    {
        var context = GlobalContext();
        SetSdpUseFlash(context, enabled.HasFlag(SdpBackends.Flash));
        SetSdpUseMemEfficient(context, enabled.HasFlag(SdpBackends.MemoryEfficient));
        SetSdpUseMath(context, enabled.HasFlag(SdpBackends.Math));
        SetSdpUseCuDnn(context, enabled.HasFlag(SdpBackends.CuDnn));
        return GetSdpBackends();
    }

    /// <summary>The attention kernels libtorch may choose from now.</summary>
    public static SdpBackends GetSdpBackends()
    {
        var context = GlobalContext();
        return (FlashSdpEnabled(context) ? SdpBackends.Flash : 0)
            | (MemEfficientSdpEnabled(context) ? SdpBackends.MemoryEfficient : 0)
            | (MathSdpEnabled(context) ? SdpBackends.Math : 0)
            | (CuDnnSdpEnabled(context) ? SdpBackends.CuDnn : 0);
    }
}

/// <summary>The kernels behind <c>scaled_dot_product_attention</c> on CUDA.</summary>
[Flags]
public enum SdpBackends
{
    Flash = 1,
    MemoryEfficient = 2,
    Math = 4,
    CuDnn = 8,
}
