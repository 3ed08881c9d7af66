using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Execution;
using static TorchSharp.torch;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Tokenization;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>
/// Builds the three models and the tokenizer: from a checkpoint (configs read from its JSON files, weights converted
/// tensor by tensor to the compute dtype on the device), as the released architecture with random weights built
/// directly on the device (benchmarks), or as the tiny demo model.
/// </summary>
public static class ModelFactory
{
    public static string AssetsFolder => Path.Combine(AppContext.BaseDirectory, "Assets");
    public static string BuiltInTokenizerFolder => Path.Combine(AssetsFolder, "qwen-tokenizer");

    /// <param name="vaeDType">The VAE's dtype: float32 is the reference's choice, bfloat16 halves decode memory.</param>
    /// <param name="byPlan">A checkpoint is built on the meta device and left in its files, for a
    /// <see cref="Execution.ComponentPlacer"/> to load by the plan (the GPU, or an emulated card); otherwise its
    /// weights are read into modules on <paramref name="device"/>.</param>
    public static ZImageModels Load(EngineOptions options, torch.Device device, torch.ScalarType dtype, torch.ScalarType vaeDType,
        bool byPlan = false)
    {
        // Before any weights: a bad preset file fails in milliseconds, not after minutes of loading.
        var preset = ModelPresets.Resolve(options.Preset, options.ModelPath);
        if (options.HasWeights) return FromCheckpoint(options, device, dtype, vaeDType, byPlan || options.PlanOnly, preset);
        // The demo is small enough to build whole; the released architecture only plans, on the meta device.
        if (options.RandomRealWeights) return RandomReleased(options.PlanOnly ? new torch.Device(DeviceType.META) : device, dtype, vaeDType, preset);
        return Demo(device, dtype, vaeDType, preset);
    }

