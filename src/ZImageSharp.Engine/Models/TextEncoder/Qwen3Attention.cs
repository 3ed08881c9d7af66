using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.TextEncoder;

// Reference: transformers src/transformers/models/qwen3/modeling_qwen3.py (Qwen3Attention)

/// <summary>
/// Grouped-query self-attention with per-head RMSNorm on queries and keys (before RoPE). SDPA has no GQA flag in
/// TorchSharp, so each key/value head is repeated for the query heads it serves (<see cref="RepeatHeads"/>).
/// </summary>
public sealed class Qwen3Attention : nn.Module
{
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly RmsNorm q_norm;
    private readonly RmsNorm k_norm;
#pragma warning restore IDE1006

    public Qwen3Attention(Qwen3Config config, BuildTarget placement) : base(nameof(Qwen3Attention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        bool bias = config.AttentionBias;
        var (device, dtype) = (placement.Device, placement.DType);
        q_proj = nn.Linear(config.HiddenSize, _heads * _headDim, bias, device, dtype);
        k_proj = nn.Linear(config.HiddenSize, _kvHeads * _headDim, bias, device, dtype);
        v_proj = nn.Linear(config.HiddenSize, _kvHeads * _headDim, bias, device, dtype);
        o_proj = nn.Linear(_heads * _headDim, config.HiddenSize, bias, device, dtype);
        q_norm = placement.Apply(new RmsNorm(_headDim, config.RmsNormEps));
        k_norm = placement.Apply(new RmsNorm(_headDim, config.RmsNormEps));
        RegisterComponents();
    }

    /// <param name="x">[B, S, hidden]</param>
    /// <param name="cos">[S, head_dim] in x's dtype.</param>
    /// <param name="sin">[S, head_dim] in x's dtype, first half negated (<see cref="Qwen3RotaryEmbedding.SignedSin"/>).</param>
    /// <param name="mask">Boolean [B, 1, S, S] (true = attend), or null for plain causal attention.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], s = x.shape[1];
        Tensor q, k, v;
        using (OpScope.Of(Timer, "te q/k/v proj"))
        {
            q = q_proj.forward(x).view(b, s, _heads, _headDim);
            k = k_proj.forward(x).view(b, s, _kvHeads, _headDim);
            v = v_proj.forward(x).view(b, s, _kvHeads, _headDim).transpose(1, 2);                 // [B, KV, S, D]
        }
        using (OpScope.Of(Timer, "te q/k norm"))
        {
            // The projections are ours, so their norms run in place (no copy).
            q = q_norm.ForwardInPlace(q).transpose(1, 2);                                         // [B, H, S, D]
            k = k_norm.ForwardInPlace(k).transpose(1, 2);                                         // [B, KV, S, D]
        }
        using (OpScope.Of(Timer, "te rope"))
        {
            q = Qwen3RotaryEmbedding.Apply(q, cos, sin);
            k = Qwen3RotaryEmbedding.Apply(k, cos, sin);
        }
        int groups = _heads / _kvHeads;
        if (groups > 1)
        {
            using var _ = OpScope.Of(Timer, "te gqa expand");
            k = RepeatHeads(k, groups);                                                            // [B, H, S, D]
            v = RepeatHeads(v, groups);
        }
        Tensor o;
        using (OpScope.Of(Timer, "te sdpa"))
        {
            // The default scale 1/sqrt(head_dim) is Qwen3's scaling.
            o = mask is null
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
                : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
            o = o.transpose(1, 2).reshape(b, s, _heads * _headDim);                                // [B, S, H·D]
        }
        using (OpScope.Of(Timer, "te o proj"))
            return o_proj.forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>Per-op timing hook (see <see cref="Qwen3Model.Profile"/>); null for none.</summary>
    internal IOpTimer? Timer { get; set; }

    /// <summary>
    /// kv head g serves query heads g·groups … g·groups + groups − 1 (transformers' repeat_kv): a broadcast view made
    /// contiguous, one copy kernel (repeat_interleave costs several).
    /// </summary>
    private static Tensor RepeatHeads(Tensor x, int groups)
    {
        long b = x.shape[0], kv = x.shape[1], s = x.shape[2], d = x.shape[3];
        return x.unsqueeze(2).expand(b, kv, groups, s, d).reshape(b, kv * groups, s, d);          // [B, KV·groups, S, D]
    }
}
