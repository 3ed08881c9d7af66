using System.Text.Json;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;

namespace ZImageSharp.Core.Tests.Imaging;

/// <summary>What an edited image's PNG records: A1111's "Denoising strength" and "Init image hash", a "Mask hash" for
/// inpainting, the CFG options where they act, and the preset when it is not Turbo's.</summary>
public class EditParametersTests
{
    private static string Edit(string file) => Path.Combine(AppContext.BaseDirectory, "data", "edit", file);

    private static EditImage Png(string file) => EditImage.FromPng(File.ReadAllBytes(Edit(file)), file);

    /// <summary>scripts/edit-hashes.py decodes the fixtures with zlib alone and hashes their RGB bytes as A1111 does.</summary>
    private static string ExpectedMd5(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Edit("hashes.json")));
        return doc.RootElement.GetProperty("md5").GetProperty(file).GetString()!;
    }

    [Theory]
    [InlineData("init.png")]
    [InlineData("mask.png")]
    [InlineData("init64.png")]
    [InlineData("mask64.png")]
    [InlineData("keep64.png")]
    public void The_hash_is_the_md5_of_the_pixels(string file) => Assert.Equal(ExpectedMd5(file), Png(file).Md5());

    [Fact]
    public void The_hash_is_of_the_pixels_not_the_file()
    {
        var image = Png("init64.png");
        byte[] again = PngEncoder.Encode(image.Rgb, image.Width, image.Height, PngColorType.Rgb,
            [new PngText("Comment", "another file of the same picture")]);
        Assert.NotEqual(File.ReadAllBytes(Edit("init64.png")), again);
        Assert.Equal(image.Md5(), EditImage.FromPng(again, "again").Md5());
    }

    [Fact]
    public void An_inpaint_records_strength_and_both_hashes_after_the_shift()
    {
        var request = new GenerationRequest
        {
            Prompt = "a boat", Width = 64, Height = 64, Steps = 8, Shift = 3f,
            InitImage = Png("init64.png"), Mask = Png("mask64.png"), Strength = 0.75f,
        };
        var parameters = ImageParameters.For(request, 7, 64, 64, "Z-Image-Turbo (demo)", "bf16");
        Assert.Equal(
            "a boat\nSteps: 8, Sampler: Euler, CFG scale: 1, Seed: 7, Size: 64x64, Model: Z-Image-Turbo (demo), Shift: 3, " +
            $"Denoising strength: 0.75, Init image hash: {ExpectedMd5("init64.png")}, Mask hash: {ExpectedMd5("mask64.png")}, Weights: bf16",
            parameters.ToInfotext());
        var back = ImageParameters.FromJson(parameters.ToJson());
        Assert.Equal(parameters.Extra, back.Extra);
    }

    [Fact]
    public void An_img2img_has_no_mask_hash_and_text_to_image_none_of_them()
    {
        var img2img = new GenerationRequest { Prompt = "x", Width = 64, Height = 64, InitImage = Png("init64.png") };
        string text = ImageParameters.For(img2img, 1, 64, 64, "m").ToInfotext();
        Assert.EndsWith($"Denoising strength: 0.6, Init image hash: {ExpectedMd5("init64.png")}", text);
        Assert.DoesNotContain("Mask hash", text);

        string plain = ImageParameters.For(img2img with { InitImage = null }, 1, 64, 64, "m").ToInfotext();
        Assert.DoesNotContain("Denoising strength", plain);
        Assert.DoesNotContain("Init image hash", plain);
    }

    [Fact]
    public void The_base_preset_is_named_with_its_cfg_options_and_turbo_is_not()
    {
        var request = GenerationPreset.Base.NewRequest("a fox") with { Seed = 3, CfgNormalization = 1f, CfgTruncation = 0.9f };
        var parameters = ImageParameters.For(request, 3, 1024, 1024, "Z-Image (z)").WithPreset(GenerationPreset.Base);
        Assert.Equal(
            "a fox\nSteps: 50, Sampler: Euler, CFG scale: 5, Seed: 3, Size: 1024x1024, Model: Z-Image (z), " +
            "CFG normalization: 1, CFG truncation: 0.9, Preset: base",
            parameters.ToInfotext());

        // Without guidance the CFG options do nothing, so they are not recorded; Turbo's preset is every old image's.
        var turbo = GenerationPreset.Turbo.NewRequest("a fox") with { CfgNormalization = 1f, CfgTruncation = 0.9f };
        var plain = ImageParameters.For(turbo, 3, 1024, 1024, "Z-Image-Turbo (z)").WithPreset(GenerationPreset.Turbo);
        Assert.Empty(plain.Extra);
    }
}
