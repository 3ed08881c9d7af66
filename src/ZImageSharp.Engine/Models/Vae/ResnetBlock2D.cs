using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/resnet.py (ResnetBlock2D, without time embedding)

/// <summary>
/// conv2(SiLU(GN2(conv1(SiLU(GN1(x)))))) + shortcut(x); the shortcut is a 1×1 conv only when the channel count
/// changes. The VAE uses no time embedding, no dropout and an output scale of 1.
/// </summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly GroupNorm norm2;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;
#pragma warning restore IDE1006

    public ResnetBlock2D(long inChannels, long outChannels, int groups, BuildTarget placement) : base(nameof(ResnetBlock2D))
    {
        var (device, dtype) = (placement.Device, placement.DType);
        norm1 = VaeLayers.GroupNorm(groups, inChannels, placement);
        conv1 = VaeLayers.Conv3x3(inChannels, outChannels, placement);
        norm2 = VaeLayers.GroupNorm(groups, outChannels, placement);
        conv2 = VaeLayers.Conv3x3(outChannels, outChannels, placement);
        conv_shortcut = inChannels == outChannels
            ? null
            : nn.Conv2d(inChannels, outChannels, kernel_size: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        // Intermediates are freed as soon as they are used: at 1024² output one of them is up to 1 GiB in fp32.
        using var scope = NewDisposeScope();
        var h = VaeLayers.NormSiluConv(norm1, conv1, x);
        var y = VaeLayers.NormSiluConv(norm2, conv2, h);
        h.Dispose();
        using var _ = OpScope.Of(VaeLayers.Timer, "vae residual");
        if (conv_shortcut is null)
            y.add_(x, Scalars.One);
        else
            using (var shortcut = VaeLayers.Conv(conv_shortcut, x)) y.add_(shortcut, Scalars.One);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>Layer settings shared by every VAE block.</summary>
internal static class VaeLayers
{
    /// <summary>diffusers builds every VAE GroupNorm with eps 1e-6 (spec pitfall 11).</summary>
    public const double NormEps = 1e-6;

    /// <summary>
    /// A GroupNorm with PyTorch's initial affine parameters (weight 1, bias 0). TorchSharp 0.107's <c>nn.GroupNorm</c>
    /// leaves them as <c>torch.empty</c> memory, so a VAE not loaded from a checkpoint (the demo model,
    /// --random-weights) normalised with whatever the allocator held: zeros, garbage or NaN, a different image per run.
    /// </summary>
    public static GroupNorm GroupNorm(long groups, long channels, BuildTarget placement)
    {
        var norm = nn.GroupNorm(groups, channels, NormEps, affine: true, placement.Device, placement.DType);
        nn.init.ones_(norm.weight);
        nn.init.zeros_(norm.bias!);
        return norm;
    }

    public static Conv2d Conv3x3(long inChannels, long outChannels, BuildTarget placement, long stride = 1, long padding = 1) =>
        nn.Conv2d(inChannels, outChannels, kernel_size: 3, stride: stride, padding: padding,
            device: placement.Device, dtype: placement.DType);

    /// <summary>conv(x), timed when a timer is installed.</summary>
    public static Tensor Conv(Conv2d conv, Tensor x)
    {
        using var _ = Timer is null ? default : OpScope.Of(Timer, $"vae conv {conv.in_channels}→{conv.out_channels} k{conv.kernel_size[0]} @{x.shape[2]}²");
        return conv.forward(x);
    }

    /// <summary>conv(SiLU(norm(x))), with the activation in place on the norm's output.</summary>
    public static Tensor NormSiluConv(GroupNorm norm, Conv2d conv, Tensor x)
    {
        Tensor normed;
        using (Timer is null ? default : OpScope.Of(Timer, $"vae group norm {x.shape[1]} @{x.shape[2]}²")) normed = norm.forward(x);
        using (normed)
        {
            using (Timer is null ? default : OpScope.Of(Timer, $"vae silu {x.shape[1]} @{x.shape[2]}²")) nn.functional.silu(normed, inplace: true);
            return Conv(conv, normed);
        }
    }

    /// <summary>The per-op timer of the decode running on this thread (<see cref="AutoencoderKL.Decode"/>); null for none.</summary>
    [ThreadStatic] internal static IOpTimer? Timer;

    /// <summary>Runs <paramref name="modules"/> in order, freeing each intermediate once the next one exists.</summary>
    public static Tensor Chain(Tensor x, IEnumerable<nn.Module<Tensor, Tensor>> modules)
    {
        var h = x;
        foreach (var module in modules)
        {
            var next = module.forward(h);
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        return ReferenceEquals(h, x) ? x.alias() : h;
    }
}
