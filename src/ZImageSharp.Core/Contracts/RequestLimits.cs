namespace ZImageSharp.Contracts;

/// <summary>What a model accepts. The size multiple is the VAE factor times the DiT patch (8 · 2 = 16 for Z-Image).</summary>
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
    /// <summary>The model has classifier-free guidance distilled in (Turbo): A1111's <c>cfg_scale</c>, which its
    /// clients send as 7 whether or not the user chose it, is then ignored rather than doubling the work and burning
    /// the image. The native <c>guidance_scale</c> still turns CFG on.</summary>
    public bool GuidanceDistilled { get; init; } = true;

    public static RequestLimits Default { get; } = new();
}
