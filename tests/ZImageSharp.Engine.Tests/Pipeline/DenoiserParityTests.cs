using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>diffusers' ZImagePipeline loop (tiny DiT, 4 steps, shift 3, guidance from the fixture) step by step.</summary>
[Trait("Category", "Parity")]
public class DenoiserParityTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void LatentsAfterEveryStepMatchDiffusers()
    {
        TestData.RequireReference("pipeline_case0.json", "pipeline_case0.safetensors");
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference("pipeline_case0.json")));
        var root = doc.RootElement;
        var config = ZImageTransformerConfig.Parse(root.GetProperty("dit_config").GetRawText(), "pipeline_case0.json dit_config");
        var options = new DenoiseOptions
        {
            Steps = root.GetProperty("steps").GetInt32(),
            Shift = root.GetProperty("scheduler").GetProperty("shift").GetDouble(),
            GuidanceScale = root.GetProperty("guidance_scale").GetSingle(),
            CfgTruncation = root.GetProperty("cfg_truncation").GetSingle(),
            CfgNormalization = root.GetProperty("cfg_normalization").ValueKind switch
            {
                JsonValueKind.True => 1f,
                JsonValueKind.False => 0f,
                _ => root.GetProperty("cfg_normalization").GetSingle(),
            },
        };

        using var fixture = SafetensorsFile.Open(TestData.Reference("pipeline_case0.safetensors"));
        using var model = new ZImageTransformer(config);
        WeightLoader.LoadInto(model, new PrefixedWeightSource(fixture, "dit."));
        using var initial = fixture.Read("latents_in");
        int batch = (int)initial.shape[0];
        var captions = Enumerable.Range(0, batch).Select(i => fixture.Read($"prompt_embeds.{i}")).ToArray();
        var negatives = options.UsesGuidance
            ? Enumerable.Range(0, batch).Select(i => fixture.Read($"negative_embeds.{i}")).ToArray()
            : null;

        var errors = new List<double>();
        using var final = new Denoiser(model).Run(initial, captions, options, negatives, onStep: (step, latents) =>
        {
            using var expected = fixture.Read($"latents_after_step.{step}");
            errors.Add(TensorAssert.Close(latents, expected, $"latents_after_step.{step}", output));
        });

        Assert.Equal(options.Steps, errors.Count);
        using var last = fixture.Read($"latents_after_step.{options.Steps - 1}");
        TensorAssert.Close(final, last, "returned latents", output);
        foreach (var t in captions.Concat(negatives ?? [])) t.Dispose();
    }
}
