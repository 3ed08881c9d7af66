using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// RMSNorm over the last dimension. The statistics run in float32 and the normalised value is rounded to the input
/// dtype before the gain is applied: diffusers' RMSNorm and transformers' Qwen3RMSNorm both do exactly this, so bf16
/// runs match the references. TorchSharp 0.107 has no RMSNorm of its own.
/// </summary>
/// <remarks>
/// The references spend six full-size kernels (upcast, square, mean, scale, downcast, gain), two of them writing
/// float32 copies. Here the sum of squares comes from one <c>vector_norm</c> pass over a float32 copy, and the scale
/// is applied in place to the input dtype: a bf16 tensor multiplied in place by a float32 factor is computed in
/// float32 and rounded once, which is bit for bit the reference's <c>(x.float() * r).to(bf16)</c>. The only difference
/// is the sum of squares taken as ‖x‖² (one extra float32 rounding, ~1e-7 relative), far below bf16's 4e-3.
/// See docs/performance.md for the byte counts.
/// </remarks>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
#pragma warning disable IDE1006 // parameter names are the checkpoint keys
    public readonly Parameter weight;
#pragma warning restore IDE1006

    public RmsNorm(long dim, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(dim));
        RegisterComponents();
    }

    /// <summary>Normalises a copy of <paramref name="x"/>; the input is left untouched.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var factor = InverseRms(x);
        var result = x.clone();
        return Scale(result, factor).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Normalises <paramref name="x"/> in place and returns it: for intermediates the caller owns (projection outputs,
    /// branch outputs), which saves the copy <see cref="forward"/> makes.
    /// </summary>
    public Tensor ForwardInPlace(Tensor x)
    {
        using var factor = InverseRms(x);
        return Scale(x, factor);
    }

    /// <summary>1/√(mean(x²) + eps) in float32, shaped [..., 1].</summary>
    private Tensor InverseRms(Tensor x)
    {
        using var scope = NewDisposeScope();
        long dim = x.shape[^1];
        // x.to(Float32) is the tensor itself when x is already float32 (CPU tests).
        var xf = x.to(ScalarType.Float32);
        // Tensor.norm is libtorch's vector norm too; linalg.vector_norm(x, 2) would pass TorchSharp's own Scalar for
        // the order, which a collection can free mid-call (Scalars).
        var norm = xf.norm(-1, keepdim: true, p: 2);                                             // [..., 1] float32
        xf.Dispose();
        // ‖x‖²/dim + eps as one addcmul: short captions make the text encoder launch-bound, so kernels count.
        return addcmul(Epsilon(norm), norm, norm, Scalars.Of(1.0 / dim)).rsqrt_().MoveToOuterDisposeScope();
    }

    /// <summary>eps as a one-element float32 tensor on <paramref name="like"/>'s device, made once per device.</summary>
    private Tensor Epsilon(Tensor like)
    {
        if (_epsilon is null || _epsilon.device_type != like.device_type || _epsilon.device_index != like.device_index)
        {
            _epsilon?.Dispose();
            _epsilon = full([1], Scalars.Of(_eps), ScalarType.Float32, like.device).DetachFromDisposeScope();
        }
        return _epsilon;
    }
    private Tensor? _epsilon;

    private Tensor Scale(Tensor x, Tensor factor) => x.mul_(factor).mul_(weight);
}
