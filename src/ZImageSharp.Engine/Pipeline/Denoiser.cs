using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Scheduling;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Pipeline;

// Reference: diffusers src/diffusers/pipelines/z_image/pipeline_z_image.py (ZImagePipeline.__call__, step 6)

/// <summary>
/// The flow-matching denoising loop: from caption features and initial noise to the final latents. Latents and all
/// guidance arithmetic stay float32; the transformer sees them in its own dtype. With CFG the positive and negative
/// branches run as one batch (positives first), as diffusers does.
/// </summary>
public sealed class Denoiser(ZImageTransformer transformer)
{
    /// <summary>Runs every step.</summary>
    /// <param name="initialLatents">[B, C, h, w] noise (float32; see <see cref="LatentNoise"/>). Not modified.</param>
    /// <param name="captionFeatures">B tensors [L_i, cap_feat_dim]: the text encoder's features of the real tokens.</param>
    /// <param name="options">Steps, shift and guidance; null for the Turbo defaults.</param>
    /// <param name="negativeCaptionFeatures">B tensors for the negative prompt; required when guidance is on.</param>
    /// <param name="onStep">Called after each step with its index and the new latents [B, C, h, w] float32 (owned
    /// by the loop: copy them to keep them).</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <param name="stepNoise">Each step's noise for a sampler that re-noises (euler_ancestral, lcm): the request's
    /// seeded generators, so that a seed still reproduces the image. Unused by the others.</param>
    /// <param name="blend">Inpainting: after each step, replaces the latents by the mask's blend with the init image
    /// noised to the next σ (<see cref="InpaintBlend"/>); null for none.</param>
    /// <returns>The final latents [B, C, h, w] float32 on the transformer's device; the caller owns them.</returns>
    /// <remarks>Step indices passed to <paramref name="onStep"/> count the steps run: 0 … StepsRun − 1.</remarks>
    public Tensor Run(Tensor initialLatents, IReadOnlyList<Tensor> captionFeatures, DenoiseOptions? options = null,
        IReadOnlyList<Tensor>? negativeCaptionFeatures = null, Action<int, Tensor>? onStep = null,
        CancellationToken cancellationToken = default, IStepNoise? stepNoise = null, ILatentBlend? blend = null)
    {
        options ??= new DenoiseOptions();
        CheckArguments(initialLatents, captionFeatures, options, negativeCaptionFeatures);
        using var noGrad = no_grad();
        var device = transformer.Device;
        var dtype = transformer.DType;
        var sigmas = StepSigmas(options);
        var stepGuidance = StepGuidance(options, sigmas);
        using var sampler = FlowSampler.Create(options.Sampler, sigmas);
        if (sampler.DrawsNoise && stepNoise is null)
            throw new ArgumentException($"Sampler '{options.Sampler}' re-noises at every step; pass the request's step noise.", nameof(stepNoise));

        // No dispose scope spans the loop, so tensors the callback creates belong to the caller's scope, not ours.
        // Captions are cast once here rather than in every step's forward.
        var positive = captionFeatures.Select(c => c.to(dtype, device)).ToArray();
        var negative = negativeCaptionFeatures?.Select(c => c.to(dtype, device)).ToArray() ?? [];
        var latents = initialLatents.to(ScalarType.Float32, device, copy: true);
        try
        {
            for (int i = 0; i < sampler.Steps; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                float modelTime = ModelTime(options, sigmas[i]);
                float guidance = stepGuidance[i];

                Tensor next;
                using (var stepScope = NewDisposeScope())
                {
                    var velocity = guidance > 0f
                        ? GuidedVelocity(latents, positive, negative, modelTime, guidance, options.CfgNormalization, dtype, device)
                        : Velocity(latents, positive, modelTime, dtype, device);
                    next = sampler.Step(i, latents, velocity, stepNoise);
                    if (blend is not null) next = blend.Apply(next, sigmas[i + 1], last: i == sampler.Steps - 1);
                    next = next.MoveToOuterDisposeScope();
                }
                latents.Dispose();
                latents = next;
                onStep?.Invoke(i, latents);
            }
            return latents;
        }
        catch
        {
            latents.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in positive.Concat(negative)) t.Dispose();
        }
    }

    /// <summary>The σ of every step the loop runs, and the final one: the whole schedule of <see cref="DenoiseOptions.Steps"/>
    /// from <see cref="DenoiseOptions.FirstStep"/> on.</summary>
    internal static float[] StepSigmas(DenoiseOptions options) =>
        SigmaSchedules.Sigmas(options.Scheduler, options.Steps, options.Shift)[options.FirstStep..];

    /// <summary>The transformer's time input at σ: (1000 − 1000σ) / 1000 in float32, as diffusers computes it from the
    /// timestep (and as its cfg_truncation compares it).</summary>
    private static float ModelTime(DenoiseOptions options, float sigma)
    {
        var scheduler = new FlowMatchEulerScheduler(options.Shift);
        return scheduler.ModelTime(sigma * scheduler.NumTrainTimesteps);
    }

    /// <summary>The guidance each step runs with (one per step, <paramref name="sigmas"/> less its final σ): 0 where
    /// cfg_truncation cuts CFG off (diffusers: t_norm = (1000 − t) / 1000 &gt; cfg_truncation, for cfg_truncation ≤ 1).</summary>
    internal static float[] StepGuidance(DenoiseOptions options, float[] sigmas) =>
        sigmas[..^1].Select(sigma => GuidanceAt(options, ModelTime(options, sigma))).ToArray();

    /// <summary>The guidance of one step: 0 when CFG is off, or truncated because 1 − σ is past cfg_truncation.</summary>
    internal static float GuidanceAt(DenoiseOptions options, float modelTime)
    {
        if (!options.UsesGuidance) return 0f;
        if (options.CfgTruncation <= 1f && modelTime > options.CfgTruncation) return 0f;
        return options.GuidanceScale;
    }

    /// <returns>[B, C, h, w] float32 model output for the positive captions only.</returns>
    private Tensor Velocity(Tensor latents, Tensor[] captions, float modelTime, ScalarType dtype, Device device)
    {
        var outputs = Evaluate(latents, captions, modelTime, dtype, device);
        return stack(outputs.Select(o => o.to(ScalarType.Float32)), 0).squeeze(2);
    }

    /// <summary>pred = pos + g·(pos − neg) per sample in float32, optionally renormalised (diffusers' loop).</summary>
    private Tensor GuidedVelocity(Tensor latents, Tensor[] positive, Tensor[] negative, float modelTime, float guidance,
        float normalization, ScalarType dtype, Device device)
    {
        int batch = positive.Length;
        // Request values, so owned by this call rather than cached (Scalars).
        using var scale = guidance.ToScalar();
        using var limit = normalization.ToScalar();
        var doubled = cat([latents, latents], 0);
        var outputs = Evaluate(doubled, [.. positive, .. negative], modelTime, dtype, device);
        var predictions = new Tensor[batch];
        for (int j = 0; j < batch; j++)
            predictions[j] = CombineGuidance(outputs[j].to(ScalarType.Float32), outputs[batch + j].to(ScalarType.Float32), scale, limit, normalization);
        return stack(predictions, 0).squeeze(2);
    }

    /// <summary>diffusers' CFG of one sample in float32: pred = pos + g·(pos − neg); with cfg_normalization c &gt; 0, a
    /// pred whose L2 norm exceeds c·‖pos‖ is scaled down to it (the norms over the whole sample).</summary>
    /// <param name="guidance">g, owned by the caller (one Scalar per step, not per sample).</param>
    /// <param name="limit">c as a Scalar; <paramref name="normalization"/> is its value (0 = off).</param>
    internal static Tensor CombineGuidance(Tensor pos, Tensor neg, Scalar guidance, Scalar limit, float normalization)
    {
        var prediction = pos.add(pos.sub(neg).mul_(guidance), Scalars.One);
        if (normalization <= 0f) return prediction;
        // Tensor.norm, not linalg.vector_norm: the latter passes a Scalar of its own for the order (Scalars).
        var positiveNorm = pos.norm();
        var predictionNorm = prediction.norm();
        var maxNorm = positiveNorm.mul(limit);
        return predictionNorm.item<float>() > maxNorm.item<float>() ? prediction * (maxNorm / predictionNorm) : prediction;
    }

    /// <summary>One transformer call: latents [N, C, h, w] → per sample [C, 1, h, w] in the model dtype.</summary>
    private Tensor[] Evaluate(Tensor latents, Tensor[] captions, float modelTime, ScalarType dtype, Device device)
    {
        var modelInput = latents.to(dtype).unsqueeze(2);                      // [N, C, 1, h, w]
        var samples = modelInput.unbind(0);
        using var value = modelTime.ToScalar();
        var time = full([samples.Length], value, dtype: ScalarType.Float32, device: device);
        return transformer.forward(samples, time, captions);
    }

    private static void CheckArguments(Tensor initialLatents, IReadOnlyList<Tensor> captionFeatures, DenoiseOptions options,
        IReadOnlyList<Tensor>? negativeCaptionFeatures)
    {
        if (options.Steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.Steps, "The number of steps must be positive.");
        if (options.FirstStep < 0 || options.FirstStep >= options.Steps)
            throw new ArgumentOutOfRangeException(nameof(options), options.FirstStep,
                $"The first step must be 0 … {options.Steps - 1} so that at least one of {options.Steps} steps runs.");
        if (initialLatents.dim() != 4)
            throw new ArgumentException($"Initial latents must be [B, C, h, w], got [{string.Join(", ", initialLatents.shape)}].", nameof(initialLatents));
        if (captionFeatures.Count != initialLatents.shape[0])
            throw new ArgumentException($"Got {initialLatents.shape[0]} latents but {captionFeatures.Count} caption feature tensors; pass one per image.", nameof(captionFeatures));
        if (options.UsesGuidance && (negativeCaptionFeatures is null || negativeCaptionFeatures.Count != captionFeatures.Count))
            throw new ArgumentException(
                $"Guidance {options.GuidanceScale} is on, so one negative caption feature tensor per image is needed " +
                $"({captionFeatures.Count}), got {negativeCaptionFeatures?.Count ?? 0}.", nameof(negativeCaptionFeatures));
    }
}
