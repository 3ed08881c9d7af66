using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (FinalLayer)

/// <summary>
/// LayerNorm without affine (eps 1e-6), scaled by <c>1 + Linear(SiLU(adaln))</c> (here the SiLU does come first:
/// <c>adaLN_modulation.0</c> is the SiLU), then projected to patch vectors.
/// </summary>
public sealed class FinalLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private const double LayerNormEps = 1e-6;
    private readonly long _hiddenSize;

#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Linear linear;
    private readonly Sequential adaLN_modulation;
#pragma warning restore IDE1006

    public FinalLayer(int hiddenSize, int outChannels, int adaLnEmbedDim, Device? device = null, ScalarType? dtype = null)
        : base(nameof(FinalLayer))
    {
        _hiddenSize = hiddenSize;
        linear = nn.Linear(hiddenSize, outChannels, hasBias: true, device, dtype);
        adaLN_modulation = nn.Sequential(
            ("0", nn.SiLU()),
            ("1", nn.Linear(adaLnEmbedDim, hiddenSize, hasBias: true, device, dtype)));
        RegisterComponents();
    }

    /// <param name="x">[B, S, hidden].</param>
    /// <param name="adaln">[B, adaLN width].</param>
    /// <returns>[B, S, out_channels].</returns>
    public override Tensor forward(Tensor x, Tensor adaln)
    {
        using var scope = NewDisposeScope();
        var scale = 1.0 + adaLN_modulation.forward(adaln);                                 // [B, hidden]
        using var normed = nn.functional.layer_norm(x, [_hiddenSize], null, null, LayerNormEps);
        using var scaled = normed * scale.unsqueeze(1);
        return linear.forward(scaled).MoveToOuterDisposeScope();
    }
}
