using TorchSharp;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Tests.Models;

/// <summary>The model's memory description, made from the modules themselves, against the spec's parameter counts;
/// and the planner's copy of it in tests/data (what Core's planner tests read) kept equal to it.</summary>
public class ModelMemoryDescriptionTests
{
    private static readonly ModelFootprint Released = ModelMemoryDescription.Released();

    // Parameter counts from the spec (§2.2, §3.5, §4.2, §8.1); bf16 is two bytes a parameter, except the transformer's
    // float32 islands at four: t_embedder 525,568 + final layer 1,232,704 (rest) and 3,947,520 adaLN parameters in each
    // of the 32 modulated blocks, 128,078,912 in all.
    private const long IslandParameters = 128_078_912, BlockAdaLnParameters = 3_947_520, RestIslandParameters = 1_758_272;

    [Fact]
    public void ReleasedTransformerHasTheSpecParameterCount()
    {
        var dit = Released.Transformer;
        Assert.Equal(2L * 6_154_908_736 + 2 * IslandParameters, dit.TotalBytes(WeightStorage.Bf16)); // 12,565,975,296
        Assert.Equal(34, dit.Blocks.Count);
        Assert.Equal(["noise_refiner.0", "noise_refiner.1", "context_refiner.0", "context_refiner.1", "layers.0"],
            dit.Blocks.Take(5).Select(b => b.Name));
        Assert.Equal("layers.29", dit.Blocks[^1].Name);
        Assert.All(dit.Blocks.Where(b => b.Name.StartsWith("layers.") || b.Name.StartsWith("noise_refiner.")),
            b => Assert.Equal(2L * 180_910_336 + 2 * BlockAdaLnParameters, b.Bf16Bytes)); // 369,715,712
        // The context refiners are not modulated: no adaLN, no float32.
        Assert.Equal(2L * 176_962_816, dit.Blocks[2].Bf16Bytes);
        Assert.Equal(2L * 11_852_352 + 2 * RestIslandParameters, dit.RestBf16Bytes); // 27,221,248
        Assert.Equal(BlockInput.ImageTokens, dit.Blocks[0].Input);
        Assert.Equal(BlockInput.CaptionTokens, dit.Blocks[2].Input);
        Assert.Equal(BlockInput.AllTokens, dit.Blocks[4].Input);
    }

