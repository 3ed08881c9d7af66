using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/unets/unet_2d_blocks.py (DownEncoderBlock2D, UpDecoderBlock2D),
//            src/diffusers/models/downsampling.py (Downsample2D), src/diffusers/models/upsampling.py (Upsample2D)

/// <summary>Zero-pad right and bottom by one, then a stride-2 3×3 conv without padding (diffusers, padding=0).</summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Conv2d conv;
#pragma warning restore IDE1006

    public Downsample2D(long channels, BuildTarget placement) : base(nameof(Downsample2D))
    {
        conv = VaeLayers.Conv3x3(channels, channels, placement, stride: 2, padding: 0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var padded = nn.functional.pad(x, [0, 1, 0, 1], PaddingModes.Constant, 0);              // [B, C, H+1, W+1]
        return conv.forward(padded).MoveToOuterDisposeScope();
    }
}

/// <summary>Nearest-neighbour ×2, then a 3×3 conv.</summary>
public sealed class Upsample2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Conv2d conv;
#pragma warning restore IDE1006

    public Upsample2D(long channels, BuildTarget placement) : base(nameof(Upsample2D))
    {
        conv = VaeLayers.Conv3x3(channels, channels, placement);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor up;
        using (VaeLayers.Timer is null ? default : OpScope.Of(VaeLayers.Timer, $"vae upsample {x.shape[1]} @{x.shape[2]}²"))
            up = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest); // [B, C, 2H, 2W]
        return VaeLayers.Conv(conv, up).MoveToOuterDisposeScope();
    }
}

/// <summary>Encoder stage: <c>layers</c> resnets, then a downsampler unless it is the last stage.</summary>
public sealed class DownEncoderBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D> downsamplers;
#pragma warning restore IDE1006

    public DownEncoderBlock2D(long inChannels, long outChannels, int layers, int groups, bool addDownsample, BuildTarget placement)
        : base(nameof(DownEncoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>();
        for (int i = 0; i < layers; i++)
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups, placement));
        downsamplers = new ModuleList<Downsample2D>();
        if (addDownsample) downsamplers.Add(new Downsample2D(outChannels, placement));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        return VaeLayers.Chain(x, resnets.Cast<nn.Module<Tensor, Tensor>>().Concat(downsamplers));
    }
}

/// <summary>Decoder stage: <c>layers</c> resnets (layers_per_block + 1), then an upsampler unless it is the last stage.</summary>
public sealed class UpDecoderBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Upsample2D> upsamplers;
#pragma warning restore IDE1006

    public UpDecoderBlock2D(long inChannels, long outChannels, int layers, int groups, bool addUpsample, BuildTarget placement)
        : base(nameof(UpDecoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>();
        for (int i = 0; i < layers; i++)
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, groups, placement));
        upsamplers = new ModuleList<Upsample2D>();
        if (addUpsample) upsamplers.Add(new Upsample2D(outChannels, placement));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        return VaeLayers.Chain(x, resnets.Cast<nn.Module<Tensor, Tensor>>().Concat(upsamplers));
    }
}
