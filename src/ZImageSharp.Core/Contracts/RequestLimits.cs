namespace ZImageSharp.Contracts;

/// <summary>What a model accepts, and what a request that leaves a field out gets (<see cref="Preset"/>). The size multiple is the VAE factor times the DiT patch (8 · 2 = 16 for Z-Image).</summary>
public sealed record RequestLimits
{
    public int SizeMultiple { get; init; } = 16;
    public int MinSize { get; init; } = 64;
    /// <summary>RoPE axes 1 and 2 have 512 rows: 512 patches of 16 px = 8192 px; 4096 keeps a single image sane.</summary>
    public int MaxSize { get; init; } = 4096;
    public int MinSteps { get; init; } = 1;
    public int MaxSteps { get; init; } = 100;
    public int MaxCount { get; init; } = 8;
    public int MaxPromptCharacters { get; init; } = 8192;
    public IReadOnlyList<string> Samplers { get; init; } = SamplerNames.All;
    public IReadOnlyList<string> Schedulers { get; init; } = SchedulerNames.All;
    /// <summary>The request defaults of the loaded weights (Turbo's unless the model folder or --preset says
    /// otherwise): every API's parser starts from <see cref="GenerationPreset.NewRequest"/>. Reported as
    /// <see cref="ModelInfo.Preset"/>, so not twice in the limits' JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public GenerationPreset Preset { get; init; } = GenerationPreset.Turbo;

    /// <summary>The model has classifier-free guidance distilled in (Turbo): A1111's <c>cfg_scale</c>, which its
    /// clients send as 7 whether or not the user chose it, is then ignored rather than doubling the work and burning
    /// the image. The native <c>guidance_scale</c> still turns CFG on. The preset's (<see cref="GenerationPreset.GuidanceDistilled"/>).</summary>
    public bool GuidanceDistilled => Preset.GuidanceDistilled;

    public static RequestLimits Default { get; } = new();
}