    [Fact]
    public void Float32IslandsAreTheTimestepEmbedderTheAdaLnAndTheFinalLayer()
    {
        using var model = new ZImageTransformer(ZImageTransformerConfig.Released, torch.META, torch.ScalarType.BFloat16);
        var islands = ModelMemoryDescription.Tensors(model)
            .Where(t => ModelMemoryDescription.KeepsFloat32(Component.Transformer, t.Key))
            .ToList();

        Assert.Equal(IslandParameters, islands.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(4 + 2 * 32 + 4, islands.Count);
        Assert.All(islands, t =>
        {
            var (bytes, fp8) = ModelMemoryDescription.Size(Component.Transformer, t.Key, t.Shape, computeElementBytes: 2);
            long elements = t.Shape.Aggregate(1L, (a, b) => a * b);
            Assert.Equal(4 * elements, bytes);
            Assert.Equal(4 * elements, fp8);
        });
        // Other components have no islands, whatever their keys look like.
        Assert.False(ModelMemoryDescription.KeepsFloat32(Component.TextEncoder, "t_embedder.mlp.0.weight"));
        Assert.False(ModelMemoryDescription.KeepsFloat32(Component.Vae, "decoder.all_final_layer.weight"));
    }

    [Fact]
    public void Fp8StoresOnlyTheBlockMatricesAsOneByte()
    {
        var dit = Released.Transformer;
        // Main block: 176,947,200 attention and feed-forward weights as fp8; 3,947,520 adaLN parameters in float32 and
        // 15,616 norm parameters in bf16.
        Assert.Equal(176_947_200L + 4 * BlockAdaLnParameters + 2 * 15_616L, dit.Blocks[^1].Fp8Bytes); // 192,768,512
        Assert.Equal(176_947_200L + 2 * 15_616L, dit.Blocks[2].Fp8Bytes);
        Assert.Equal(dit.RestBf16Bytes, dit.RestFp8Bytes);
        // fp8 saves one byte per element of the 34 blocks' matrices and nothing else: islands cost the same in both.
        Assert.Equal(34 * 176_947_200L, dit.TotalBytes(WeightStorage.Bf16) - dit.TotalBytes(WeightStorage.Fp8));
        // Qwen3 layer: 100,925,440 projection weights as fp8, 5,376 norm parameters stay bf16; the embedding stays bf16.
        var te = Released.TextEncoder;
        Assert.Equal(100_925_440L + 2 * 5_376L, te.Blocks[0].Fp8Bytes);
        Assert.Equal(te.RestBf16Bytes, te.RestFp8Bytes);
    }

    [Fact]
    public void ReleasedTextEncoderHoldsTheEmbeddingAndThirtyFiveLayers()
    {
        var te = Released.TextEncoder;
        Assert.Equal(2L * 3_921_534_720, te.TotalBytes(WeightStorage.Bf16));
        Assert.Equal(35, te.Blocks.Count);
        Assert.All(te.Blocks, b => Assert.Equal(2L * 100_930_816, b.Bf16Bytes));
        Assert.Equal(2L * 151_936 * 2_560, te.RestBf16Bytes);
    }

    [Fact]
    public void ReleasedVaeMatchesTheSpec()
    {
        Assert.Equal(2L * 49_545_475, Released.VaeDecoder.TotalBytes(WeightStorage.Bf16));
        Assert.Equal(2L * 34_274_208, Released.VaeEncoder.TotalBytes(WeightStorage.Bf16));
        Assert.Empty(Released.VaeDecoder.Blocks);
        Assert.Equal(Released.VaeDecoder.RestBf16Bytes, Released.VaeDecoder.RestFp8Bytes);
    }

    [Fact]
    public void FromTensorsGroupsKeysWithOrWithoutTheModelPrefix()
    {
        (string, long[])[] te =
        [
            ("embed_tokens.weight", [500]),
            ("layers.1.mlp.up_proj.weight", [5, 2]),
            ("model.layers.0.mlp.up_proj.weight", [5, 2]),
            ("model.layers.0.input_layernorm.weight", [2]),
        ];
        var footprint = ModelMemoryDescription.FromTensors(te, [("layers.0.attention.to_q.weight", [2, 2])],
            [("decoder.conv_in.weight", [3]), ("encoder.conv_in.weight", [1])], computeElementBytes: 2);

        Assert.Equal(["layers.0", "layers.1"], footprint.TextEncoder.Blocks.Select(b => b.Name));
        Assert.Equal(24, footprint.TextEncoder.Blocks[0].Bf16Bytes);
        Assert.Equal(14, footprint.TextEncoder.Blocks[0].Fp8Bytes);
        Assert.Equal(1000, footprint.TextEncoder.RestBf16Bytes);
        Assert.Equal(6, footprint.VaeDecoder.TotalBytes(WeightStorage.Bf16));
        Assert.Equal(2, footprint.VaeEncoder.TotalBytes(WeightStorage.Bf16));
    }

    [Fact]
    public void FloatThirtyTwoComputeCountsFourBytesAndTheVaeStaysTwo()
    {
        var fp32 = ModelMemoryDescription.Released(4);
        Assert.Equal(2 * Released.TextEncoder.TotalBytes(WeightStorage.Bf16), fp32.TextEncoder.TotalBytes(WeightStorage.Bf16));
        // The islands are float32 already: only the rest of the transformer doubles.
        Assert.Equal(2 * Released.Transformer.TotalBytes(WeightStorage.Bf16) - 4 * IslandParameters,
            fp32.Transformer.TotalBytes(WeightStorage.Bf16));
        // The planner widens the VAE itself for a float32 VAE.
        Assert.Equal(Released.VaeDecoder.TotalBytes(WeightStorage.Bf16), fp32.VaeDecoder.TotalBytes(WeightStorage.Bf16));
    }

    /// <summary>Core's planner tests plan on tests/data/planning/released-footprint*.json. Run with
    /// ZIMAGE_WRITE_TEST_DATA=&lt;repo&gt;/tests/data to rewrite them after a change to the model code.</summary>
    [Theory]
    [InlineData(2, "released-footprint.json")]
    [InlineData(4, "released-footprint-fp32.json")]
    public void ThePlannersCopyEqualsTheModelCode(int computeElementBytes, string file)
    {
        var footprint = ModelMemoryDescription.Released(computeElementBytes);
        if (Environment.GetEnvironmentVariable("ZIMAGE_WRITE_TEST_DATA") is { Length: > 0 } dataDir)
            File.WriteAllText(Path.Combine(dataDir, "planning", file), footprint.ToJson() + "\n");
        var path = Path.Combine(AppContext.BaseDirectory, "data", "planning", file);
        var copy = ModelFootprint.FromJson(File.ReadAllText(path), path);
        Assert.Equal(footprint.ToJson(), copy.ToJson());
    }

    [Theory]
    [InlineData("layers.3.feed_forward.w1.weight", 2, true)]
    [InlineData("layers.3.adaLN_modulation.0.weight", 2, false)]
    [InlineData("layers.3.attention_norm1.weight", 1, false)]
    [InlineData("cap_embedder.1.weight", 2, false)]
    [InlineData("all_final_layer.2-1.linear.weight", 2, false)]
    [InlineData("t_embedder.mlp.0.weight", 2, false)]
    public void PrecisionPolicyKeepsSensitiveTransformerTensorsOutOfFp8(string key, int rank, bool fp8) =>
        Assert.Equal(fp8, ModelMemoryDescription.StoresAsFp8(Component.Transformer, key, rank));

    [Theory]
    [InlineData("t_embedder.mlp.2.bias", true)]
    [InlineData("layers.29.adaLN_modulation.0.weight", true)]
    [InlineData("noise_refiner.1.adaLN_modulation.0.bias", true)]
    [InlineData("all_final_layer.2-1.adaLN_modulation.1.weight", true)]
    [InlineData("all_final_layer.2-1.linear.bias", true)]
    [InlineData("layers.3.attention_norm1.weight", false)]
    [InlineData("layers.3.feed_forward.w1.weight", false)]
    [InlineData("cap_embedder.1.weight", false)]
    [InlineData("x_pad_token", false)]
    public void Float32IslandsAreNamedByKey(string key, bool float32) =>
        Assert.Equal(float32, ModelMemoryDescription.KeepsFloat32(Component.Transformer, key));
}
