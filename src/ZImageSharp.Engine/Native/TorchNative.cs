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
}
