using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.TextEncoder;

// Reference: transformers src/transformers/models/qwen3/modeling_qwen3.py (Qwen3RotaryEmbedding, apply_rotary_pos_emb)

/// <summary>
/// Qwen3's default RoPE in the rotate-half layout: dimension j pairs with j + head_dim/2 (not adjacent pairs as in the
/// DiT). The tables are computed in float32 and then cast to the activation dtype, as transformers does, so a bf16 run
/// rotates with bf16 cos/sin (spec §4.3, pitfall 6).
/// </summary>
internal static class Qwen3RotaryEmbedding
{
    /// <summary>cos and sin tables [S, head_dim] for positions 0..S−1, in <paramref name="dtype"/>.</summary>
    public static (Tensor Cos, Tensor Sin) Tables(long sequenceLength, int headDim, double theta, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var exponent = Scalars.Arange(0, headDim, 2, ScalarType.Int64, device).to(ScalarType.Float32).div_(Scalars.Of(headDim));
        var invFreq = full_like(exponent, Scalars.Of(theta)).pow(exponent).reciprocal();      // [D/2], theta^(-2j/D)
        var positions = Scalars.Arange(sequenceLength, ScalarType.Int64, device).to(ScalarType.Float32);
        var freqs = positions.unsqueeze(1) * invFreq.unsqueeze(0);                              // [S, D/2]
        var emb = cat([freqs, freqs], -1);                                                      // [S, D]
        var cos = emb.cos().to(dtype);
        var sin = emb.sin().to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin in three kernels: rotate_half(x) = [−x₂, x₁] is roll(x, D/2) times the sign pattern
    /// [−1…, +1…], which is folded into <paramref name="signedSin"/> once per forward (see <see cref="SignedSin"/>), and
    /// the product-add is one addcmul (one bf16 rounding where transformers has two; identical in float32).
    /// </summary>
    /// <param name="x">[B, H, S, D].</param>
    /// <param name="cos">[S, D] in x's dtype.</param>
    /// <param name="signedSin">[S, D] in x's dtype: sin with its first half negated.</param>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var rolled = x.roll(half, -1);                                                          // [x₂, x₁]
        return (x * cos).addcmul_(rolled, signedSin, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>[−sin(first half), sin(second half)]: the sign of rotate_half moved onto the table (exact).</summary>
    public static Tensor SignedSin(Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = sin.shape[^1] / 2;
        return cat([sin.narrow(-1, 0, half).neg(), sin.narrow(-1, half, half)], -1).MoveToOuterDisposeScope();
    }
}
