using ZImageSharp.Imaging;

namespace ZImageSharp.Core.Tests.Imaging;

public class ImageParametersTests
{
    private static readonly ImageParameters Turbo = new()
    {
        Prompt = "a red fox in the snow",
        NegativePrompt = "blurry",
        Steps = 8,
        Seed = 42,
        Width = 1024,
        Height = 1024,
    };

    [Fact]
    public void InfotextHasAutomatic1111Layout() =>
        Assert.Equal(
            "a red fox in the snow\nNegative prompt: blurry\nSteps: 8, Sampler: Euler, CFG scale: 1, Seed: 42, Size: 1024x1024, Model: Z-Image-Turbo",
            Turbo.ToInfotext());

    [Fact]
    public void InfotextOmitsAnEmptyNegativePrompt() =>
        Assert.Equal(
            "a red fox in the snow\nSteps: 8, Sampler: Euler, CFG scale: 1, Seed: 42, Size: 1024x1024, Model: Z-Image-Turbo",
            (Turbo with { NegativePrompt = "" }).ToInfotext());

    [Fact]
    public void InfotextQuotesExtrasAndCleansTheModelName()
    {
        var parameters = Turbo with
        {
            Prompt = "  padded prompt\n",
            NegativePrompt = "",
            CfgScale = 3.5f,
            Seed = 1234567890123,
            Width = 832,
            Height = 1216,
            Model = "z-image: turbo, bf16",
            Extra =
            [
                new("Shift", "3"),
                new("Schedule", "flow, shift: 3"),
                new("Note", "say \"hi\"\n\u00e9\\\t\u0001"),
                new("Tiled VAE", "Tiled VAE"),
            ],
        };

        Assert.Equal(
            // A1111 strips only the ends: the prompt's own trailing line feed stays before the parameters line.
            "padded prompt\n\nSteps: 8, Sampler: Euler, CFG scale: 3.5, Seed: 1234567890123, Size: 832x1216, Model: z-image turbo bf16, " +
            "Shift: 3, Schedule: \"flow, shift: 3\", Note: \"say \\\"hi\\\"\\n\u00e9\\\\\\t\\u0001\", Tiled VAE",
            parameters.ToInfotext());
    }

    [Fact]
    public void LatinPromptIsTextChunkAndJsonIsInternational()
    {
        byte[] png = PngEncoder.Encode(new byte[3], 1, 1, text: Turbo.ToPngText());

        Assert.Equal(["IHDR", "tEXt", "iTXt", "IDAT", "IEND"], PngTests.ChunkTypes(png));
        var info = PngReader.Read(png);
        Assert.Equal(Turbo.ToInfotext(), info.GetText(ImageParameters.InfotextKeyword));
        AssertSame(Turbo, ImageParameters.FromPng(info)!);
    }

    [Fact]
    public void NonLatinPromptSurvivesAsInternationalText()
    {
        var parameters = Turbo with
        {
            Prompt = "\u4e00\u53ea\u5728\u96ea\u5730\u91cc\u7684\u7ea2\u72d0\u72f8 \U0001F98A",
            NegativePrompt = "\u6a21\u7cca",
            Extra = [new("Schedule", "\u03c3 shift 3")],
        };
        byte[] png = PngEncoder.Encode(new byte[3], 1, 1, text: parameters.ToPngText());

        Assert.Equal(["IHDR", "iTXt", "iTXt", "IDAT", "IEND"], PngTests.ChunkTypes(png));
        var info = PngReader.Read(png);
        Assert.Equal(parameters.ToInfotext(), info.GetText("parameters"));
        Assert.StartsWith("\u4e00\u53ea", info.GetText("parameters"));
        AssertSame(parameters, ImageParameters.FromPng(info)!);
    }

    [Fact]
    public void NulBecomesReplacementInInfotextButSurvivesInJson()
    {
        var parameters = Turbo with { Prompt = "a\0b" };
        var info = PngReader.Read(PngEncoder.Encode(new byte[3], 1, 1, text: parameters.ToPngText()));

        Assert.StartsWith("a\uFFFDb\n", info.GetText("parameters"));
        Assert.Equal("a\0b", ImageParameters.FromPng(info)!.Prompt);
    }

