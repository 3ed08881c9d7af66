using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.TextEncoder;

public sealed class Qwen3ModelTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void ReleasedConfigOnMetaDeviceHasExactlyTheRealManifest()
    {
        TestData.RequireReference("real_manifests.json");
        using var model = Qwen3Model.Create(Qwen3Config.Released, placement: BuildTarget.Meta);
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        ModelTestKit.AssertManifest(ModelTestKit.RealManifest("text_encoder"), model);
        long count = ModelTestKit.ParamCount(model);
        output.WriteLine($"Qwen3-4B text encoder: {count:N0} parameters");
        Assert.Equal(ModelTestKit.RealParamCount("text_encoder"), count);
    }

    [SkippableFact]
    public void ZImageSubsetOfTheReleasedEncoderDropsOnlyTheLastLayerAndNorm()
    {
        TestData.RequireReference("real_manifests.json");
        using var model = Qwen3Model.CreateForZImage(Qwen3Config.Released, BuildTarget.Meta);
        var full = ModelTestKit.RealManifest("text_encoder");
        var needed = full.Where(e => !model.IsUnbuiltCheckpointKey(e.Key)).ToDictionary();
        Assert.Equal(398, full.Count);
        Assert.Equal(386, needed.Count);                                                 // spec pitfall 16
        ModelTestKit.AssertManifest(needed, model);
        long count = ModelTestKit.ParamCount(model);
        output.WriteLine($"Qwen3-4B for Z-Image (35 layers, no norm): {count:N0} parameters");
        Assert.Equal(3_921_534_720L, count);                                            // spec §8.1
    }

    [Fact]
    public void ConfigReadsTransformersKeysAndFallsBackToQwen3Defaults()
    {
        const string json = """
            {"architectures": ["Qwen3ForCausalLM"], "hidden_size": 2560, "intermediate_size": 9728,
             "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
             "vocab_size": 151936, "max_position_embeddings": 40960, "rope_theta": 1000000, "rms_norm_eps": 1e-06,
             "tie_word_embeddings": true, "attention_bias": false, "hidden_act": "silu", "rope_scaling": null,
             "torch_dtype": "bfloat16"}
            """;
        Assert.Equal(Qwen3Config.Released, Qwen3Config.FromJson(json));
        var minimal = Qwen3Config.FromJson("""{"hidden_size": 64, "num_attention_heads": 4}""");
        Assert.Equal(128, minimal.HeadDim);                                             // Qwen3Config default, not 64/4
        Assert.Equal(4, minimal.NumKeyValueHeads);                                      // defaults to the query heads
    }

    [Fact]
    public void ConfigRejectsUnsupportedValuesNamingFileAndKey()
    {
        var e = Assert.Throws<CheckpointException>(() =>
            Qwen3Config.FromJson("""{"num_attention_heads": 32, "num_key_value_heads": 5}""", "te/config.json"));
        Assert.Contains("te/config.json", e.Message);
        Assert.Contains("num_key_value_heads", e.Message);
        e = Assert.Throws<CheckpointException>(() => Qwen3Config.FromJson("""{"rope_scaling": {"rope_type": "yarn", "factor": 4}}"""));
        Assert.Contains("yarn", e.Message);
        e = Assert.Throws<CheckpointException>(() => Qwen3Config.FromJson("""{"hidden_size": "big"}"""));
        Assert.Contains("hidden_size", e.Message);
    }

    [Fact]
    public void OnlyLaterLayersNormAndLmHeadAreUnbuiltKeys()
    {
        var config = new Qwen3Config { HiddenSize = 8, IntermediateSize = 8, NumHiddenLayers = 3, NumAttentionHeads = 2,
            NumKeyValueHeads = 1, HeadDim = 4, VocabSize = 10 };
        using var model = Qwen3Model.CreateForZImage(config, BuildTarget.Meta);
        Assert.True(model.IsUnbuiltCheckpointKey("layers.2.mlp.up_proj.weight"));
        Assert.True(model.IsUnbuiltCheckpointKey("norm.weight"));
        Assert.True(model.IsUnbuiltCheckpointKey("lm_head.weight"));
        Assert.False(model.IsUnbuiltCheckpointKey("layers.1.mlp.up_proj.weight"));
        Assert.False(model.IsUnbuiltCheckpointKey("layers.3.mlp.up_proj.weight"));     // beyond the config: a real error
        Assert.False(model.IsUnbuiltCheckpointKey("embed_tokens.weight"));
    }
}
