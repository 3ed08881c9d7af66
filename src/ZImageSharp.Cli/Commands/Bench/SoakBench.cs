using Spectre.Console;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary><c>--soak N</c>: consecutive generations; allocated and reserved pool bytes after each must not creep.</summary>
internal static class SoakBench
{
    public static int Run(ZImageEngine engine, int size, BenchSettings settings, CancellationToken ct)
    {
        var probe = engine.Device.Memory;
        var request = new GenerationRequest { Prompt = BenchInputs.ShortPrompt, Width = size, Height = size, Steps = settings.Steps };
        // A warm-up generation first (like every timing here): the pool settles its block layout in it.
        engine.GenerateAsync(request, null, ct).GetAwaiter().GetResult();
        var warm = probe?.Pool() ?? default;
        var after = new List<(long Allocated, long Reserved, double Ms)>();
        for (int i = 0; i < settings.Soak; i++)
        {
            var result = engine.GenerateAsync(request, null, ct).GetAwaiter().GetResult();
            var pool = probe?.Pool() ?? default;
            after.Add((pool.AllocatedBytes, pool.ReservedBytes, result.Total.TotalMilliseconds));
        }
        long maxAllocatedDrift = after.Max(a => Math.Abs(a.Allocated - warm.AllocatedBytes));
        long maxReservedDrift = after.Max(a => Math.Abs(a.Reserved - warm.ReservedBytes));
        bool flat = maxAllocatedDrift == 0 && maxReservedDrift == 0;
        AnsiConsole.MarkupLine(flat ? "[green]memory flat[/]" : "[red]memory creeping[/]");
        AnsiConsole.MarkupLineInterpolated($"soak: {after.Count} generations of {size}x{size} after one warm-up; baseline after the warm-up: allocated {warm.AllocatedBytes} B, reserved {warm.ReservedBytes} B; largest drift after any of them: allocated {maxAllocatedDrift} B, reserved {maxReservedDrift} B; median {after.Select(a => a.Ms).Order().ElementAt(after.Count / 2):0} ms per generation");
        BenchInputs.WriteJson(settings.Json, new { mode = "soak", size, baseline_allocated = warm.AllocatedBytes, baseline_reserved = warm.ReservedBytes,
            generations = after.Select(a => new { allocated = a.Allocated, reserved = a.Reserved, ms = a.Ms }), flat });
        return flat ? 0 : 1;
    }
}
