using System.Text.Json;
using TorchSharp;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Tests.Transformer;

/// <summary>The model built at the released config has exactly the checkpoint's tensor names and shapes.</summary>
public class ZImageTransformerManifestTests
{
    private static readonly torch.Device Meta = new(DeviceType.META);

    [SkippableFact]
    public void ReleasedConfigMatchesTheRealCheckpointManifest()
    {
        TestData.RequireReference("real_manifests.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference("real_manifests.json")));
        var expected = doc.RootElement.GetProperty("transformer").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(d => d.GetInt64()).ToArray());
        long expectedCount = doc.RootElement.GetProperty("transformer_param_count").GetInt64();

        // The meta device gives names and shapes without allocating the 24.6 GB of float32 weights.
        using var model = new ZImageTransformer(ZImageTransformerConfig.Released, Meta);
        var actual = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        var missing = expected.Keys.Except(actual.Keys).Order(StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Except(expected.Keys).Order(StringComparer.Ordinal).ToList();
        var misshaped = expected.Keys.Intersect(actual.Keys).Where(k => !expected[k].SequenceEqual(actual[k]))
            .Select(k => $"{k}: expected [{string.Join(", ", expected[k])}], got [{string.Join(", ", actual[k])}]").ToList();
        Assert.True(missing.Count + unexpected.Count + misshaped.Count == 0,
            $"Missing ({missing.Count}): {string.Join(", ", missing)}\nUnexpected ({unexpected.Count}): {string.Join(", ", unexpected)}\n" +
            $"Misshaped ({misshaped.Count}): {string.Join("; ", misshaped)}");

        Assert.Equal(521, actual.Count);
        Assert.Equal(6_154_908_736L, expectedCount);
        Assert.Equal(expectedCount, actual.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
    }

    [Fact]
    public void StreamableBlocksAreTheRepeatedBlocksInExecutionOrder()
    {
        using var model = new ZImageTransformer(ZImageTransformerConfig.Released, Meta, torch.ScalarType.BFloat16);
        var prefixes = model.StreamableBlocks.Select(b => b.Prefix).ToList();
        Assert.Equal(
            ["noise_refiner.0", "noise_refiner.1", "context_refiner.0", "context_refiner.1", .. Enumerable.Range(0, 30).Select(i => $"layers.{i}")],
            prefixes);
        // The float32 islands: the timestep embedder, every adaLN Linear and the final layer; all else is bf16.
        Assert.All(model.named_parameters(), p => Assert.Equal(
            ZImageTransformer.KeepsFloat32(p.name) ? torch.ScalarType.Float32 : torch.ScalarType.BFloat16, p.parameter.dtype));
        var float32 = model.named_parameters().Where(p => p.parameter.dtype == torch.ScalarType.Float32).ToList();
        Assert.Equal(1 + 1 + 32 + 2, float32.Count(p => p.name.EndsWith(".weight", StringComparison.Ordinal))); // t_emb 2, final 2, 32 adaLN
        Assert.Equal(128_078_912L, float32.Sum(p => p.parameter.numel()));                       // 2.1 % of 6,154,908,736

        // The streamable blocks' prefixes are the blocks the planner's description groups keys into, and fp8 storage
        // takes only the big matrices inside them: never the embedders, pad tokens, final layer, norms or adaLN Linears.
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape.Length);
        foreach (var (name, rank) in shapes)
        {
            bool inBlock = ModelMemoryDescription.TryParseBlock(Component.Transformer, name, out var block, out _, out _);
            Assert.Equal(model.StreamableBlocks.Any(b => name.StartsWith(b.Prefix + ".", StringComparison.Ordinal)), inBlock);
            if (inBlock) Assert.StartsWith(block + ".", name);
            if (!inBlock) Assert.False(ModelMemoryDescription.StoresAsFp8(Component.Transformer, name, rank), name);
        }
        bool Fp8(string name) => ModelMemoryDescription.StoresAsFp8(Component.Transformer, name, shapes[name]);
        Assert.False(Fp8("layers.29.adaLN_modulation.0.weight"));
        Assert.False(Fp8("all_final_layer.2-1.linear.weight"));
        Assert.False(Fp8("context_refiner.0.attention.norm_k.weight"));
        Assert.True(Fp8("layers.0.attention.to_q.weight"));
        Assert.True(Fp8("layers.0.feed_forward.w2.weight"));
    }
}
