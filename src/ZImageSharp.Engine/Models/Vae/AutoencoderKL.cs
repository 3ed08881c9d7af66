using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/autoencoders/autoencoder_kl.py (AutoencoderKL),
//            src/diffusers/models/autoencoders/vae.py (DiagonalGaussianDistribution)

/// <summary>Which halves of the autoencoder to build. Text-to-image needs only the decoder (49.5 M of 83.8 M params).</summary>
public enum AutoencoderParts
{
    DecoderOnly,
    EncoderAndDecoder,
}

/// <summary>
/// diffusers' <c>AutoencoderKL</c> with parameter names equal to its checkpoint keys (<c>encoder.*</c>,
/// <c>decoder.*</c>, and <c>quant_conv</c>/<c>post_quant_conv</c> when the config asks for them).
/// </summary>
public sealed class AutoencoderKL : nn.Module
{
    /// <summary>diffusers clamps the log-variance to this range before use.</summary>
    public const double LogVarianceMin = -30.0, LogVarianceMax = 20.0;

#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly VaeEncoder? encoder;
    private readonly VaeDecoder decoder;
    private readonly Conv2d? quant_conv;
    private readonly Conv2d? post_quant_conv;
#pragma warning restore IDE1006

    public AutoencoderKLConfig Config { get; }

    public bool HasEncoder => encoder is not null;

    private AutoencoderKL(AutoencoderKLConfig config, AutoencoderParts parts, BuildTarget placement) : base(nameof(AutoencoderKL))
    {
        Config = config;
        var (device, dtype) = (placement.Device, placement.DType);
        if (parts == AutoencoderParts.EncoderAndDecoder)
        {
            encoder = new VaeEncoder(config, placement);
            if (config.UseQuantConv)
                quant_conv = nn.Conv2d(2 * config.LatentChannels, 2 * config.LatentChannels, kernel_size: 1, device: device, dtype: dtype);
        }
        decoder = new VaeDecoder(config, placement);
        if (config.UsePostQuantConv)
            post_quant_conv = nn.Conv2d(config.LatentChannels, config.LatentChannels, kernel_size: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    public static AutoencoderKL Create(AutoencoderKLConfig config, AutoencoderParts parts = AutoencoderParts.EncoderAndDecoder,
        BuildTarget? placement = null) =>
        new(config, parts, placement ?? BuildTarget.Default);

    /// <summary>
    /// True for a checkpoint key of a part this instance did not build (the encoder side of a decoder-only VAE), so a
    /// strict loader can skip exactly those.
    /// </summary>
    public bool IsUnbuiltCheckpointKey(string key) =>
        encoder is null && (key.StartsWith("encoder.", StringComparison.Ordinal) || key.StartsWith("quant_conv.", StringComparison.Ordinal));

    /// <summary>Raw decoder output [B, out, f·h, f·w] for a VAE latent z [B, latent, h, w] (already unscaled).</summary>
    /// <param name="z">The VAE latent.</param>
    /// <param name="timer">Receives every named op of this decode (convolutions, norms, SiLU, upsampling, attention,
    /// residuals, by width and resolution); null for none.</param>
    public Tensor Decode(Tensor z, IOpTimer? timer = null)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var previous = VaeLayers.Timer;
        VaeLayers.Timer = timer;
        try
        {
            var input = post_quant_conv is null ? z : post_quant_conv.forward(z);
            return decoder.forward(input).MoveToOuterDisposeScope();
        }
        finally { VaeLayers.Timer = previous; }
    }

    /// <summary>The encoder's diagonal Gaussian for an image in [−1, 1]: (mean, log-variance clamped to [−30, 20]).</summary>
    public (Tensor Mean, Tensor LogVariance) Encode(Tensor image)
    {
        if (encoder is null)
            throw new InvalidOperationException("This AutoencoderKL was built decoder-only; build it with AutoencoderParts.EncoderAndDecoder to encode images.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var moments = encoder.forward(image);
        if (quant_conv is not null) moments = quant_conv.forward(moments);
        var halves = moments.chunk(2, dim: 1);                                                 // 2 × [B, latent, h, w]
        var mean = halves[0].contiguous();
        var logVariance = halves[1].clamp(Scalars.Of(LogVarianceMin), Scalars.Of(LogVarianceMax));
        return (mean.MoveToOuterDisposeScope(), logVariance.MoveToOuterDisposeScope());
    }

    /// <summary>A sample of the encoder's Gaussian: mean + exp(logvar/2)·ε, ε ~ N(0, 1) from <paramref name="generator"/>.</summary>
    public static Tensor Sample(Tensor mean, Tensor logVariance, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var noise = randn(mean.shape, dtype: mean.dtype, device: mean.device, generator: generator);
        var spread = logVariance.mul(Scalars.Of(0.5)).exp_().mul_(noise);
        return mean.add(spread, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>Diffusion latents → VAE latent before decoding: <c>latents / scaling_factor + shift_factor</c>.</summary>
    public Tensor FromDiffusionLatents(Tensor latents) =>
        latents.div(Scalars.Of(Config.ScalingFactor)).add_(Scalars.Of(Config.ShiftFactor), alpha: Scalars.One);

    /// <summary>VAE latent (an encoder sample) → diffusion latents: <c>(z − shift_factor) · scaling_factor</c>.</summary>
    public Tensor ToDiffusionLatents(Tensor z) =>
        z.sub(Scalars.Of(Config.ShiftFactor)).mul_(Scalars.Of(Config.ScalingFactor));
}
