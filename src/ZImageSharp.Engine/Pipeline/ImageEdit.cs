using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Scheduling;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Pipeline;

// Reference: diffusers src/diffusers/pipelines/z_image/pipeline_z_image_img2img.py and pipeline_z_image_inpaint.py
//            (prepare_latents, prepare_mask_latents, the blend after scheduler.step), VaeImageProcessor.preprocess,
//            FlowMatchEulerDiscreteScheduler.scale_noise.

/// <summary>
/// The arithmetic of image-to-image and inpainting around the denoise loop: the init image to [−1, 1], the VAE's
/// posterior sampled with the image's own generator and scaled to diffusion latents, flow-matching noising
/// σ·ε + (1 − σ)·x0, and the mask at latent resolution.
/// </summary>
public static class ImageEdit
{
    /// <summary>diffusers' VaeImageProcessor: bytes / 255 in float32, then 2x − 1. [1, 3, H, W] float32 on the CPU.</summary>
    public static Tensor ToPixels(EditImage image)
    {
        using var scope = NewDisposeScope();
        var hwc = tensor(image.Rgb, dtype: ScalarType.Byte).reshape(image.Height, image.Width, 3);
        var unit = hwc.permute(2, 0, 1).unsqueeze(0).to(ScalarType.Float32).div_(Scalars.Of(255));
        return unit.mul_(Scalars.Of(2)).sub_(Scalars.One).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The encoder's Gaussian of the init image, float32 on <paramref name="device"/>: (mean, log-variance)
    /// [1, latent, h, w]. No randomness here, so a retried denoise phase redraws the same sample.</summary>
    public static (Tensor Mean, Tensor LogVariance) Encode(AutoencoderKL vae, EditImage image, Device device)
    {
        using var scope = NewDisposeScope();
        using var pixels = ToPixels(image);
        var (mean, logVariance) = vae.Encode(pixels.to(vae.ParameterDType(), vae.ParameterDevice()));
        return (mean.to(ScalarType.Float32, device).MoveToOuterDisposeScope(),
                logVariance.to(ScalarType.Float32, device).MoveToOuterDisposeScope());
    }

    /// <summary>The clean init latents x0 [count, C, h, w] float32: image i's posterior sample mean + exp(logvar/2)·ε_i
    /// with ε_i its generator's next draw (diffusers' <c>latent_dist.sample(generator)</c>), then
    /// (z − shift_factor)·scaling_factor.</summary>
    public static Tensor InitLatents(AutoencoderKL vae, Tensor mean, Tensor logVariance, SeededNoise noise)
    {
        using var scope = NewDisposeScope();
        var epsilon = noise.Draw(mean.shape[1], mean.shape[2], mean.shape[3]).to(mean.device);
        var z = mean.add(logVariance.mul(Scalars.Of(0.5)).exp_().mul_(epsilon), Scalars.One);   // broadcasts over images
        return vae.ToDiffusionLatents(z).MoveToOuterDisposeScope();
    }

    /// <summary>scale_noise of flow matching: σ·ε + (1 − σ)·x0, float32 (1 − σ rounded to float32 as torch does).</summary>
    public static Tensor Noised(Tensor initLatents, Tensor noise, float sigma)
    {
        using var s = sigma.ToScalar();                      // per request, so owned here (Scalars)
        using var keep = (1f - sigma).ToScalar();
        using var scope = NewDisposeScope();
        return noise.mul(s).add_(initLatents.mul(keep), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>The mask at latent resolution [1, 1, h, w] float32: binarised (<see cref="EditImage.MaskBits"/>), then
    /// nearest-neighbour downsampling as torch's interpolate(mode="nearest") picks pixel ⌊i·H/h⌋.</summary>
    public static Tensor LatentMask(EditImage mask, long latentHeight, long latentWidth)
    {
        var bits = mask.MaskBits();
        var values = new float[latentHeight * latentWidth];
        double scaleY = (double)mask.Height / latentHeight, scaleX = (double)mask.Width / latentWidth;
        for (long y = 0; y < latentHeight; y++)
        {
            long sy = Math.Min((long)Math.Floor(y * scaleY), mask.Height - 1);
            for (long x = 0; x < latentWidth; x++)
            {
                long sx = Math.Min((long)Math.Floor(x * scaleX), mask.Width - 1);
                values[y * latentWidth + x] = bits[sy * mask.Width + sx] ? 1f : 0f;
            }
        }
        return tensor(values, [1, 1, latentHeight, latentWidth], dtype: ScalarType.Float32);
    }
}

/// <summary>Replaces the latents after a step (see <see cref="Denoiser.Run"/>).</summary>
public interface ILatentBlend
{
    /// <param name="latents">x at <paramref name="sigmaNext"/> after the step, float32.</param>
    /// <param name="last">The loop's last step: diffusers blends with the clean init latents there.</param>
    /// <returns>The latents the loop continues from, float32, same shape.</returns>
    Tensor Apply(Tensor latents, float sigmaNext, bool last);
}

/// <summary>diffusers' inpainting blend: (1 − m)·x0(σ_next) + m·x, where x0(σ) is the init latents noised with the
/// request's initial noise to the next step's σ, and the clean init latents after the last step. The mask is 1 where
/// the picture is repainted.</summary>
public sealed class InpaintBlend : ILatentBlend, IDisposable
{
    private readonly Tensor mask, keep, initLatents, noise;

    /// <param name="mask">[1 or B, 1, h, w] of 0/1 (<see cref="ImageEdit.LatentMask"/>); copied to the latents' device.</param>
    /// <param name="initLatents">x0 [B, C, h, w] float32.</param>
    /// <param name="noise">The noise the first latents were made with, same shape.</param>
    public InpaintBlend(Tensor mask, Tensor initLatents, Tensor noise)
    {
        this.mask = mask.to(ScalarType.Float32, initLatents.device, copy: true).DetachFromDisposeScope();
        keep = this.mask.neg().add_(Scalars.One, alpha: Scalars.One).DetachFromDisposeScope();
        this.initLatents = initLatents.alias().DetachFromDisposeScope();
        this.noise = noise.alias().DetachFromDisposeScope();
    }

    public Tensor Apply(Tensor latents, float sigmaNext, bool last)
    {
        using var scope = NewDisposeScope();
        var proper = last ? initLatents : ImageEdit.Noised(initLatents, noise, sigmaNext);
        return keep.mul(proper).add_(mask.mul(latents), Scalars.One).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        mask.Dispose();
        keep.Dispose();
        initLatents.Dispose();
        noise.Dispose();
    }
}

/// <summary>Where an edit's denoise loop starts: the init latents noised to the first step's σ, and the inpainting
/// blend when there is a mask. Draws, per image generator, the posterior sample and then the initial noise (diffusers'
/// order for one image), so a sampler that re-noises continues from there.</summary>
public sealed class EditStart : IDisposable
{
    private EditStart(Tensor latents, InpaintBlend? blend) => (Latents, Blend) = (latents, blend);

    /// <summary>[count, C, h, w] float32 on the transformer's device.</summary>
    public Tensor Latents { get; }
    public InpaintBlend? Blend { get; }

    public static EditStart Prepare(ZImageModels models, GenerationRequest request, Tensor mean, Tensor logVariance,
        SeededNoise seeded, DenoiseOptions options) =>
        Prepare(models.Vae, mean, logVariance, seeded, options, request.Mask);

    public static EditStart Prepare(AutoencoderKL vae, Tensor mean, Tensor logVariance, SeededNoise seeded,
        DenoiseOptions options, EditImage? mask)
    {
        using var scope = NewDisposeScope();
        var device = mean.device;
        var init = ImageEdit.InitLatents(vae, mean, logVariance, seeded);
        var noise = seeded.Next(init);
        float sigma = SigmaSchedules.Sigmas(options.Scheduler, options.Steps, options.Shift)[options.FirstStep];
        var latents = ImageEdit.Noised(init, noise, sigma);
        InpaintBlend? blend = null;
        if (mask is not null)
        {
            using var latentMask = ImageEdit.LatentMask(mask, init.shape[2], init.shape[3]);
            blend = new InpaintBlend(latentMask, init, noise);
        }
        return new EditStart(latents.DetachFromDisposeScope(), blend);
    }

    public void Dispose()
    {
        Latents.Dispose();
        Blend?.Dispose();
    }
}
