using Spectre.Console;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary><c>--provoke-oom</c>: a real out-of-memory error mid-generation. After the plan was made and two denoise
/// steps ran, another allocation takes all but 256 MiB of the free memory; the engine must recover in-process.</summary>
internal static class OomBench
{
    public static int Run(ZImageEngine engine, int size, BenchSettings settings, CancellationToken ct)
    {
        if (engine.Device.Memory is not { } probe) throw new ArgumentException("--provoke-oom needs a CUDA device.");
        var request = new GenerationRequest { Prompt = BenchInputs.ShortPrompt, Width = size, Height = size, Steps = settings.Steps, Seed = 7 };
        engine.GenerateAsync(request, null, ct).GetAwaiter().GetResult(); // warm: plan and placement settled
        string before = engine.BuildPlan(request).Summary;
        DeviceBallast? ballast = null;
        var progress = new SynchronousProgress<GenerationProgress>(p =>
        {
            if (p.Phase == GenerationPhase.Denoise && p.Step == 2 && ballast is null)
            {
                probe.Trim(); // hand our cached blocks back so the grab really leaves the engine short
                ballast = DeviceBallast.LeaveFree(probe, 256L << 20);
                AnsiConsole.MarkupLineInterpolated($"[yellow]took {new ByteSize(ballast.Bytes)} of device memory after denoise step 2[/]");
            }
        });
        GenerationResult result;
        try { result = engine.GenerateAsync(request, progress, ct).GetAwaiter().GetResult(); }
        finally { ballast?.Dispose(); }
        var next = engine.GenerateAsync(request, null, ct).GetAwaiter().GetResult();
        AnsiConsole.MarkupLineInterpolated($"provoked OOM: {result.Images.Count} image(s), {result.OomRecoveries} recovery(ies); plan before: {before}; plan after recovery: {result.PlanSummary}; next generation: {next.OomRecoveries} recoveries, {next.Total.TotalMilliseconds:0} ms");
        BenchInputs.WriteJson(settings.Json, new { mode = "provoke-oom", size, recoveries = result.OomRecoveries, before, after = result.PlanSummary, next_ms = next.Total.TotalMilliseconds });
        return result.OomRecoveries > 0 && result.Images.Count == 1 ? 0 : 1;
    }
}
