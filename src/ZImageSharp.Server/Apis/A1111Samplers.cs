using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Apis;

/// <summary>
/// AUTOMATIC1111's sampler and schedule names (modules/sd_samplers_kdiffusion.py, sd_schedulers.py) mapped to ours.
/// A1111 before 1.9 folded the schedule into the sampler ("DPM++ 2M Karras"); those names still arrive from older
/// clients and carry their schedule. Our own names are accepted too, in any case.
/// </summary>
internal static class A1111Samplers
{
    private sealed record Entry(string Label, string Sampler, string? Scheduler, string[] Aliases);

    private static readonly Entry[] Samplers =
    [
        new("Euler", SamplerNames.Euler, null, ["k_euler"]),
        new("Euler a", SamplerNames.EulerAncestral, null, ["k_euler_a", "k_euler_ancestral"]),
        new("DPM++ 2M", SamplerNames.DpmPp2M, null, ["k_dpmpp_2m"]),
        new("DPM++ 2M Karras", SamplerNames.DpmPp2M, SchedulerNames.Karras, ["k_dpmpp_2m_ka"]),
        new("LCM", SamplerNames.Lcm, null, ["k_lcm"]),
        new("Res Multistep", SamplerNames.ResMultistep, null, []),
    ];

    /// <summary>A1111's scheduler labels; "Automatic" is the sampler's own, which for every sampler here is simple.</summary>
    private static readonly (string Label, string? Scheduler)[] Schedulers =
    [
        ("Automatic", null),
        ("Simple", SchedulerNames.Simple),
        ("Beta", SchedulerNames.Beta),
        ("Karras", SchedulerNames.Karras),
    ];

    public static IReadOnlyList<string> SamplerLabels { get; } = Samplers.Select(s => s.Label).ToArray();
    public static IReadOnlyList<string> SchedulerLabels { get; } = Schedulers.Select(s => s.Label).ToArray();

    /// <summary>Our sampler and the schedule its name implies (null: none), or null for a name A1111 clients may not use here.</summary>
    public static (string Sampler, string? Scheduler)? Sampler(string name)
    {
        foreach (var entry in Samplers)
            if (entry.Label.Equals(name, StringComparison.OrdinalIgnoreCase)
                || entry.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase))
                return (entry.Sampler, entry.Scheduler);
        return SamplerNames.All.FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) is { } ours
            ? (ours, null)
            : null;
    }

    /// <summary>Our schedule (null for Automatic), or false when the name is not one here.</summary>
    public static bool TryScheduler(string name, out string? scheduler)
    {
        foreach (var (label, ours) in Schedulers)
            if (label.Equals(name, StringComparison.OrdinalIgnoreCase) || (ours?.Equals(name, StringComparison.OrdinalIgnoreCase) ?? false))
            {
                scheduler = ours;
                return true;
            }
        scheduler = null;
        return false;
    }

    /// <summary>GET /sdapi/v1/samplers: A1111's shape, one entry per name.</summary>
    public static object[] SamplerList() => Samplers
        .Select(s => (object)new Dictionary<string, object?>
        {
            ["name"] = s.Label,
            ["aliases"] = s.Aliases.Append(s.Sampler).Distinct().ToArray(),
            ["options"] = s.Scheduler is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["scheduler"] = s.Scheduler },
        })
        .ToArray();

    /// <summary>GET /sdapi/v1/schedulers: A1111's shape.</summary>
    public static object[] SchedulerList() => Schedulers
        .Select(s => (object)new Dictionary<string, object?>
        {
            ["name"] = s.Scheduler ?? "automatic",
            ["label"] = s.Label,
            ["aliases"] = null,
            ["default_rho"] = s.Scheduler == SchedulerNames.Karras ? 7.0 : -1.0,
            ["need_inner_model"] = false,
        })
        .ToArray();
}
