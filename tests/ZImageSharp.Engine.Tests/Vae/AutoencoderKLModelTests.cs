using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.Vae;

public sealed class AutoencoderKLModelTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void ReleasedConfigOnMetaDeviceHasExactlyTheRealManifest()
    {
        TestData.RequireReference("real_manifests.json");
        using var vae = AutoencoderKL.Create(AutoencoderKLConfig.Released, placement: BuildTarget.Meta);
        Assert.All(vae.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        ModelTestKit.AssertManifest(ModelTestKit.RealManifest("vae"), vae);
        long count = ModelTestKit.ParamCount(vae);
        output.WriteLine($"VAE: {count:N0} parameters ({vae.named_parameters().Count()} tensors)");
        Assert.Equal(ModelTestKit.RealParamCount("vae"), count);
        Assert.Equal(244, vae.named_parameters().Count());
    }

    [SkippableFact]
    public void ReleasedDecoderOnlyHasTheManifestsDecoderKeys()
    {
        TestData.RequireReference("real_manifests.json");
        using var vae = AutoencoderKL.Create(AutoencoderKLConfig.Released, AutoencoderParts.DecoderOnly, BuildTarget.Meta);
        var decoderKeys = ModelTestKit.RealManifest("vae").Where(e => !vae.IsUnbuiltCheckpointKey(e.Key)).ToDictionary();
        ModelTestKit.AssertManifest(decoderKeys, vae);
        long count = ModelTestKit.ParamCount(vae);
        output.WriteLine($"VAE decoder: {count:N0} parameters");
        Assert.Equal(49_545_475L, count);                                                // spec §8.1
    }

    [Fact]
    public void ConfigReadsDiffusersKeysWithDiffusersDefaults()
    {
        const string json = """
            {"_class_name": "AutoencoderKL", "_diffusers_version": "0.36.0.dev0", "act_fn": "silu",
             "block_out_channels": [128, 256, 512, 512],
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "force_upcast": true, "in_channels": 3, "latent_channels": 16, "latents_mean": null, "latents_std": null,
             "layers_per_block": 2, "mid_block_add_attention": true, "norm_num_groups": 32, "out_channels": 3,
             "sample_size": 1024, "scaling_factor": 0.3611, "shift_factor": 0.1159,
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
             "use_post_quant_conv": false, "use_quant_conv": false}
            """;
        var config = AutoencoderKLConfig.FromJson(json);
        Assert.Equal(AutoencoderKLConfig.Released.BlockOutChannels, config.BlockOutChannels);
        Assert.Equal(AutoencoderKLConfig.Released with { BlockOutChannels = config.BlockOutChannels }, config);
        Assert.Equal(8, config.SpatialScaleFactor);
        var defaults = AutoencoderKLConfig.FromJson("{}");
        Assert.True(defaults.UseQuantConv && defaults.UsePostQuantConv);                 // diffusers' defaults
        Assert.Equal(0.0, defaults.ShiftFactor);
    }

    [Fact]
    public void ConfigRejectsUnsupportedBlocksNamingFileAndKey()
    {
        var e = Assert.Throws<CheckpointException>(() => AutoencoderKLConfig.FromJson(
            """{"block_out_channels": [32, 64], "up_block_types": ["UpDecoderBlock2D", "AttnUpDecoderBlock2D"]}""", "vae/config.json"));
        Assert.Contains("vae/config.json", e.Message);
        Assert.Contains("up_block_types", e.Message);
        e = Assert.Throws<CheckpointException>(() => AutoencoderKLConfig.FromJson("""{"block_out_channels": [48], "norm_num_groups": 32}"""));
        Assert.Contains("norm_num_groups", e.Message);
    }
}
