using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/autoencoders/vae.py (Encoder, double_z=True)

/// <summary>Image [B, in, H, W] → moments [B, 2·latent, H/f, W/f] (mean and log-variance stacked on channels).</summary>
public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Conv2d conv_in;
    private readonly ModuleList<DownEncoderBlock2D> down_blocks;
    private readonly UNetMidBlock2D mid_block;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;
#pragma warning restore IDE1006

    public VaeEncoder(AutoencoderKLConfig config, BuildTarget placement) : base(nameof(VaeEncoder))
    {
        var channels = config.BlockOutChannels;
        int groups = config.NormNumGroups;
        conv_in = VaeLayers.Conv3x3(config.InChannels, channels[0], placement);
        down_blocks = new ModuleList<DownEncoderBlock2D>();
        for (int i = 0; i < channels.Count; i++)
            down_blocks.Add(new DownEncoderBlock2D(i == 0 ? channels[0] : channels[i - 1], channels[i], config.LayersPerBlock,
                groups, addDownsample: i < channels.Count - 1, placement));
        mid_block = new UNetMidBlock2D(channels[^1], groups, config.MidBlockAddAttention, placement);
        conv_norm_out = VaeLayers.GroupNorm(groups, channels[^1], placement);
        conv_out = VaeLayers.Conv3x3(channels[^1], 2 * config.LatentChannels, placement);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        var deep = VaeLayers.Chain(h, down_blocks.Cast<nn.Module<Tensor, Tensor>>().Append(mid_block));
        h.Dispose();
        return VaeLayers.NormSiluConv(conv_norm_out, conv_out, deep).MoveToOuterDisposeScope();
    }
}
