using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Vae;

/// <summary>AutoencoderKL against diffusers (fixtures vae_weights / vae_case0 / pipeline_case0), float32 on the CPU.</summary>
public sealed class AutoencoderKLParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;
    private const string Weights = "vae_weights.safetensors", Case = "vae_case0.safetensors";

    internal static AutoencoderKLConfig FixtureConfig() =>
        AutoencoderKLConfig.FromJson(File.ReadAllText(TestData.Reference("vae_weights.json")), "vae_weights.json");

    internal static AutoencoderKL Load(AutoencoderParts parts)
    {
        var vae = AutoencoderKL.Create(FixtureConfig(), parts);
        using var source = SafetensorsFile.Open(TestData.Reference(Weights));
        WeightLoader.LoadInto(vae, source, vae.IsUnbuiltCheckpointKey);
        return vae;
    }

    private void AssertClose(string what, Tensor actual, Tensor expected)
    {
        var error = ModelTestKit.RelativeError(actual, expected);
        output.WriteLine($"{what}: relative error {error:E2}");
        Assert.True(error <= Tolerance, $"{what}: relative error {error:E2} > {Tolerance:E0}");
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void DecodeMatchesDiffusers()
    {
        TestData.RequireReference(Weights, Case, "vae_weights.json");
        using var scope = NewDisposeScope();
        using var vae = Load(AutoencoderParts.EncoderAndDecoder);
        AssertClose("decode", vae.Decode(ModelTestKit.ReadTensor(Case, "z")), ModelTestKit.ReadTensor(Case, "decoded"));
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void EncodeMatchesDiffusersMeanAndClampedLogVariance()
    {
        TestData.RequireReference(Weights, Case, "vae_weights.json");
        using var scope = NewDisposeScope();
        using var vae = Load(AutoencoderParts.EncoderAndDecoder);
        var (mean, logVariance) = vae.Encode(ModelTestKit.ReadTensor(Case, "image"));
        AssertClose("enc_mean", mean, ModelTestKit.ReadTensor(Case, "enc_mean"));
        AssertClose("enc_logvar", logVariance, ModelTestKit.ReadTensor(Case, "enc_logvar"));
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void DecoderOnlyLoadsFromTheFullFileAndDecodesTheSame()
    {
        TestData.RequireReference(Weights, Case, "vae_weights.json");
        using var scope = NewDisposeScope();
        using var vae = Load(AutoencoderParts.DecoderOnly);
        Assert.False(vae.HasEncoder);
        Assert.All(vae.named_parameters(), p => Assert.StartsWith("decoder.", p.name));
        AssertClose("decode (decoder-only)", vae.Decode(ModelTestKit.ReadTensor(Case, "z")), ModelTestKit.ReadTensor(Case, "decoded"));
        Assert.Throws<InvalidOperationException>(() => vae.Encode(ModelTestKit.ReadTensor(Case, "image")));
        // A strict load without the skip rule names the encoder keys as unexpected.
        using var strict = AutoencoderKL.Create(FixtureConfig(), AutoencoderParts.DecoderOnly);
        using var source = SafetensorsFile.Open(TestData.Reference(Weights));
        var e = Assert.Throws<ZImageSharp.Errors.CheckpointException>(() => WeightLoader.LoadInto(strict, source));
        Assert.Contains("unexpected", e.Message);
        Assert.Contains("encoder.conv_in.weight", e.Message);
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void QuantConvsAreBuiltWhenTheConfigAsksAndApplied()
    {
        TestData.RequireReference(Weights, Case, "vae_weights.json");
        using var scope = NewDisposeScope();
        var config = FixtureConfig() with { UseQuantConv = true, UsePostQuantConv = true };
        int c = config.LatentChannels;
        using var vae = AutoencoderKL.Create(config);
        var names = vae.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(new long[] { 2 * c, 2 * c, 1, 1 }, names["quant_conv.weight"]);
        Assert.Equal(new long[] { c, c, 1, 1 }, names["post_quant_conv.weight"]);

        // With the fixture weights plus quant convs that double their input, decode(z) must equal the reference
        // decode of 2z, and encode must return twice the reference moments (the log-variance clamp is inactive here).
        var tensors = InMemoryWeightSource.FromFile(TestData.Reference(Weights));
        var all = tensors.Names.ToDictionary(n => n, tensors.Read);
        all["quant_conv.weight"] = (2 * eye(2 * c)).view(2 * c, 2 * c, 1, 1);
        all["quant_conv.bias"] = zeros(2 * c);
        all["post_quant_conv.weight"] = (2 * eye(c)).view(c, c, 1, 1);
        all["post_quant_conv.bias"] = zeros(c);
        using (var source = new InMemoryWeightSource("fixture + doubling quant convs", all))
            WeightLoader.LoadInto(vae, source);
        tensors.Dispose();

        using var plain = Load(AutoencoderParts.EncoderAndDecoder);
        var z = ModelTestKit.ReadTensor(Case, "z");
        AssertClose("decode through post_quant_conv", vae.Decode(z), plain.Decode(2 * z));
        var image = ModelTestKit.ReadTensor(Case, "image");
        AssertClose("encode through quant_conv", vae.Encode(image).Mean, 2 * ModelTestKit.ReadTensor(Case, "enc_mean"));
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void PipelineFinalLatentsDecodeToThePipelineImage()
    {
        const string pipeline = "pipeline_case0.safetensors";
        TestData.RequireReference(pipeline, "pipeline_case0.json");
        using var scope = NewDisposeScope();
        var config = AutoencoderKLConfig.FromJson(ModelTestKit.ConfigJson("pipeline_case0.json", "vae_config"), "pipeline_case0.json");
        using var vae = AutoencoderKL.Create(config, AutoencoderParts.DecoderOnly);
        using (var source = InMemoryWeightSource.FromFile(TestData.Reference(pipeline), "vae."))
            WeightLoader.LoadInto(vae, source, vae.IsUnbuiltCheckpointKey);

        // The last step's latents, whatever the case's step count (another ZIMAGE_REFERENCE_DIR may run more).
        int steps = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestData.Reference("pipeline_case0.json"))).RootElement.GetProperty("steps").GetInt32();
        var latents = ModelTestKit.ReadTensor(pipeline, $"latents_after_step.{steps - 1}");
        var image = (vae.Decode(vae.FromDiffusionLatents(latents)) / 2 + 0.5).clamp(0, 1);
        AssertClose("pipeline image from final latents", image, ModelTestKit.ReadTensor(pipeline, "image"));
    }

    [Fact]
    public void LatentScalingRoundTrips()
    {
        using var vae = AutoencoderKL.Create(AutoencoderKLConfig.Released with { BlockOutChannels = [32], LayersPerBlock = 1 },
            AutoencoderParts.DecoderOnly);
        using var latents = tensor(new[] { -1f, 0f, 0.5f, 2f });
        using var z = vae.FromDiffusionLatents(latents);
        Assert.Equal(2f / 0.3611f + 0.1159f, z[3].item<float>(), 5);
        using var back = vae.ToDiffusionLatents(z);
        Assert.True(ModelTestKit.RelativeError(back, latents) < 1e-6);
    }
}