    [Fact]
    public void JsonHasSnakeCaseFieldsAndKeepsUnicodeReadable() =>
        Assert.Equal(
            """{"prompt":"caf\u00e9 \"x\"","negative_prompt":"","steps":8,"sampler":"Euler","cfg_scale":1.5,"seed":-1,"width":64,"height":32,"model":"Z-Image-Turbo","extra":{"Shift":"3"}}"""
                .Replace("\\u00e9", "\u00e9"),
            new ImageParameters { Prompt = "caf\u00e9 \"x\"", Steps = 8, CfgScale = 1.5f, Seed = -1, Width = 64, Height = 32, Extra = [new("Shift", "3")] }.ToJson());

    [Fact]
    public void PngWithoutJsonChunkHasNoParameters() =>
        Assert.Null(ImageParameters.FromPng(PngReader.Read(PngEncoder.Encode(new byte[3], 1, 1))));

    private static void AssertSame(ImageParameters expected, ImageParameters actual)
    {
        Assert.Equal(expected with { Extra = [] }, actual with { Extra = [] });
        Assert.Equal(expected.Extra, actual.Extra);
    }

    [Fact]
    public void ARequestRecordsItsSettingsAsA1111NamesThem()
    {
        var request = new ZImageSharp.Contracts.GenerationRequest { Prompt = "a red fox", NegativePrompt = "blurry", Steps = 4, Shift = 2.5f };
        var parameters = ImageParameters.For(request, seed: 43, width: 512, height: 768, model: "Z-Image-Turbo");

        Assert.Equal("a red fox\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 43, Size: 512x768, Model: Z-Image-Turbo, Shift: 2.5",
            parameters.ToInfotext());
        Assert.Equal(parameters.ToInfotext(), ImageParameters.FromJson(parameters.ToJson()).ToInfotext());
        Assert.Empty(ImageParameters.For(request with { Shift = null }, 1, 64, 64, "m").Extra);
    }

    [Theory]
    [InlineData("euler", "simple", "Sampler: Euler, CFG scale: 1,")]
    [InlineData("euler_ancestral", "simple", "Sampler: Euler a, CFG scale: 1,")]
    [InlineData("dpmpp_2m", "karras", "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 1,")]
    [InlineData("lcm", "beta", "Sampler: LCM, Schedule type: Beta, CFG scale: 1,")]
    [InlineData("res_multistep", "simple", "Sampler: Res Multistep, CFG scale: 1,")]
    public void SamplerAndScheduleAreWrittenAsA1111NamesThem(string sampler, string scheduler, string expected)
    {
        var request = new ZImageSharp.Contracts.GenerationRequest { Prompt = "p", Sampler = sampler, Scheduler = scheduler };
        var parameters = ImageParameters.For(request, 1, 64, 64, "m");
        Assert.Contains(expected, parameters.ToInfotext());
        AssertSame(parameters, ImageParameters.FromJson(parameters.ToJson()));
    }

    /// <summary>Spec §1.5: Z-Image's pos + g·(pos − neg) is classic CFG at scale 1 + g, the number A1111 tools read.</summary>
    [Theory]
    [InlineData(0f, "CFG scale: 1,")]
    [InlineData(2.5f, "CFG scale: 3.5,")]
    public void GuidanceIsWrittenAsTheClassicCfgScale(float guidance, string expected) =>
        Assert.Contains(expected, ImageParameters.For(new ZImageSharp.Contracts.GenerationRequest { Prompt = "p", GuidanceScale = guidance }, 1, 64, 64, "m").ToInfotext());

    [Fact]
    public void ThePrecisionTheWeightsRanInIsWrittenAfterTheShift()
    {
        var request = new ZImageSharp.Contracts.GenerationRequest { Prompt = "a fox", Shift = 3, Seed = 1 };
        var parameters = ImageParameters.For(request, 1, 1024, 1024, "Z-Image-Turbo", "fp8 e4m3 (transformer; bf16 compute)");

        Assert.EndsWith("Shift: 3, Weights: fp8 e4m3 (transformer; bf16 compute)", parameters.ToInfotext());
        Assert.DoesNotContain("Weights", ImageParameters.For(request, 1, 1024, 1024, "Z-Image-Turbo").ToInfotext());
    }
}
