namespace ZImageSharp.Engine.Pipeline;

/// <summary>
/// How the denoising loop runs. Defaults are Z-Image-Turbo's: 8 steps, shift 3, no classifier-free guidance.
/// </summary>
public sealed record DenoiseOptions
{
    /// <summary>Transformer evaluations (per branch): the schedule has Steps + 1 noise levels.</summary>
    public int Steps { get; init; } = 8;

    /// <summary>The scheduler's static shift (scheduler_config.json "shift").</summary>
    public double Shift { get; init; } = 3.0;

    /// <summary>A <see cref="Contracts.SamplerNames"/> name; Euler is Z-Image's own.</summary>
    public string Sampler { get; init; } = Contracts.SamplerNames.Euler;

    /// <summary>A <see cref="Contracts.SchedulerNames"/> name; simple is Z-Image's own schedule.</summary>
    public string Scheduler { get; init; } = Contracts.SchedulerNames.Simple;

    /// <summary>
    /// CFG strength g in pred = pos + g·(pos − neg); any value above 0 turns CFG on and needs negative captions
    /// (diffusers' current threshold). Turbo has guidance distilled in and uses 0.
    /// </summary>
    public float GuidanceScale { get; init; }

    /// <summary>CFG is skipped (guidance 0, positive branch only) on steps whose model time 1 − σ exceeds this;
    /// values above 1 never truncate.</summary>
    public float CfgTruncation { get; init; } = 1f;

    /// <summary>When above 0, a CFG prediction whose L2 norm exceeds this multiple of the positive prediction's
    /// norm is rescaled to it (diffusers' cfg_normalization; True means 1). 0 = off.</summary>
    public float CfgNormalization { get; init; }

    /// <summary>Image-to-image: the schedule of <see cref="Steps"/> is computed whole and the loop starts at this index
    /// (<see cref="Contracts.ImageEditSchedule.FirstStep"/>), from latents already noised to its σ. 0 = text to image.</summary>
    public int FirstStep { get; init; }

    /// <summary>Steps the loop runs: <see cref="Steps"/> − <see cref="FirstStep"/>.</summary>
    public int StepsRun => Steps - FirstStep;

    public bool UsesGuidance => GuidanceScale > 0f;
}
