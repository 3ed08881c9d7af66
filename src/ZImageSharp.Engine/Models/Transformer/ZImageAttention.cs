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

    /// <summary>Where per-op times go during a profiled forward; null when not profiling.</summary>
    internal IOpTimer? Timer { get; set; }

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
        Tensor qFlat, kFlat, vFlat;
        using (OpScope.Of(Timer, "attention q/k/v"))
        {
            qFlat = LinearAdapters.Forward(to_q, x);
            kFlat = LinearAdapters.Forward(to_k, x);
            vFlat = LinearAdapters.Forward(to_v, x);
        }
        using var q = qFlat.view(batch, length, _heads, _headDim);                                 // [B,S,H,Dh]
        using var k = kFlat.view(batch, length, _heads, _headDim);                                 // [B,S,H,Dh]
        using var v = vFlat.view(batch, length, _heads, _headDim);                                 // [B,S,H,Dh]
        // The projections are this method's own tensors, so norm and RoPE run in place on them.
        if (norm_q is not null && norm_k is not null)
            using (OpScope.Of(Timer, "attention qk norm"))
            {
                norm_q.ForwardInPlace(q);
                norm_k.ForwardInPlace(k);
            }
        using (OpScope.Of(Timer, "attention rope"))
        {
            RotaryEmbedding3D.ApplyInPlace(q, frequencies);
            RotaryEmbedding3D.ApplyInPlace(k, frequencies);
        }

        Tensor attended;
        using (OpScope.Of(Timer, "attention sdpa"))
        {
            // SDPA takes [B,H,S,Dh]; the transposes are views (the kernels accept any stride but the last).
            using var qt = q.transpose(1, 2);
            using var kt = k.transpose(1, 2);
            using var vt = v.transpose(1, 2);
            attended = nn.functional.scaled_dot_product_attention(qt, kt, vt, keyMask, 0.0, false);
        }
        qFlat.Dispose();
        kFlat.Dispose();
        vFlat.Dispose();
        using (OpScope.Of(Timer, "attention out"))
        {
            // The flash and memory-efficient kernels write [B,S,H,Dh] memory, so this reshape is a view there.
            using var attendedT = attended.transpose(1, 2);
            using var merged = attendedT.reshape(batch, length, _heads * _headDim);                // [B,S,dim]
            attended.Dispose();
            return LinearAdapters.Forward(to_out[0], merged).MoveToOuterDisposeScope();
        }
    }
}
