using Xunit.Abstractions;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>--preset through the CLI and the engine, on the demo model: base's defaults reach the request, the plan
/// and the PNG; a bad preset file stops the command before the model loads.</summary>
[Collection(CliCollection.Name)]
public class PresetCommandTests(ITestOutputHelper output)
{
    private static string PresetData(string file) => Path.Combine(AppContext.BaseDirectory, "data", "presets", file);

    [Fact]
    public void Base_runs_guidance_with_the_negative_prompt_and_the_png_names_the_preset()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-preset-");
        try
        {
            var file = Path.Combine(dir.FullName, "fox.png");
            var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--preset", "base", "--prompt", "a fox",
                "--negative-prompt", "blurry", "--width", "64", "--height", "64", "--steps", "2", "--seed", "9", "--output", file);
            output.WriteLine(stdout);
            Assert.True(code == 0, stderr);
            Assert.Contains("preset base: 50 steps, guidance 4, euler/simple (--preset base)", stdout);
            string parameters = PngReader.Read(File.ReadAllBytes(file)).GetText("parameters")!;
            Assert.StartsWith("a fox\nNegative prompt: blurry\nSteps: 2, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 64x64, Model: ", parameters);
            Assert.EndsWith(", Weights: fp32, Preset: base", parameters);
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>A preset file's values are the defaults; the command line still overrides each of them.</summary>
    [Fact]
    public void A_preset_file_sets_the_defaults_and_options_override_them()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-preset-");
        try
        {
            var file = Path.Combine(dir.FullName, "out.png");
            var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--preset", PresetData("realism.json"),
                "--prompt", "a fox", "--width", "64", "--height", "64", "--steps", "1", "--cfg-truncation", "0.5", "--seed", "1", "--output", file);
            Assert.True(code == 0, stderr);
            Assert.Contains("preset realism: 36 steps, guidance 4, cfg_normalization 1, cfg_truncation 0.9", stdout);
            var parameters = ImageParameters.FromPng(PngReader.Read(File.ReadAllBytes(file)))!;
            Assert.Equal("blurry, low quality, watermark", parameters.NegativePrompt);
            Assert.Equal((1, 5f), (parameters.Steps, parameters.CfgScale));
            Assert.Equal(["CFG normalization", "CFG truncation", "Weights", "Preset"], parameters.Extra.Select(e => e.Key));
            Assert.Equal("0.5", parameters.Extra.Single(e => e.Key == "CFG truncation").Value);
            Assert.Equal("realism", parameters.Extra.Single(e => e.Key == "Preset").Value);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Turbo_stays_as_it_was_and_says_nothing_in_the_png()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-preset-");
        try
        {
            var file = Path.Combine(dir.FullName, "out.png");
            var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "a fox", "--width", "64", "--height", "64",
                "--steps", "1", "--seed", "1", "--negative-prompt", "blurry", "--output", file);
            Assert.True(code == 0, stderr);
            Assert.Contains("preset turbo: 8 steps, guidance 0, euler/simple (default: no --preset)", stdout);
            Assert.Contains("--negative-prompt does nothing without guidance", stdout);
            string parameters = PngReader.Read(File.ReadAllBytes(file)).GetText("parameters")!;
            Assert.DoesNotContain("Preset", parameters);
            Assert.Contains("CFG scale: 1,", parameters);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [InlineData("bad-steps-range.json", "cannot be used: steps must be between 1 and 100 (got 0).")]
    [InlineData("bad-unknown-field.json", "cannot be used: guidance is not a preset field; the fields are: name, extends, steps,")]
    public void A_bad_preset_file_is_a_usage_error_before_the_model_loads(string file, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--preset", PresetData(file), "--prompt", "x");
        Assert.Equal(2, code);
        Assert.Contains($"The preset {PresetData(file)} {message}", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void An_unknown_preset_name_says_what_is_allowed()
    {
        var (code, _, stderr) = CliRunner.Run("generate", "--device", "cpu", "--preset", "fast", "--prompt", "x");
        Assert.Equal(2, code);
        Assert.Contains("--preset must be turbo or base, or a preset JSON file, and no file 'fast' exists.", stderr);
    }

    [Fact]
    public void Plan_takes_the_presets_guidance_and_steps()
    {
        var (code, stdout, stderr) = CliRunner.Run("plan", "--vram-budget", "24GiB", "--preset", "base");
        Assert.True(code == 0, stderr);
        Assert.Contains("guidance 4 (preset base), 50 steps", stdout);
        var (_, turbo, _) = CliRunner.Run("plan", "--vram-budget", "24GiB");
        Assert.Contains("guidance 0 (preset turbo), 8 steps", turbo);
    }

    /// <summary>The engine reports its preset in the model info, plans its defaults with the negative branch, and
    /// places the weights for a base request first.</summary>
    [Fact]
    public void The_engine_carries_the_preset_into_its_limits_and_plans()
    {
        using var engine = ZImageEngine.Create(new EngineOptions { Device = "cpu", Preset = "base", VramBudget = ByteSize.Parse("8GiB") });
        Assert.Equal(GenerationPreset.BaseName, engine.Model.Preset.Name);
        Assert.Same(engine.Model.Preset, engine.Model.Limits.Preset);
        Assert.False(engine.Model.Limits.GuidanceDistilled);
        Assert.Equal("Z-Image demo (tiny random weights)", engine.Model.Name);

        var defaults = engine.Model.Preset.NewRequest("a fox") with { Width = 256, Height = 256 };
        var guided = engine.Plan(defaults);
        var unguided = engine.Plan(defaults with { GuidanceScale = 0 });
        long Denoise(PlanReport plan) => plan.Phases.Single(p => p.Phase == "denoise").PredictedPeakBytes;
        output.WriteLine($"denoise peak: guided {Denoise(guided)}, unguided {Denoise(unguided)}");
        Assert.True(Denoise(guided) > Denoise(unguided));
    }
}
