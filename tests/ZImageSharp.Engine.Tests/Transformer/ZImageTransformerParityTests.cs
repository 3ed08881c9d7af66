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
        TestData.RequireReference("dit_weights.json", "dit_weights.safetensors", "dit_case1.json", "dit_case1.safetensors");
        using var model = LoadReferenceModel();
        using var fixture = SafetensorsFile.Open(TestData.Reference("dit_case1.safetensors"));
        int batch = CaseBatch("dit_case1");
        Assert.True(batch >= 2, $"dit_case1 must hold a batch to compare with single calls (batch {batch}).");
        using var scope = torch.NewDisposeScope();
        var latents = Enumerable.Range(0, batch).Select(i => fixture.Read($"x.{i}")).ToArray();
        var captions = Enumerable.Range(0, batch).Select(i => fixture.Read($"cap.{i}")).ToArray();
        var t = fixture.Read("t");

        var batched = model.forward(latents, t, captions);
        Assert.Equal(batch, batched.Length);
        for (int i = 0; i < batch; i++)
        {
            var alone = model.forward([latents[i]], t[i..(i + 1)], [captions[i]]);
            // Only matmul blocking differs between the calls: float32 rounding, far below the parity tolerance.
            Assert.True(TensorAssert.RelativeError(batched[i], alone[0]) < 1e-5, $"sample {i} of {batch}");
        }
    }

    /// <summary>The batch size a DiT case's JSON declares, so another reference folder is checked the same way.</summary>
    private static int CaseBatch(string name) =>
        JsonDocument.Parse(File.ReadAllText(TestData.Reference($"{name}.json"))).RootElement.GetProperty("batch").GetInt32();

    /// <summary>The same weights in bfloat16 (the GPU dtype) stay close to the float32 reference: checks the dtype
    /// plumbing (fp32 islands with float32 weights, casts at entry, pad tokens and norms in the model dtype, float32
    /// output), not bitwise behaviour.</summary>
    [SkippableFact]
    public void BFloat16ModelStaysCloseToTheFloat32Reference()
    {
        TestData.RequireReference("dit_weights.json", "dit_weights.safetensors", "dit_case1.json", "dit_case1.safetensors");
        var config = ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json"));
        using var model = new ZImageTransformer(config, dtype: torch.ScalarType.BFloat16);
        using (var weights = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors")))
            WeightLoader.LoadInto(model, weights);
        Assert.All(model.named_parameters(), p => Assert.Equal(
            ZImageTransformer.KeepsFloat32(p.name) ? torch.ScalarType.Float32 : torch.ScalarType.BFloat16, p.parameter.dtype));

        using var fixture = SafetensorsFile.Open(TestData.Reference("dit_case1.safetensors"));
        using var scope = torch.NewDisposeScope();
        int batch = CaseBatch("dit_case1");
        var outputs = model.forward(Enumerable.Range(0, batch).Select(i => fixture.Read($"x.{i}")).ToArray(), fixture.Read("t"),
            Enumerable.Range(0, batch).Select(i => fixture.Read($"cap.{i}")).ToArray());
        Assert.Equal(batch, outputs.Length);
        for (int i = 0; i < batch; i++)
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
