using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.Transformer;

public class ZImageTransformerConfigTests
{
    private const string ReleasedJson = """
        {
          "_class_name": "ZImageTransformer2DModel", "_diffusers_version": "0.36.0.dev0",
          "all_f_patch_size": [1], "all_patch_size": [2], "axes_dims": [32, 48, 48], "axes_lens": [1536, 512, 512],
          "cap_feat_dim": 2560, "dim": 3840, "in_channels": 16, "n_heads": 30, "n_kv_heads": 30, "n_layers": 30,
          "n_refiner_layers": 2, "norm_eps": 1e-05, "qk_norm": true, "rope_theta": 256.0, "t_scale": 1000.0
        }
        """;

    [Fact]
    public void ParsesTheReleasedConfigFile()
    {
        var config = ZImageTransformerConfig.Parse(ReleasedJson, "transformer/config.json");
        var released = ZImageTransformerConfig.Released;
        Assert.Equal(released.Dim, config.Dim);
        Assert.Equal(released.AxesLens, config.AxesLens);
        Assert.Equal(released.AxesDims, config.AxesDims);
        Assert.Equal((released.NLayers, released.NRefinerLayers, released.NHeads), (config.NLayers, config.NRefinerLayers, config.NHeads));
        Assert.Equal((released.NormEps, released.RopeTheta, released.TScale), (config.NormEps, config.RopeTheta, config.TScale));
        Assert.Equal(128, config.HeadDim);
        Assert.Equal(10240, config.FeedForwardDim);
        Assert.Equal(256, config.AdaLnEmbedDim);
        Assert.Equal("2-1", ZImageTransformerConfig.PatchKey(config.PatchSize, config.FPatchSize));
    }

    [SkippableFact]
    public void ReadsTheFixtureConfig()
    {
        TestData.RequireReference("dit_weights.json");
        var config = ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json"));
        Assert.Equal(32, config.Dim);
        Assert.Equal(16, config.HeadDim);
        Assert.Equal(85, config.FeedForwardDim); // int(32 / 3 * 8)
        Assert.Equal(32, config.AdaLnEmbedDim);
        Assert.Equal([8, 4, 4], config.AxesDims);
    }

    [Fact]
    public void ListsEveryMissingOrMistypedKey()
    {
        var json = ReleasedJson.Replace("\"dim\": 3840,", "").Replace("\"qk_norm\": true", "\"qk_norm\": \"yes\"");
        var error = Assert.Throws<CheckpointException>(() => ZImageTransformerConfig.Parse(json, "cfg.json"));
        Assert.Contains("\"dim\" is missing", error.Message);
        Assert.Contains("\"qk_norm\" must be true or false", error.Message);
        Assert.Contains("cfg.json", error.Message);
        Assert.Equal("cfg.json", error.File);
    }

    [Fact]
    public void RejectsInconsistentSizes()
    {
        var error = Assert.Throws<CheckpointException>(() => (ZImageTransformerConfig.Released with { AxesDims = [32, 48, 40] }).Validate());
        Assert.Contains("dim/n_heads = 128 must equal sum(axes_dims) = 120", error.Message);

        error = Assert.Throws<CheckpointException>(() => (ZImageTransformerConfig.Released with { NKvHeads = 10 }).Validate());
        Assert.Contains("n_kv_heads (10) must equal n_heads (30)", error.Message);

        error = Assert.Throws<CheckpointException>(() => new ZImageTransformer(ZImageTransformerConfig.Released with { Dim = 3841 }));
        Assert.Contains("divisible by n_heads", error.Message);
    }

    [Fact]
    public void RejectsInvalidJson()
    {
        var error = Assert.Throws<CheckpointException>(() => ZImageTransformerConfig.Parse("{ not json", "x.json"));
        Assert.Contains("x.json", error.Message);
    }
}
