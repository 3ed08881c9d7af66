using TorchSharp;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Cuda.Kernels;

/// <summary>Which implementation <see cref="FusedSwiGlu"/> runs for a pair of tensors.</summary>
internal enum SwiGluPath { Kernel, Reference }

/// <summary>
/// <c>silu(a) · b</c>, the gate of the SwiGLU feed-forward, in one pass: the own NVRTC kernel for contiguous bf16 CUDA
/// tensors of one shape, the torch ops (the reference, bit-identical by construction) for anything else.
/// </summary>
internal static class FusedSwiGlu
{
    /// <summary>A new tensor silu(a)·b.</summary>
    public static Tensor Run(Tensor a, Tensor b)
    {
        if (Module(a, b) is not { } module) return Reference(a, b);
        var output = empty_like(a);
        module.Launch(TorchNative.DataPointer(a), TorchNative.DataPointer(b), TorchNative.DataPointer(output), a.numel());
        return output;
    }

    /// <summary>a ← silu(a)·b, without the extra buffer (the widest activations of the model).</summary>
    public static void RunInPlace(Tensor a, Tensor b)
    {
        if (Module(a, b) is not { } module)
        {
            a.silu_();
            a.mul_(b);
            return;
        }
        var pa = TorchNative.DataPointer(a);
        module.Launch(pa, TorchNative.DataPointer(b), pa, a.numel());
    }

    /// <summary>The torch ops: what the kernel must equal and what runs wherever it cannot.</summary>
    public static Tensor Reference(Tensor a, Tensor b)
    {
        using var gate = nn.functional.silu(a);
        return gate.mul(b);
    }

    /// <summary>Where <paramref name="a"/> and <paramref name="b"/> would go under <paramref name="choice"/>, with the
    /// reason when it is the reference.</summary>
    public static SwiGluPath Choose(Tensor a, Tensor b, KernelChoice choice, out string reason)
    {
        reason = Unsupported(a, b) ?? (choice == KernelChoice.Torch ? $"{OwnKernels.EnvironmentVariable}=torch" : "");
        if (reason.Length > 0) return SwiGluPath.Reference;
        var status = OwnKernels.Status(a.device, choice);
        reason = status.Available ? "" : status.Description;
        return status.Available ? SwiGluPath.Kernel : SwiGluPath.Reference;
    }

    private static SwiGluModule? Module(Tensor a, Tensor b) => Unsupported(a, b) is null ? OwnKernels.SwiGlu(a.device) : null;

    /// <summary>Why the kernel cannot take these tensors, or null when it can.</summary>
    private static string? Unsupported(Tensor a, Tensor b)
    {
        if (a.device_type != DeviceType.CUDA) return "not on CUDA";
        if (a.dtype != ScalarType.BFloat16 || b.dtype != ScalarType.BFloat16) return $"{a.dtype}/{b.dtype}, not bf16";
        if (a.device.index != b.device.index || b.device_type != DeviceType.CUDA) return "on different devices";
        if (!a.shape.SequenceEqual(b.shape)) return "shapes differ";
        if (!a.is_contiguous() || !b.is_contiguous()) return "not contiguous";
        return null;
    }
}
