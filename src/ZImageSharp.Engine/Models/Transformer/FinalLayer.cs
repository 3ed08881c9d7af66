using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (FinalLayer)

/// <summary>
/// LayerNorm without affine (eps 1e-6), scaled by <c>1 + Linear(SiLU(adaln))</c> (here the SiLU does come first:
/// <c>adaLN_modulation.0</c> is the SiLU), then projected to patch vectors. A float32 island: it computes in float32
/// on whatever dtype the hidden states come in, and its output (the velocity) is float32 for the scheduler.
/// </summary>
public sealed class FinalLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private const double LayerNormEps = 1e-6;
    private const long RowsPerChunk = 2048;
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

    /// <param name="x">[B, S, hidden], any float dtype.</param>
    /// <param name="adaln">[B, adaLN width] float32.</param>
    /// <returns>[B, S, out_channels] float32.</returns>
    public override Tensor forward(Tensor x, Tensor adaln)
    {
        using var scope = NewDisposeScope();
        using var activated = nn.functional.silu(adaln.to(ScalarType.Float32));
        using var modulation = Float32Island.Linear((Linear)adaLN_modulation[1], activated);
        using var scale = modulation.add_(Scalars.One, alpha: Scalars.One).unsqueeze(1);         // [B, 1, hidden]
        // The float32 copies of the rows are made RowsPerChunk rows at a time, so this layer never holds more than
        // two such chunks (63 MB): all rows at once would be 0.5 GB at 2048², above what the activation model allows.
        long rows = x.shape[1];
        var parts = new List<Tensor>();
        for (long start = 0; start < rows; start += RowsPerChunk)
        {
            using var part = x.narrow(1, start, Math.Min(RowsPerChunk, rows - start));
            using var wide = part.to(ScalarType.Float32);
            using var normed = nn.functional.layer_norm(wide, [_hiddenSize], null, null, LayerNormEps);
            normed.mul_(scale);
            parts.Add(Float32Island.Linear(linear, normed));                                  // [B, chunk, out]
        }
        return (parts.Count == 1 ? parts[0] : cat(parts, 1)).MoveToOuterDisposeScope();
    }
}
