using System.Diagnostics;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Imaging;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Imaging;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>
/// Text to image, phase by phase (spec §1.2): tokenize, encode each distinct prompt over its real tokens only,
/// denoise from seeded CPU noise, decode, write PNGs that carry their parameters. Where each component lives is the
/// phase weights' business (IPhaseWeights); how each phase copes with memory is the phase runner's.
/// </summary>
public sealed class ZImagePipeline(ZImageModels models)
{
    public ZImageModels Models { get; } = models;

    /// <summary>The caption features of one prompt: [tokens, hidden] on the transformer's device and dtype.</summary>
    public Tensor EncodePrompt(string prompt, Device textEncoderDevice)
    {
        var clock = Stopwatch.StartNew();
        var ids = Models.Tokenizer.EncodePromptIds(prompt);
        PhaseTrace.Mark("tokenize", clock);
        using var idTensor = tensor(ids.Select(i => (long)i).ToArray(), dtype: ScalarType.Int64, device: textEncoderDevice);
        PhaseTrace.Mark("ids to device", clock);
        using var hidden = Models.TextEncoder.EncodeForZImage(idTensor);
        PhaseTrace.Mark("text encoder, host done issuing", clock);
        PhaseTrace.Mark("text encoder, device done after that", clock, textEncoderDevice);
        var features = hidden.to(Models.Transformer.DType, Models.Transformer.Device);
        PhaseTrace.Mark("features to transformer", clock, Models.Transformer.Device);
        return features;
    }

    public IReadOnlyList<GeneratedImage> Generate(
        GenerationRequest request,
        long seed,
        PhaseRunner phases,
        IPhaseWeights phaseWeights,
        Func<DecodeSettings> decodeSettings,
        IProgress<GenerationProgress>? progress,
        CancellationToken cancellationToken,
        PipelineLoras? loras = null,
        Func<string>? weightsPrecision = null)
    {
        var clock = Stopwatch.StartNew();
        void Report(GenerationPhase phase, int step, int total, TimeSpan? eta = null, PreviewImage? preview = null) =>
            progress?.Report(new GenerationProgress(phase, step, total, clock.Elapsed, eta, preview));

        using var noGrad = no_grad();
        bool guided = request.GuidanceScale > 0f;

        Report(GenerationPhase.Encode, 0, guided ? 2 : 1);
        var (positive, negative) = phases.Run(GenerationPhase.Encode, () =>
        {
            phaseWeights.BeforePhase(GenerationPhase.Encode);
            try
            {
                var pos = EncodePrompt(request.Prompt, phaseWeights.TextEncoderDevice);
                var neg = guided ? EncodePrompt(request.NegativePrompt, phaseWeights.TextEncoderDevice) : null;
                return (pos.MoveToOuterDisposeScope(), neg?.MoveToOuterDisposeScope());
            }
            finally { phaseWeights.AfterPhase(GenerationPhase.Encode); }
        });
        cancellationToken.ThrowIfCancellationRequested();

        // Image-to-image: the VAE encoder runs where the plan puts the VAE (its decode placement), before the denoise
        // phase; the posterior's sample is drawn there, from the image's generator, so a retry draws it again.
        (Tensor Mean, Tensor LogVariance)? posterior = null;
        if (request.InitImage is { } initImage)
            posterior = phases.Run(GenerationPhase.Decode, () =>
            {
                phaseWeights.BeforePhase(GenerationPhase.Decode);
                try
                {
                    var (mean, logVariance) = ImageEdit.Encode(Models.Vae, initImage, Models.Transformer.Device);
                    return (mean.MoveToOuterDisposeScope(), logVariance.MoveToOuterDisposeScope());
                }
                finally { phaseWeights.AfterPhase(GenerationPhase.Decode); }
            });

        Tensor latents;
        try
        {
            var captions = Enumerable.Repeat(positive, request.Count).ToArray();
            var negatives = negative is null ? null : Enumerable.Repeat(negative, request.Count).ToArray();
            var (latentHeight, latentWidth) = LatentNoise.LatentSize(request.Height, request.Width);
            var options = new DenoiseOptions
            {
                Steps = request.Steps,
                Shift = request.Shift ?? Models.Shift,
                Sampler = request.Sampler,
                Scheduler = request.Scheduler,
                GuidanceScale = request.GuidanceScale,
                CfgTruncation = request.CfgTruncation,
                CfgNormalization = request.CfgNormalization,
                FirstStep = request.InitImage is null ? 0 : ImageEditSchedule.FirstStep(request.Steps, request.Strength),
            };
            int stepsRun = options.StepsRun;
            var denoiser = new Denoiser(Models.Transformer);
            latents = phases.Run(GenerationPhase.Denoise, () =>
            {
                phaseWeights.BeforePhase(GenerationPhase.Denoise);
                try
                {
                    using var seeded = new SeededNoise(seed, request.Count);
                    using var edit = posterior is { } p
                        ? EditStart.Prepare(Models, request, p.Mean, p.LogVariance, seeded, options)
                        : null;
                    using var noise = edit is null
                        ? seeded.Draw(Models.Transformer.Config.InChannels, latentHeight, latentWidth)
                        : edit.Latents.alias();
                    loras?.BeforeDenoise(); // after the weights are placed: each attempt, each plan
                    var stepClock = Stopwatch.StartNew();
                    Report(GenerationPhase.Denoise, 0, stepsRun);
                    var final = denoiser.Run(noise, captions, options, negatives, (step, current) =>
                    {
                        var perStep = stepClock.Elapsed / (step + 1);
                        var preview = progress is null ? null : LatentPreview.Render(current[0]);
                        Report(GenerationPhase.Denoise, step + 1, stepsRun, perStep * (stepsRun - step - 1), preview);
                    }, cancellationToken, seeded, edit?.Blend);
                    FiniteCheck.Ensure(final, GenerationPhase.Denoise, "latents", DenoiseHint);
                    return final;
                }
                finally { phaseWeights.AfterPhase(GenerationPhase.Denoise); }
            });
        }
        finally
        {
            positive.Dispose();
            negative?.Dispose();
            posterior?.Mean.Dispose();
            posterior?.LogVariance.Dispose();
        }

        IReadOnlyList<RgbImage> pixels;
        using (latents)
        {
            Report(GenerationPhase.Decode, 0, request.Count);
            pixels = phases.Run(GenerationPhase.Decode, () =>
            {
                phaseWeights.BeforePhase(GenerationPhase.Decode);
                try { return Decode(latents, decodeSettings()); }
                finally { phaseWeights.AfterPhase(GenerationPhase.Decode); }
            });
        }

        Report(GenerationPhase.Png, 0, request.Count);
        var images = phases.Run(GenerationPhase.Png, () => pixels.Select((image, i) =>
        {
            // Read when the image is made: an out-of-memory recovery may have moved the plan to fp8 on the way.
            var parameters = ImageParameters.For(request, seed + i, image.Width, image.Height, Models.Name, weightsPrecision?.Invoke())
                .WithPreset(Models.Preset)
                .WithLoras(request.Loras, loras?.Hashes);
            var png = PngEncoder.Encode(image.Pixels, image.Width, image.Height, PngColorType.Rgb, parameters.ToPngText());
            return new GeneratedImage(png, seed + i, image.Width, image.Height);
        }).ToList());
        Report(GenerationPhase.Done, request.Count, request.Count);
        return images;
    }

