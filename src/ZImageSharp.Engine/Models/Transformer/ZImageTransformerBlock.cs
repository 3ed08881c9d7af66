using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (ZImageTransformerBlock)

/// <summary>
/// One S3-DiT block with "sandwich" RMSNorms (the <c>*_norm2</c> norms act on each branch's output before the
/// residual add). Modulated blocks (noise refiner, main layers) scale the normalised input by <c>1 + scale</c> and gate
/// each branch by <c>tanh(gate)</c>, both from a Linear of the timestep embedding with no SiLU before it and no
/// shift term; unmodulated blocks (context refiner) have neither.
/// </summary>
public sealed class ZImageTransformerBlock : nn.Module<Tensor, Tensor?, Tensor, Tensor?, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly ZImageAttention attention;
    private readonly SwiGluFeedForward feed_forward;
    private readonly RmsNorm attention_norm1;
    private readonly RmsNorm ffn_norm1;
    private readonly RmsNorm attention_norm2;
    private readonly RmsNorm ffn_norm2;
    private readonly Sequential? adaLN_modulation;
#pragma warning restore IDE1006

    public bool IsModulated => adaLN_modulation is not null;

    public ZImageTransformerBlock(ZImageTransformerConfig config, bool modulated, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ZImageTransformerBlock))
    {
        int dim = config.Dim;
        // diffusers builds the attention with eps 1e-5 regardless of norm_eps; the block norms use norm_eps.
        attention = new ZImageAttention(dim, config.NHeads, config.QkNorm, eps: 1e-5, device, dtype);
        feed_forward = new SwiGluFeedForward(dim, config.FeedForwardDim, device, dtype);
        attention_norm1 = PlacedNorm.Create(dim, config.NormEps, device, dtype);
        ffn_norm1 = PlacedNorm.Create(dim, config.NormEps, device, dtype);
        attention_norm2 = PlacedNorm.Create(dim, config.NormEps, device, dtype);
        ffn_norm2 = PlacedNorm.Create(dim, config.NormEps, device, dtype);
        // A float32 island (ZImageTransformer.KeepsFloat32): its weights stay float32 in every model dtype.
        if (modulated)
            adaLN_modulation = nn.Sequential(("0", nn.Linear(config.AdaLnEmbedDim, 4L * dim, hasBias: true, device, ScalarType.Float32)));
        RegisterComponents();
    }

    /// <summary>Where per-op times go during a profiled forward; null (the default) when not profiling.</summary>
    internal IOpTimer? Timer
    {
        get => _timer;
        set
        {
            _timer = value;
            attention.Timer = value;
            feed_forward.Timer = value;
        }
    }
    private IOpTimer? _timer;

    /// <param name="x">[B, S, dim]; not modified.</param>
    /// <param name="keyMask">[B, 1, 1, S] bool, or null when no sequence in the batch is padded.</param>
    /// <param name="frequencies">[B, S, head_dim/2] complex64.</param>
    /// <param name="adaln">[B, adaLN width] float32 for modulated blocks; ignored (may be null) otherwise.</param>
    /// <returns>[B, S, dim].</returns>
    public override Tensor forward(Tensor x, Tensor? keyMask, Tensor frequencies, Tensor? adaln)
    {
        using var scope = NewDisposeScope();
        if (adaLN_modulation is null)
        {
            Tensor plain;
            using (var attnOut = Attend(x, null, keyMask, frequencies))
            using (OpScope.Of(_timer, "residual"))
                plain = x.add(attnOut, Scalars.One);
            using (var ffnOut = FeedForward(plain, null))
            using (OpScope.Of(_timer, "residual"))
                plain.add_(ffnOut, Scalars.One);
            return plain.MoveToOuterDisposeScope();
        }

        if (adaln is null)
            throw new ArgumentNullException(nameof(adaln), "A modulated block needs the timestep embedding.");
        Tensor scales, gates;
        using (OpScope.Of(_timer, "adaLN"))
        {
            // Chunks in checkpoint order: scale_msa, gate_msa, scale_mlp, gate_mlp. Viewed as [B, 2, 2, dim], index
            // [:, :, 0] holds both scales and [:, :, 1] both gates, so two small kernels produce all four. All in
            // float32 (B rows only): tanh turns a relative error of a large gate logit into an absolute error of the
            // gate, which multiplies the whole branch.
            using var modulation = Float32Island.Linear((Linear)adaLN_modulation[0], adaln);
            using var pairs = modulation.view(modulation.shape[0], 2, 2, -1);                     // [B, 2, 2, dim]
            using var rawScales = pairs.select(2, 0);
            using var rawGates = pairs.select(2, 1);
            scales = rawScales.add(Scalars.One, alpha: Scalars.One);                               // [B, 2, dim] float32
            // The gate is rounded to the stream's dtype once, after the float32 tanh: then the first gated residual
            // is one out-of-place addcmul in that dtype (a float32 gate would make it float32, or cost a copy).
            using var gates32 = rawGates.tanh();                                                   // [B, 2, dim] float32
            gates = gates32.to(x.dtype);                                                           // [B, 2, dim]
        }
        using var scaleMsa = scales.narrow(1, 0, 1);                                               // [B, 1, dim]
        using var scaleMlp = scales.narrow(1, 1, 1);
        using var gateMsa = gates.narrow(1, 0, 1);
        using var gateMlp = gates.narrow(1, 1, 1);

        // Gated residuals as one addcmul each: x + gate·branch rounded once, where diffusers rounds gate·branch to
        // bf16 before the add (a difference of at most one bf16 ulp of the sum; identical in float32).
        Tensor residual;
        using (var attentionBranch = Attend(x, scaleMsa, keyMask, frequencies))
        using (OpScope.Of(_timer, "gated residual"))
            residual = addcmul(x, attentionBranch, gateMsa, Scalars.One);
        using (var ffnBranch = FeedForward(residual, scaleMlp))
        using (OpScope.Of(_timer, "gated residual"))
            residual.addcmul_(ffnBranch, gateMlp, Scalars.One);
        return residual.MoveToOuterDisposeScope();
    }

    /// <summary>attention_norm2(Attn(attention_norm1(x) [· scale])).</summary>
    private Tensor Attend(Tensor x, Tensor? scale, Tensor? keyMask, Tensor frequencies)
    {
        using var input = Modulate(attention_norm1, x, scale, "attention_norm1");
        var attended = attention.forward(input, keyMask, frequencies);
        using (OpScope.Of(_timer, "attention_norm2"))
            return attention_norm2.ForwardInPlace(attended);
    }

    /// <summary>ffn_norm2(FFN(ffn_norm1(x) [· scale])).</summary>
    private Tensor FeedForward(Tensor x, Tensor? scale)
    {
        using var input = Modulate(ffn_norm1, x, scale, "ffn_norm1");
        var hidden = feed_forward.forward(input);
        using (OpScope.Of(_timer, "ffn_norm2"))
            return ffn_norm2.ForwardInPlace(hidden);
    }

    private Tensor Modulate(RmsNorm norm, Tensor x, Tensor? scale, string op)
    {
        using var _ = OpScope.Of(_timer, op);
        var normed = norm.forward(x);
        // In place, a float32 scale on a bf16 tensor is applied in float32 and rounded once.
        return scale is null ? normed : normed.mul_(scale);
    }
}
