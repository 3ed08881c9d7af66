using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>diffusers' ZImagePipeline from prompt embeddings to image (tiny DiT and VAE, settings from the fixture).</summary>
[Trait("Category", "Parity")]
public class DenoiserParityTests(ITestOutputHelper output)
{
    private const string Json = "pipeline_case0.json", Tensors = "pipeline_case0.safetensors";

    [SkippableFact]
    public void LatentsAfterEveryStepMatchDiffusers()
    {
        TestData.RequireReference(Json, Tensors);
        using var fixture = SafetensorsFile.Open(TestData.Reference(Tensors));
        var errors = new List<double>();
        using var final = Denoise(fixture, (step, latents) =>
        {
            using var expected = fixture.Read($"latents_after_step.{step}");
            errors.Add(TensorAssert.Close(latents, expected, $"latents_after_step.{step}", output));
        });

        Assert.Equal(Settings().Steps, errors.Count);
        using var last = fixture.Read($"latents_after_step.{errors.Count - 1}");
        TensorAssert.Close(final, last, "returned latents", output);
    }

    /// <summary>The loop's own final latents, unscaled and decoded: clamp(decoded / 2 + 0.5, 0, 1) as diffusers' "pt" output.</summary>
    [SkippableFact]
    public void FinalImageMatchesDiffusers()
    {
        TestData.RequireReference(Json, Tensors);
        using var fixture = SafetensorsFile.Open(TestData.Reference(Tensors));
        using var latents = Denoise(fixture, onStep: null);

        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(Json)));
        var vaeConfig = AutoencoderKLConfig.FromJson(doc.RootElement.GetProperty("vae_config").GetRawText(), $"{Json} vae_config");
        using var vae = AutoencoderKL.Create(vaeConfig, AutoencoderParts.DecoderOnly);
        WeightLoader.LoadInto(vae, new PrefixedWeightSource(fixture, "vae."), vae.IsUnbuiltCheckpointKey);

        using var scope = torch.NewDisposeScope();
        var image = (vae.Decode(vae.FromDiffusionLatents(latents)) / 2 + 0.5).clamp(0, 1);
        TensorAssert.Close(image, fixture.Read("image"), "image", output);
    }

    private static DenoiseOptions Settings()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(Json)));
        var root = doc.RootElement;
        var normalization = root.GetProperty("cfg_normalization");
        return new DenoiseOptions
        {
            Steps = root.GetProperty("steps").GetInt32(),
            Shift = root.GetProperty("scheduler").GetProperty("shift").GetDouble(),
            GuidanceScale = root.GetProperty("guidance_scale").GetSingle(),
            CfgTruncation = root.GetProperty("cfg_truncation").GetSingle(),
            CfgNormalization = normalization.ValueKind switch
            {
                JsonValueKind.True => 1f,
                JsonValueKind.False => 0f,
                _ => normalization.GetSingle(),
            },
        };
    }

    private static torch.Tensor Denoise(SafetensorsFile fixture, Action<int, torch.Tensor>? onStep)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(Json)));
        var config = ZImageTransformerConfig.Parse(doc.RootElement.GetProperty("dit_config").GetRawText(), $"{Json} dit_config");
        var options = Settings();
        using var model = new ZImageTransformer(config);
        WeightLoader.LoadInto(model, new PrefixedWeightSource(fixture, "dit."));

        using var initial = fixture.Read("latents_in");
        int batch = (int)initial.shape[0];
        var captions = Enumerable.Range(0, batch).Select(i => fixture.Read($"prompt_embeds.{i}")).ToArray();
        var negatives = options.UsesGuidance
            ? Enumerable.Range(0, batch).Select(i => fixture.Read($"negative_embeds.{i}")).ToArray()
            : null;
        try
        {
            return new Denoiser(model).Run(initial, captions, options, negatives, onStep);
        }
        finally
        {
            foreach (var t in captions.Concat(negatives ?? [])) t.Dispose();
        }
    }
}