    /// <summary>The LoRAs of one generation: applied once the transformer's weights are placed, named in the PNG.</summary>
    public sealed record PipelineLoras(Action BeforeDenoise, string Hashes);

    private const string DenoiseHint =
        "The latents were finite going in, so the transformer (or the text encoder's features) made them so: the weights " +
        "may be damaged or not Z-Image's, or bf16 overflowed; try --dtype fp32, or check the weight files.";

    private const string DecodeHint =
        "The latents from the denoise phase were finite, so the VAE made them so: its weights may be damaged or not the " +
        "Flux VAE, or its dtype overflowed (on CUDA it follows --dtype); try --dtype fp32, or check the VAE file.";

    private IReadOnlyList<RgbImage> Decode(Tensor latents, DecodeSettings settings)
    {
        var vae = Models.Vae;
        var results = new List<RgbImage>();
        long count = latents.shape[0];
        long perPass = Math.Max(1, Math.Min(settings.ImagesPerPass, count));
        for (long start = 0; start < count; start += perPass)
        {
            using var scope = NewDisposeScope();
            var slice = latents.narrow(0, start, Math.Min(perPass, count - start));
            var z = vae.FromDiffusionLatents(slice.to(vae.ParameterDType(), vae.ParameterDevice()));
            var decoded = settings.Tiles is { } tiles ? VaeTiling.DecodeTiled(vae, z, tiles) : vae.Decode(z);
            FiniteCheck.Ensure(decoded, GenerationPhase.Decode, "decoded image", DecodeHint);
            results.AddRange(ImageConversion.ToRgb(decoded));
        }
        return results;
    }
}
