using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.TextEncoder;

/// <summary>Qwen3 against transformers' <c>Qwen3Model</c> (fixtures qwen3_weights / qwen3_case0), float32 on the CPU.</summary>
public sealed class Qwen3ParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;
    private const string Weights = "qwen3_weights.safetensors", Case = "qwen3_case0.safetensors";

    private static Qwen3Config FixtureConfig() =>
        Qwen3Config.FromJson(File.ReadAllText(TestData.Reference("qwen3_weights.json")), "qwen3_weights.json");

    private static Qwen3Model LoadFull()
    {
        var model = Qwen3Model.Create(FixtureConfig());
        using var source = SafetensorsFile.Open(TestData.Reference(Weights));
        WeightLoader.LoadInto(model, source);
        return model;
    }

    /// <summary>Rows where the mask is 1, flattened: [Σ L_b, hidden].</summary>
    private static Tensor RealRows(Tensor hidden, Tensor mask) => hidden[mask.to(ScalarType.Bool)];

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void EveryHiddenStateMatchesTransformersOnRealTokens()
    {
        TestData.RequireReference(Weights, Case, "qwen3_weights.json");
        using var scope = NewDisposeScope();
        using var model = LoadFull();
        var ids = ModelTestKit.ReadTensor(Case, "input_ids");
        var mask = ModelTestKit.ReadTensor(Case, "attention_mask");

        for (int i = 0; i <= model.Config.NumHiddenLayers; i++)
        {
            var error = ModelTestKit.RelativeError(RealRows(model.Forward(ids, mask, i), mask),
                RealRows(ModelTestKit.ReadTensor(Case, $"hidden.{i}"), mask));
            output.WriteLine($"hidden.{i}: relative error {error:E2}");
            Assert.True(error <= Tolerance, $"hidden.{i}: relative error {error:E2} > {Tolerance:E0}");
        }
        foreach (var (name, index) in new[] { ("hidden_second_last", -2), ("last_hidden", -1) })
        {
            var error = ModelTestKit.RelativeError(RealRows(model.Forward(ids, mask, index), mask),
                RealRows(ModelTestKit.ReadTensor(Case, name), mask));
            output.WriteLine($"{name}: relative error {error:E2}");
            Assert.True(error <= Tolerance, $"{name}: relative error {error:E2} > {Tolerance:E0}");
        }
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void ZImageModelSkipsLastLayerAndNormAndMatchesSecondLastHiddenState()
    {
        TestData.RequireReference(Weights, Case, "qwen3_weights.json");
        using var scope = NewDisposeScope();
        using var model = Qwen3Model.CreateForZImage(FixtureConfig());
        using (var source = SafetensorsFile.Open(TestData.Reference(Weights)))
            WeightLoader.LoadInto(model, source, model.IsUnbuiltCheckpointKey);
        Assert.Equal(model.Config.NumHiddenLayers - 1, model.BuiltLayerCount);
        Assert.False(model.HasFinalNorm);
        Assert.DoesNotContain(model.named_parameters(), p => p.name == "norm.weight" || p.name.StartsWith($"layers.{model.BuiltLayerCount}."));

        var ids = ModelTestKit.ReadTensor(Case, "input_ids");
        var mask = ModelTestKit.ReadTensor(Case, "attention_mask");
        var expected = ModelTestKit.ReadTensor(Case, "hidden_second_last");
        var error = ModelTestKit.RelativeError(RealRows(model.Forward(ids, mask, -2), mask), RealRows(expected, mask));
        output.WriteLine($"Z-Image (L−1 layers) hidden_second_last: relative error {error:E2}");
        Assert.True(error <= Tolerance, $"relative error {error:E2} > {Tolerance:E0}");
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(ids, mask, -1));
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void UnpaddedPerPromptEncodingEqualsPaddedBatchOnRealTokens()
    {
        TestData.RequireReference(Weights, Case, "qwen3_weights.json");
        using var scope = NewDisposeScope();
        using var model = LoadFull();
        var ids = ModelTestKit.ReadTensor(Case, "input_ids");
        var mask = ModelTestKit.ReadTensor(Case, "attention_mask");
        var expected = ModelTestKit.ReadTensor(Case, "hidden_second_last");
        var padded = model.Forward(ids, mask, -2);
        var lengths = mask.sum(1).data<long>().ToArray();
        Assert.Contains(lengths, l => l < ids.shape[1]);                                 // the case really is padded

        for (int b = 0; b < lengths.Length; b++)
        {
            var alone = model.EncodeForZImage(ids[b].narrow(0, 0, lengths[b]));
            Assert.Equal(new[] { lengths[b], model.Config.HiddenSize }, alone.shape);
            var vsBatch = ModelTestKit.RelativeError(alone, padded[b].narrow(0, 0, lengths[b]));
            var vsReference = ModelTestKit.RelativeError(alone, expected[b].narrow(0, 0, lengths[b]));
            output.WriteLine($"prompt {b} (L={lengths[b]}): unpadded vs padded batch {vsBatch:E2}, vs reference {vsReference:E2}");
            Assert.True(vsBatch <= 1e-6, $"prompt {b}: unpadded differs from the padded batch by {vsBatch:E2}");
            Assert.True(vsReference <= Tolerance, $"prompt {b}: relative error {vsReference:E2} > {Tolerance:E0}");
        }
    }
}
