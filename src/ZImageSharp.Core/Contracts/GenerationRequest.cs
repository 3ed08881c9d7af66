namespace ZImageSharp.Contracts;

/// <summary>What a caller asks for: one prompt, a size, a number of steps and images. Validated by
/// <see cref="GenerationRequestValidator"/> before any work starts.</summary>
public sealed record GenerationRequest
{
    public required string Prompt { get; init; }
    public string NegativePrompt { get; init; } = "";
    public int Width { get; init; } = 1024;
    public int Height { get; init; } = 1024;
    /// <summary>Denoising steps, each one DiT forward. Turbo is distilled for 8.</summary>
    public int Steps { get; init; } = 8;
    /// <summary>Seed of the first image; image i uses Seed + i. Null draws a random seed.</summary>
    public long? Seed { get; init; }
    /// <summary>Images generated for this prompt (diffusers' num_images_per_prompt).</summary>
    public int Count { get; init; } = 1;
    /// <summary>0 turns classifier-free guidance off (Turbo's setting); above 0 runs a negative branch too.</summary>
    public float GuidanceScale { get; init; }
    public float CfgTruncation { get; init; } = 1f;
    public float CfgNormalization { get; init; }
    /// <summary>Flow-matching shift; null takes the checkpoint's scheduler config (3.0 for Turbo).</summary>
    public float? Shift { get; init; }
    /// <summary>One of <see cref="SamplerNames.All"/> (ComfyUI's names).</summary>
    public string Sampler { get; init; } = SamplerNames.Euler;
    /// <summary>The σ schedule, one of <see cref="SchedulerNames.All"/>; simple is Z-Image's own.</summary>
    public string Scheduler { get; init; } = SchedulerNames.Simple;
    /// <summary>LoRAs applied to the transformer for this request, in order (docs/lora.md).</summary>
    public IReadOnlyList<LoraRequest> Loras { get; init; } = [];
    /// <summary>Image-to-image: the picture to start from, exactly <see cref="Width"/>×<see cref="Height"/>
    /// (docs/editing.md). Null for text-to-image.</summary>
    public EditImage? InitImage { get; init; }
    /// <summary>How much of the schedule runs from the noised init image, 0 &lt; s ≤ 1 (diffusers' strength): the first
    /// int(steps − steps·s) steps are skipped; 1 starts from pure noise. Ignored without an init image.</summary>
    public float Strength { get; init; } = DefaultStrength;
    /// <summary>Inpainting: white (luma ≥ 0.5) repaints, black keeps the init image; the init image's size. Needs
    /// <see cref="InitImage"/>.</summary>
    public EditImage? Mask { get; init; }

    /// <summary>diffusers' ZImageImg2ImgPipeline default.</summary>
    public const float DefaultStrength = 0.6f;

    /// <summary>Whether the VAE encoder runs before denoising (the planner's image-encode phase).</summary>
    public bool EncodesImage => InitImage is not null;
}
