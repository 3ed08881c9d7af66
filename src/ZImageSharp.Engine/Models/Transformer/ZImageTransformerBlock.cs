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
        if (modulated)
            adaLN_modulation = nn.Sequential(("0", nn.Linear(config.AdaLnEmbedDim, 4L * dim, hasBias: true, device, dtype)));
        RegisterComponents();
    }

    /// <param name="x">[B, S, dim].</param>
    /// <param name="keyMask">[B, 1, 1, S] bool, or null when no sequence in the batch is padded.</param>
    /// <param name="frequencies">[B, S, head_dim/2] complex64.</param>
    /// <param name="adaln">[B, adaLN width] for modulated blocks; ignored (may be null) otherwise.</param>
    /// <returns>[B, S, dim].</returns>
    public override Tensor forward(Tensor x, Tensor? keyMask, Tensor frequencies, Tensor? adaln)
    {
        using var scope = NewDisposeScope();
        if (adaLN_modulation is null)
        {
            using var attnOut = Attend(attention_norm1, x, null, keyMask, frequencies);
            using var afterAttention = x + attnOut;
            using var ffnOut = FeedForward(afterAttention, null);
            return (afterAttention + ffnOut).MoveToOuterDisposeScope();
        }

        if (adaln is null)
            throw new ArgumentNullException(nameof(adaln), "A modulated block needs the timestep embedding.");
        var modulation = adaLN_modulation.forward(adaln).unsqueeze(1).chunk(4, 2); // 4 × [B, 1, dim]
        var scaleMsa = 1.0 + modulation[0];
        var gateMsa = modulation[1].tanh();
        var scaleMlp = 1.0 + modulation[2];
        var gateMlp = modulation[3].tanh();

        using var gatedAttention = Attend(attention_norm1, x, scaleMsa, keyMask, frequencies).mul_(gateMsa);
        using var residual = x + gatedAttention;
        using var gatedFfn = FeedForward(residual, scaleMlp).mul_(gateMlp);
        return (residual + gatedFfn).MoveToOuterDisposeScope();
    }

    /// <summary>attention_norm2(Attn(attention_norm1(x) [· scale])).</summary>
    private Tensor Attend(RmsNorm norm, Tensor x, Tensor? scale, Tensor? keyMask, Tensor frequencies)
    {
        using var input = Modulate(norm, x, scale);
        using var attended = attention.forward(input, keyMask, frequencies);
        return attention_norm2.forward(attended);
    }

    /// <summary>ffn_norm2(FFN(ffn_norm1(x) [· scale])).</summary>
    private Tensor FeedForward(Tensor x, Tensor? scale)
    {
        using var input = Modulate(ffn_norm1, x, scale);
        using var hidden = feed_forward.forward(input);
        return ffn_norm2.forward(hidden);
    }

    private static Tensor Modulate(RmsNorm norm, Tensor x, Tensor? scale)
    {
        if (scale is null) return norm.forward(x);
        using var normed = norm.forward(x);
        return normed * scale;
    }
}
