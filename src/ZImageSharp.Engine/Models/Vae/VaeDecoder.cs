using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/autoencoders/vae.py (Decoder, norm_type="group")

/// <summary>Latent [B, latent, h, w] → image [B, out, f·h, f·w] (raw, roughly in [−1, 1]).</summary>
public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Conv2d conv_in;
    private readonly UNetMidBlock2D mid_block;
    private readonly ModuleList<UpDecoderBlock2D> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;
#pragma warning restore IDE1006

    public VaeDecoder(AutoencoderKLConfig config, BuildTarget placement) : base(nameof(VaeDecoder))
    {
        var reversed = config.BlockOutChannels.Reverse().ToArray();
        int groups = config.NormNumGroups;
        conv_in = VaeLayers.Conv3x3(config.LatentChannels, reversed[0], placement);
        mid_block = new UNetMidBlock2D(reversed[0], groups, config.MidBlockAddAttention, placement);
        up_blocks = new ModuleList<UpDecoderBlock2D>();
        for (int i = 0; i < reversed.Length; i++)
            up_blocks.Add(new UpDecoderBlock2D(i == 0 ? reversed[0] : reversed[i - 1], reversed[i], config.LayersPerBlock + 1,
                groups, addUpsample: i < reversed.Length - 1, placement));
        conv_norm_out = VaeLayers.GroupNorm(groups, reversed[^1], placement);
        conv_out = VaeLayers.Conv3x3(reversed[^1], config.OutChannels, placement);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = VaeLayers.Conv(conv_in, z);
        var wide = VaeLayers.Chain(h, up_blocks.Cast<nn.Module<Tensor, Tensor>>().Prepend(mid_block));
        h.Dispose();
        return VaeLayers.NormSiluConv(conv_norm_out, conv_out, wide).MoveToOuterDisposeScope();
    }
}
