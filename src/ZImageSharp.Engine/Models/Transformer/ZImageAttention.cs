using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (ZSingleStreamAttnProcessor)

/// <summary>
/// Multi-head self-attention of the S3-DiT: bias-free Q/K/V projections, per-head RMSNorm on Q and K, interleaved
/// 3-D RoPE, SDPA (default 1/√head_dim scale, non-causal) and a bias-free output projection (<c>to_out.0</c>).
/// </summary>
public sealed class ZImageAttention : nn.Module<Tensor, Tensor?, Tensor, Tensor>
{
    private readonly int _heads;
    private readonly int _headDim;

#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<Linear> to_out;
    private readonly RmsNorm? norm_q;
    private readonly RmsNorm? norm_k;
#pragma warning restore IDE1006

    public ZImageAttention(int dim, int heads, bool qkNorm, double eps, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ZImageAttention))
    {
        _heads = heads;
        _headDim = dim / heads;
        to_q = nn.Linear(dim, dim, hasBias: false, device, dtype);
        to_k = nn.Linear(dim, dim, hasBias: false, device, dtype);
        to_v = nn.Linear(dim, dim, hasBias: false, device, dtype);
        to_out = nn.ModuleList(nn.Linear(dim, dim, hasBias: false, device, dtype));
        if (qkNorm)
        {
            norm_q = PlacedNorm.Create(_headDim, eps, device, dtype);
            norm_k = PlacedNorm.Create(_headDim, eps, device, dtype);
        }
        RegisterComponents();
    }

    /// <param name="x">[B, S, dim].</param>
    /// <param name="keyMask">[B, 1, 1, S] bool (true = attend), or null when every sequence is full length.</param>
    /// <param name="frequencies">[B, S, head_dim/2] complex64 RoPE frequencies.</param>
    /// <returns>[B, S, dim].</returns>
    public override Tensor forward(Tensor x, Tensor? keyMask, Tensor frequencies)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], length = x.shape[1];
        // Intermediates are disposed as soon as they are consumed: at 1024² each is tens of MB per sample, and the
        // dispose scope alone would keep all of them alive until the end of the block.
        using var q = HeadsWithRope(to_q, norm_q, x, frequencies, batch, length);   // [B,S,H,Dh]
        using var k = HeadsWithRope(to_k, norm_k, x, frequencies, batch, length);   // [B,S,H,Dh]
        using var vFlat = to_v.forward(x);
        using var v = vFlat.view(batch, length, _heads, _headDim);                  // [B,S,H,Dh]

        // SDPA takes [B,H,S,Dh]; the transposes are views.
        using var qt = q.transpose(1, 2);
        using var kt = k.transpose(1, 2);
        using var vt = v.transpose(1, 2);
        using var attended = nn.functional.scaled_dot_product_attention(qt, kt, vt, keyMask, 0.0, false);
        using var attendedT = attended.transpose(1, 2);
        using var merged = attendedT.reshape(batch, length, _heads * _headDim);     // [B,S,dim]
        return to_out[0].forward(merged).MoveToOuterDisposeScope();
    }

    private Tensor HeadsWithRope(Linear projection, RmsNorm? norm, Tensor x, Tensor frequencies, long batch, long length)
    {
        using var flat = projection.forward(x);
        using var heads = flat.view(batch, length, _heads, _headDim);
        if (norm is null) return RotaryEmbedding3D.Apply(heads, frequencies);
        using var normed = norm.forward(heads);
        return RotaryEmbedding3D.Apply(normed, frequencies);
    }
}
