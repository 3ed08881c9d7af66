using ZImageSharp.Engine.Weights;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

public class CheckpointInventoryTests
{
    private static ComponentInventory Measure(ModelComponent component, string manifestName, string dtype)
    {
        var manifest = RealManifest(manifestName).ToDictionary(t => t.Key, t => (dtype, t.Value));
        using var source = new ManifestSource(manifestName, manifest);
        return CheckpointInventory.Measure(component, source);
    }

    [SkippableFact]
    public void TransformerBlocksAreMeasuredExactly()
    {
        TestData.RequireReference("real_manifests.json");
        var dit = Measure(ModelComponent.Transformer, "transformer", "F32"); // the released DiT is stored in float32

        // Spec §2.2: modulated blocks 180,910,336 parameters, unmodulated (context refiner) 176,962,816; 521 tensors.
        Assert.Equal(6_154_908_736L, dit.Elements);
        Assert.Equal(6_154_908_736L * 4, dit.StoredBytes);
        Assert.Equal(521, dit.Tensors);
        Assert.Equal(2 + 2 + 30 + 1, dit.Groups.Count);
        Assert.Equal(["noise_refiner.0", "noise_refiner.1", "context_refiner.0", "context_refiner.1", "layers.0", "layers.1", "layers.2"],
            dit.Groups.Take(7).Select(g => g.Group));
        Assert.Equal("rest", dit.Groups[^1].Group);
        Assert.Equal(180_910_336L, dit.Group("layers.29").Elements);
        Assert.Equal(180_910_336L * 4, dit.Group("layers.29").StoredBytes);
        Assert.Equal(180_910_336L * 2, dit.Group("noise_refiner.1").BytesAt(2));
        Assert.Equal(176_962_816L, dit.Group("context_refiner.0").Elements);
        Assert.Equal(6_154_908_736L - 32 * 180_910_336L - 2 * 176_962_816L, dit.Group("rest").Elements);
        Assert.Equal(new Dictionary<string, long> { ["F32"] = 6_154_908_736L * 4 }, dit.StoredBytesByDType);
    }

    [SkippableFact]
    public void TextEncoderAndVaeAreMeasuredExactly()
    {
        TestData.RequireReference("real_manifests.json");
        var te = Measure(ModelComponent.TextEncoder, "text_encoder", "BF16");
        Assert.Equal(4_022_468_096L * 2, te.StoredBytes);
        Assert.Equal(100_930_816L, te.Group("layers.35").Elements); // spec §4.2: per layer
        Assert.Equal(4_022_468_096L - 36 * 100_930_816L, te.Group("rest").Elements); // embed_tokens + norm

        var vae = Measure(ModelComponent.Vae, "vae", "BF16");
        Assert.Equal(83_819_683L, vae.Elements);
        Assert.Equal(34_274_208L, vae.Group("encoder").Elements); // spec §3.5
        Assert.Equal(49_545_475L, vae.Group("decoder").Elements);
        Assert.Equal(0, vae.Group("rest").Tensors);
    }
}
