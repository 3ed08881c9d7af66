using ZImageSharp.Contracts;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Contracts;

public class GenerationPresetTests
{
    private static string Preset(string file) => Path.Combine(AppContext.BaseDirectory, "data", "presets", file);

    [Fact]
    public void Turbo_is_the_request_defaults_as_they_were()
    {
        var turbo = GenerationPreset.Turbo.NewRequest("a fox");
        var plain = new GenerationRequest { Prompt = "a fox" };
        Assert.Equal(plain, turbo with { Loras = plain.Loras });
        Assert.Equal((8, 0f, 0f, 1f, (float?)null), (turbo.Steps, turbo.GuidanceScale, turbo.CfgNormalization, turbo.CfgTruncation, turbo.Shift));
        Assert.True(GenerationPreset.Turbo.GuidanceDistilled);
        Assert.True(GenerationPreset.Turbo.IsTurbo);
        Assert.True(RequestLimits.Default.GuidanceDistilled);
        Assert.Same(GenerationPreset.Turbo, RequestLimits.Default.Preset);
    }

    /// <summary>The Z-Image model card's diffusers example: 50 steps, guidance_scale=4, cfg_normalization=False,
    /// negative_prompt "" (its recommended ranges: guidance 3–5, 28–50 steps).</summary>
    [Fact]
    public void Base_runs_the_model_cards_example_with_cfg()
    {
        var preset = GenerationPreset.Base;
        var request = preset.NewRequest("a fox");
        Assert.Equal((50, 4f, 0f, 1f, "", (float?)null), (request.Steps, request.GuidanceScale, request.CfgNormalization,
            request.CfgTruncation, request.NegativePrompt, request.Shift));
        Assert.Equal((SamplerNames.Euler, SchedulerNames.Simple), (request.Sampler, request.Scheduler));
        Assert.False(preset.GuidanceDistilled);
        Assert.False((RequestLimits.Default with { Preset = preset }).GuidanceDistilled);
        Assert.Equal("Z-Image", preset.ModelFamily);
        Assert.Empty(GenerationRequestValidator.Check(request, RequestLimits.Default));
        Assert.Same(preset, GenerationPreset.BuiltInNamed(" BASE "));
        Assert.Null(GenerationPreset.BuiltInNamed("edit"));
    }

    /// <summary>Base's defaults turn guidance on, so a request that names nothing but its prompt is planned with the
    /// negative branch: two samples per forward, two prompts encoded (the negative one at the longest length when its
    /// tokens are unknown), and 50 steps, which costs memory in the denoise and text phases and time against Turbo's.</summary>
    [Fact]
    public void Base_defaults_plan_the_negative_branch()
    {
        var turbo = PlannerRequest.From(GenerationPreset.Turbo.NewRequest("a fox"), captionTokens: 32);
        var based = PlannerRequest.From(GenerationPreset.Base.NewRequest("a fox"), captionTokens: 32);
        Assert.Equal((false, 1, 1, 8), (turbo.Guidance, turbo.Batch, turbo.PromptsEncoded, turbo.Steps));
        Assert.Equal((true, 2, 2, 50), (based.Guidance, based.Batch, based.PromptsEncoded, based.Steps));
        Assert.Equal(PlannerRequest.MaxCaptionTokens, based.NegativeCaptionTokens);

        var turboPlan = Planner.Plan(Card(80, turbo));
        var basePlan = Planner.Plan(Card(80, based));
        Assert.True(basePlan.Fits);
        foreach (var phase in new[] { PlanPhase.TextEncode, PlanPhase.Denoise })
            Assert.True(basePlan.Phase(phase).PeakBytes > turboPlan.Phase(phase).PeakBytes,
                $"{phase}: base {basePlan.Phase(phase).PeakBytes} vs turbo {turboPlan.Phase(phase).PeakBytes}");
        // 50 steps of two samples against 8 of one: at least the step ratio, since a batch of two costs more than one.
        double ratio = basePlan.Phase(PlanPhase.Denoise).Time.TotalSeconds / turboPlan.Phase(PlanPhase.Denoise).Time.TotalSeconds;
        Assert.True(ratio > 50.0 / 8, $"denoise time ratio {ratio:F2}");
        // The same as a Turbo request that asks for guidance and 50 steps itself: the preset is only defaults.
        var asked = PlannerRequest.From(GenerationPreset.Turbo.NewRequest("a fox") with { GuidanceScale = 4, Steps = 50 }, captionTokens: 32);
        Assert.Equal(asked, based);
    }

    [Fact]
    public void A_preset_file_extends_a_built_in_and_overrides_what_it_names()
    {
        var preset = GenerationPreset.Load(Preset("realism.json"));
        Assert.Equal("realism", preset.Name);
        Assert.Equal("Z-Image", preset.ModelFamily);
        Assert.Equal((36, 4f, 1f, 0.9f), (preset.Steps, preset.GuidanceScale, preset.CfgNormalization, preset.CfgTruncation));
        Assert.Equal("blurry, low quality, watermark", preset.NegativePrompt);
        Assert.False(preset.GuidanceDistilled);
        Assert.False(preset.IsTurbo);
        Assert.Equal(Preset("realism.json"), preset.Source);
    }

    [Fact]
    public void A_preset_file_without_extends_starts_from_turbo_and_is_named_by_its_file()
    {
        var preset = GenerationPreset.Load(Preset("turbo-beta.json"));
        Assert.Equal("turbo-beta", preset.Name);
        Assert.Equal((10, 0f, 4.5f), (preset.Steps, preset.GuidanceScale, preset.Shift!.Value));
        Assert.Equal((SamplerNames.ResMultistep, SchedulerNames.Beta), (preset.Sampler, preset.Scheduler));
        Assert.True(preset.GuidanceDistilled);
        Assert.Equal("Z-Image-Turbo", preset.ModelFamily);
    }

    [Theory]
    [InlineData("bad-unknown-field.json", "guidance", "is not a preset field; the fields are: name, extends, steps")]
    [InlineData("bad-steps-type.json", "steps", "must be a whole number (got \"fifty\")")]
    [InlineData("bad-steps-range.json", "steps", "must be between 1 and 100 (got 0)")]
    [InlineData("bad-extends.json", "extends", "must name a built-in preset: turbo or base (got 'z-image-edit')")]
    [InlineData("bad-sampler.json", "sampler", "must be one of: euler, euler_ancestral")]
    [InlineData("bad-guidance-range.json", "guidance_scale", "must be between 0 and 30 (got 45)")]
    [InlineData("bad-normalization-type.json", "cfg_normalization", "must be a number (0 off) or true/false")]
    [InlineData("bad-name.json", "name", "must be 1 to 64 letters")]
    [InlineData("bad-not-object.json", null, "it must hold a JSON object of preset fields")]
    [InlineData("bad-not-json.json", null, "it is not valid JSON")]
    [InlineData("missing.json", null, "it does not exist.")]
    public void A_bad_preset_file_is_an_error_naming_the_file_and_the_field(string file, string? field, string reason)
    {
        var error = Assert.Throws<PresetFileException>(() => GenerationPreset.Load(Preset(file)));
        Assert.Equal(field, error.Field);
        Assert.Equal(Preset(file), error.File);
        Assert.StartsWith($"The preset {Preset(file)} cannot be used: {(field is null ? "" : field + " ")}", error.Message);
        Assert.Contains(reason, error.Message);
    }
}
