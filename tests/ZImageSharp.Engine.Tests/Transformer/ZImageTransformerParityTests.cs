using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Transformer;

/// <summary>The tiny reference transformer (random weights, random pad tokens) against diffusers' outputs.</summary>
[Trait("Category", "Parity")]
public class ZImageTransformerParityTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void SingleSampleMatchesDiffusers() => CheckCase("dit_case0");

    /// <summary>Two samples of different latent sizes and caption lengths 5 and 40 (across the pad-to-32 boundary):
    /// exercises pad tokens, position ids and the batch key mask.</summary>
    [SkippableFact]
    public void MixedBatchMatchesDiffusers() => CheckCase("dit_case1");

    [SkippableFact]
    public void BatchedSamplesEqualSeparateCalls()
    {
        TestData.RequireReference("dit_weights.json", "dit_weights.safetensors", "dit_case1.safetensors");
        using var model = LoadReferenceModel();
        using var fixture = SafetensorsFile.Open(TestData.Reference("dit_case1.safetensors"));
        using var x0 = fixture.Read("x.0");
        using var x1 = fixture.Read("x.1");
        using var c0 = fixture.Read("cap.0");
        using var c1 = fixture.Read("cap.1");
        using var t = fixture.Read("t");

        var batched = model.forward([x0, x1], t, [c0, c1]);
        var alone0 = model.forward([x0], t[..1], [c0]);
        var alone1 = model.forward([x1], t[1..], [c1]);

        // Only matmul blocking differs between the calls: float32 rounding, far below the parity tolerance.
        Assert.True(TensorAssert.RelativeError(batched[0], alone0[0]) < 1e-5);
        Assert.True(TensorAssert.RelativeError(batched[1], alone1[0]) < 1e-5);
        foreach (var tensor in batched.Concat(alone0).Concat(alone1)) tensor.Dispose();
    }

    /// <summary>The same weights in bfloat16 (the GPU dtype) stay close to the float32 reference: checks the dtype
    /// plumbing (fp32 islands with float32 weights, casts at entry, pad tokens and norms in the model dtype, float32
    /// output), not bitwise behaviour.</summary>
    [SkippableFact]
    public void BFloat16ModelStaysCloseToTheFloat32Reference()
    {
        TestData.RequireReference("dit_weights.json", "dit_weights.safetensors", "dit_case1.safetensors");
        var config = ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json"));
        using var model = new ZImageTransformer(config, dtype: torch.ScalarType.BFloat16);
        using (var weights = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors")))
            WeightLoader.LoadInto(model, weights);
        Assert.All(model.named_parameters(), p => Assert.Equal(
            ZImageTransformer.KeepsFloat32(p.name) ? torch.ScalarType.Float32 : torch.ScalarType.BFloat16, p.parameter.dtype));

        using var fixture = SafetensorsFile.Open(TestData.Reference("dit_case1.safetensors"));
        using var scope = torch.NewDisposeScope();
        var outputs = model.forward([fixture.Read("x.0"), fixture.Read("x.1")], fixture.Read("t"), [fixture.Read("cap.0"), fixture.Read("cap.1")]);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(torch.ScalarType.Float32, outputs[i].dtype);
            TensorAssert.Close(outputs[i], fixture.Read($"out.{i}"), $"bf16 dit_case1 out.{i}", output, tolerance: 2e-2);
        }
    }

    private void CheckCase(string name)
    {
        TestData.RequireReference("dit_weights.json", "dit_weights.safetensors", $"{name}.json", $"{name}.safetensors");
        using var model = LoadReferenceModel();
        using var fixture = SafetensorsFile.Open(TestData.Reference($"{name}.safetensors"));
        int batch = JsonDocument.Parse(File.ReadAllText(TestData.Reference($"{name}.json"))).RootElement.GetProperty("batch").GetInt32();

        var latents = Enumerable.Range(0, batch).Select(i => fixture.Read($"x.{i}")).ToArray();
        var captions = Enumerable.Range(0, batch).Select(i => fixture.Read($"cap.{i}")).ToArray();
        using var t = fixture.Read("t");
        var outputs = model.forward(latents, t, captions);

        Assert.Equal(batch, outputs.Length);
        for (int i = 0; i < batch; i++)
        {
            using var expected = fixture.Read($"out.{i}");
            TensorAssert.Close(outputs[i], expected, $"{name} out.{i}", output);
        }
        foreach (var tensor in latents.Concat(captions).Concat(outputs)) tensor.Dispose();
    }

    internal static ZImageTransformer LoadReferenceModel()
    {
        var config = ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json"));
        var model = new ZImageTransformer(config);
        using var weights = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"));
        WeightLoader.LoadInto(model, weights);
        return model;
    }
}
