namespace ZImageSharp.Contracts;

/// <summary>
/// The samplers a request may name (ComfyUI's names) and AUTOMATIC1111's labels for them. Every layer takes its list
/// from here, so a name the validator accepts is one the engine runs and the APIs and the page offer.
/// </summary>
public static class SamplerNames
{
    /// <summary>Flow-matching Euler, Z-Image's own sampler (the default; bit-identical to diffusers).</summary>
    public const string Euler = "euler";
    /// <summary>ComfyUI's sample_euler_ancestral for flow models (eta 1): draws fresh noise at every step.</summary>
    public const string EulerAncestral = "euler_ancestral";
    /// <summary>ComfyUI's res_multistep, the sampler of ComfyUI's official Z-Image-Turbo template.</summary>
    public const string ResMultistep = "res_multistep";
    /// <summary>DPM-Solver++(2M): second order from the previous step's prediction.</summary>
    public const string DpmPp2M = "dpmpp_2m";
    /// <summary>LCM: jump to the prediction, then re-noise to the next level (fresh noise at every step).</summary>
    public const string Lcm = "lcm";

    public static IReadOnlyList<string> All { get; } = [Euler, EulerAncestral, ResMultistep, DpmPp2M, Lcm];

    /// <summary>A1111's label of each sampler (modules/sd_samplers_kdiffusion.py), written into PNG infotexts.
    /// res_multistep has no A1111 sampler; it is written under its own name.</summary>
    public static string A1111Label(string sampler) => sampler.ToLowerInvariant() switch
    {
        Euler => "Euler",
        EulerAncestral => "Euler a",
        DpmPp2M => "DPM++ 2M",
        Lcm => "LCM",
        ResMultistep => "Res Multistep",
        _ => sampler,
    };
}

/// <summary>The noise schedules a request may name (ComfyUI's names) and A1111's labels for them.</summary>
public static class SchedulerNames
{
    /// <summary>Z-Image's own schedule, σ = shift(linspace(1, 1/N, N)), then 0 (the default; diffusers' values).</summary>
    public const string Simple = "simple";
    /// <summary>ComfyUI's beta schedule (α = β = 0.6): more steps at both ends.</summary>
    public const string Beta = "beta";
    /// <summary>Karras et al.'s ρ = 7 schedule between the model's smallest and largest σ: many small late steps.</summary>
    public const string Karras = "karras";

    public static IReadOnlyList<string> All { get; } = [Simple, Beta, Karras];

    /// <summary>A1111's label (modules/sd_schedulers.py), written as "Schedule type" into PNG infotexts.</summary>
    public static string A1111Label(string scheduler) => scheduler.ToLowerInvariant() switch
    {
        Simple => "Simple",
        Beta => "Beta",
        Karras => "Karras",
        _ => scheduler,
    };
}
