using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// RMSNorm over the last dimension. The statistics run in float32 and the normalised value is cast back to the input
/// dtype before the gain is applied: diffusers' RMSNorm and transformers' Qwen3RMSNorm both do exactly this, so bf16
/// runs match the references. TorchSharp 0.107 has no RMSNorm of its own.
/// </summary>
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

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var normed = xf * rsqrt(xf.pow(2).mean([-1L], keepdim: true) + _eps);
        return (normed.to(x.dtype) * weight).MoveToOuterDisposeScope();
    }
}
