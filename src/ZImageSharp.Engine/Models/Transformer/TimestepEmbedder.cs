using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (TimestepEmbedder)

/// <summary>
/// Sinusoidal timestep features (float32, cos first) followed by Linear → SiLU → Linear, which produces the adaLN
/// conditioning vector. <c>mlp.1</c> is the parameter-free SiLU, kept so the indices match the checkpoint.
/// Everything here is float32 (a float32 island of a bf16 model): the vector conditions every block, so its error
/// reaches every token (diffusers rounds the features and the MLP to the weight dtype).
/// </summary>
public sealed class TimestepEmbedder : nn.Module<Tensor, Tensor>
{
    private const int FrequencyEmbeddingSize = 256;
    private const int MidSize = 1024;
    private const double MaxPeriod = 10000.0;

#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Sequential mlp;
#pragma warning restore IDE1006

    public TimestepEmbedder(int outSize, Device? device = null, ScalarType? dtype = null) : base(nameof(TimestepEmbedder))
    {
        mlp = nn.Sequential(
            ("0", nn.Linear(FrequencyEmbeddingSize, MidSize, hasBias: true, device, dtype)),
            ("1", nn.SiLU()),
            ("2", nn.Linear(MidSize, outSize, hasBias: true, device, dtype)));
        RegisterComponents();
    }

    /// <param name="scaledTime">[B] model time already multiplied by <c>t_scale</c>, float32.</param>
    /// <returns>[B, outSize] float32.</returns>
    public override Tensor forward(Tensor scaledTime)
    {
        using var scope = NewDisposeScope();
        var hidden = Float32Island.Linear((Linear)mlp[0], SinusoidalFeatures(scaledTime));    // [B, 1024]
        hidden.silu_();
        return Float32Island.Linear((Linear)mlp[2], hidden).MoveToOuterDisposeScope();
    }

    /// <summary>[B] → [B, 256] = [cos(t·f_k), sin(t·f_k)], f_k = exp(−ln(10000)·k/128), all in float32 as the reference.</summary>
    internal static Tensor SinusoidalFeatures(Tensor scaledTime)
    {
        using var scope = NewDisposeScope();
        const int half = FrequencyEmbeddingSize / 2;
        // Same op order as the reference (scalar × arange, then / half) so the float32 rounding matches.
        var exponents = Scalars.Arange(half, ScalarType.Float32, scaledTime.device)
            .mul_(Scalars.Of(-Math.Log(MaxPeriod))).div_(Scalars.Of(half));
        var frequencies = exponents.exp();
        var arguments = scaledTime.to(ScalarType.Float32).unsqueeze(1) * frequencies.unsqueeze(0); // [B, half]
        return cat([arguments.cos(), arguments.sin()], 1).MoveToOuterDisposeScope();
    }
}