    public static ZImageModels Demo(torch.Device device, torch.ScalarType dtype, torch.ScalarType vaeDType, GenerationPreset? preset = null)
    {
        var file = Path.Combine(AssetsFolder, "demo-model.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var root = doc.RootElement;
        var placement = new BuildTarget(device, dtype);
        var models = new ZImageModels
        {
            Name = "Z-Image demo (tiny random weights)",
            Origin = ModelOrigin.Demo,
            Description = "No weights are configured, so the built-in tiny demo model runs: it has Z-Image's architecture at toy widths with seeded random weights, so it draws soft coloured blobs, not pictures. The seed decides them (the same prompt and seed give the same PNG); the prompt changes them only slightly. Point --model (or ZIMAGE_MODEL) at a diffusers Z-Image-Turbo folder, or give the ComfyUI files with --diffusion-model, --text-encoder and --vae.",
            Tokenizer = QwenTokenizer.Create(BuiltInTokenizerFolder),
            TextEncoder = Qwen3Model.CreateForZImage(Qwen3Config.FromJson(root.GetProperty("text_encoder").GetRawText(), file + "#text_encoder"), placement),
            Transformer = new ZImageTransformer(ZImageTransformerConfig.Parse(root.GetProperty("transformer").GetRawText(), file + "#transformer"), device, dtype),
            Vae = AutoencoderKL.Create(AutoencoderKLConfig.FromJson(root.GetProperty("vae").GetRawText(), file + "#vae"), AutoencoderParts.EncoderAndDecoder, new BuildTarget(device, vaeDType)),
            Shift = root.GetProperty("scheduler").GetProperty("shift").GetDouble(),
            Preset = preset ?? GenerationPreset.Turbo,
        };
        using var generator = new torch.Generator((ulong)root.GetProperty("seed").GetInt64());
        foreach (var module in new torch.nn.Module[] { models.TextEncoder, models.Transformer, models.Vae }) Redraw(module, generator);
        SmoothDecoder(models.Vae);
        return models;
    }

    /// <summary>
    /// Draws every Linear, Conv2d and Embedding weight again from the demo's own generator, in module order, with the
    /// distributions they were built with (PyTorch's defaults: U(±1/√fan_in) for weights and biases, N(0, 1) for
    /// embeddings); norms keep 1 and 0, pad tokens 0. The modules drew from the process-wide generator, which
    /// manual_seed cannot reserve: any other thread's randn between the seed and the last module changed the demo
    /// (two builds in parallel test classes differed). Drawn on the CPU, so every device gets the same numbers.
    /// </summary>
    private static void Redraw(torch.nn.Module model, torch.Generator generator)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            var (weight, bias) = module switch
            {
                Linear l => (l.weight, l.bias),
                Conv2d c => (c.weight, c.bias),
                TokenEmbedding e => (e.weight, null),
                _ => (null, null),
            };
            if (weight is null) continue;
            if (module is TokenEmbedding)
            {
                Fill(weight, t => t.normal_(0.0, 1.0, generator));
                continue;
            }
            long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            double bound = 1.0 / Math.Sqrt(fanIn);
            Fill(weight, t => t.uniform_(-bound, bound, generator));
            if (bias is not null) Fill(bias, t => t.uniform_(-bound, bound, generator));
        }
    }

    private static void Fill(torch.Tensor parameter, Func<torch.Tensor, torch.Tensor> draw)
    {
        using var values = torch.empty(parameter.shape, torch.ScalarType.Float32);
        draw(values);
        parameter.copy_(values);
    }

    /// <summary>
    /// Turns each seeded 3×3 kernel of the demo's decoder into its channel mix times a [1 2 1]ᵀ[1 2 1]/16 blur. Random
    /// kernels mix neighbouring pixels with random signs, so every conv adds fine detail and the image is pixel-level
    /// colour noise; blurred ones carry the latent's own structure up through the upsamplers, so the image shows soft
    /// coloured blobs the seed decides.
    /// </summary>
    private static void SmoothDecoder(AutoencoderKL vae)
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var blur = torch.tensor(new float[] { 1, 2, 1, 2, 4, 2, 1, 2, 1 }, [3, 3]).div_(Scalars.Of(16));
        foreach (var (name, weight) in vae.named_parameters())
        {
            if (!name.StartsWith("decoder.", StringComparison.Ordinal) || weight.dim() != 4 || weight.shape[2] != 3) continue;
            using var mix = weight.sum([2L, 3L], keepdim: true);                               // [out, in, 1, 1]
            using var kernel = blur.to(weight.dtype, weight.device);
            using var smooth = mix.mul(kernel);
            weight.copy_(smooth);
        }
    }

    public static ZImageModels RandomReleased(torch.Device device, torch.ScalarType dtype, torch.ScalarType vaeDType, GenerationPreset? preset = null)
    {
        torch.manual_seed(0);
        var placement = new BuildTarget(device, dtype);
        return new ZImageModels
        {
            Name = "Z-Image-Turbo architecture (random weights)",
            Origin = ModelOrigin.RandomReleased,
            Description = "The released Z-Image-Turbo architecture with random weights built directly on the device: real speed and memory, no real picture. No weight files are read.",
            Tokenizer = QwenTokenizer.Create(BuiltInTokenizerFolder),
            TextEncoder = Qwen3Model.CreateForZImage(Qwen3Config.Released, placement),
            Transformer = new ZImageTransformer(ZImageTransformerConfig.Released, device, dtype),
            Vae = AutoencoderKL.Create(AutoencoderKLConfig.Released, AutoencoderParts.EncoderAndDecoder, new BuildTarget(device, vaeDType)),
            Shift = 3.0,
            Preset = preset ?? GenerationPreset.Turbo,
        };
    }

    /// <param name="byPlan">Build every module on the meta device and check the files' headers against it without
    /// reading a tensor: nothing is allocated on any device until the placer loads what the plan puts there. The VAE is
    /// built whole (its encoder is 34 M parameters) so that an image-to-image request can encode its init image.</param>
    /// <param name="preset">The request defaults; resolved from the options (<see cref="ModelPresets.Resolve"/>) when null.</param>
    public static ZImageModels FromCheckpoint(EngineOptions options, torch.Device device, torch.ScalarType dtype, torch.ScalarType vaeDType,
        bool byPlan = false, GenerationPreset? preset = null)
    {
        preset ??= ModelPresets.Resolve(options.Preset, options.ModelPath);
        CheckpointPreflight.Check(options); // headers and configs only: a wrong file fails here, not after building the models
        var layout = CheckpointLayout.Resolve(new CheckpointPaths
        {
            Folder = options.ModelPath,
            DiffusionModel = options.DiffusionModelPath,
            TextEncoder = options.TextEncoderPath,
            Vae = options.VaePath,
            Tokenizer = options.TokenizerPath,
        });
        var tokenizer = QwenTokenizer.Create(layout.TokenizerPath ?? BuiltInTokenizerFolder);
        var buildOn = byPlan ? new torch.Device(DeviceType.META) : device;

        var teConfig = layout.TextEncoder.ConfigPath is { } tc ? Qwen3Config.FromFile(tc) : Qwen3Config.Released;
        var ditConfig = layout.Transformer.ConfigPath is { } dc ? ZImageTransformerConfig.FromJson(dc) : ZImageTransformerConfig.Released;
        var vaeConfig = layout.Vae.ConfigPath is { } vc ? AutoencoderKLConfig.FromFile(vc) : AutoencoderKLConfig.Released;
        if (teConfig.HiddenSize != ditConfig.CapFeatDim)
            throw new CheckpointException(
                $"The text encoder's hidden size ({teConfig.HiddenSize}) differs from the transformer's cap_feat_dim ({ditConfig.CapFeatDim}); these files do not belong together.");

        Qwen3Model? te = null;
        ZImageTransformer? dit = null;
        AutoencoderKL? vae = null;
        IWeightSource? teSource = null, ditSource = null, vaeSource = null;
        try
        {
            te = Qwen3Model.CreateForZImage(teConfig, new BuildTarget(buildOn, dtype));
            dit = new ZImageTransformer(ditConfig, buildOn, dtype);
            vae = AutoencoderKL.Create(vaeConfig, AutoencoderParts.EncoderAndDecoder, new BuildTarget(buildOn, vaeDType));
            teSource = layout.TextEncoder.OpenWeights();
            ditSource = layout.Transformer.OpenWeights();
            vaeSource = layout.Vae.OpenWeights();
            if (byPlan)
            {
                // Every header checked against every module before anything is read: a wrong file fails in seconds.
                WeightLoader.Check(te, teSource, te.IsUnbuiltCheckpointKey);
                WeightLoader.Check(dit, ditSource);
                WeightLoader.Check(vae, vaeSource, vae.IsUnbuiltCheckpointKey);
            }
            else
            {
                WeightLoader.LoadInto(te, teSource, te.IsUnbuiltCheckpointKey);
                WeightLoader.LoadInto(dit, ditSource);
                WeightLoader.LoadInto(vae, vaeSource, vae.IsUnbuiltCheckpointKey);
            }
        }
        catch
        {
            te?.Dispose();
            dit?.Dispose();
            vae?.Dispose();
            teSource?.Dispose();
            ditSource?.Dispose();
            vaeSource?.Dispose();
            throw;
        }
        ModelWeightFiles? files = null;
        if (byPlan) files = new ModelWeightFiles(teSource, ditSource, vaeSource);
        else
        {
            teSource.Dispose();
            ditSource.Dispose();
            vaeSource.Dispose();
        }
        return new ZImageModels
        {
            Name = options.ModelPath is { } folder ? $"{preset.ModelFamily} ({Path.GetFileName(Path.TrimEndingDirectorySeparator(folder))})" : $"{preset.ModelFamily} ({Path.GetFileName(options.DiffusionModelPath)})",
            Origin = ModelOrigin.Checkpoint,
            Description = $"Weights from {options.ModelPath ?? options.DiffusionModelPath}.",
            Tokenizer = tokenizer,
            TextEncoder = te,
            Transformer = dit,
            Vae = vae,
            Shift = ReadShift(layout.SchedulerConfigPath),
            Files = files,
            Preset = preset,
        };
    }

    private static double ReadShift(string? schedulerConfig) => SchedulerConfig.ReadShift(schedulerConfig);
}
