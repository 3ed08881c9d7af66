using Spectre.Console;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Diagnostics;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>The default mode: end-to-end speed and memory per size and batch (a warm-up, then timed runs; times from
/// synchronized clocks, peaks from the CUDA pool), optionally per-op profiles, op overheads and emulated smaller
/// cards. Prints tables and writes JSON.</summary>
internal static class SpeedSweep
{
    public static int Run(ZImageEngine engine, List<int> sizes, BenchSettings settings, CancellationToken cancellationToken)
    {
        var batches = BenchInputs.ParseList(settings.Batches, "--batches");
        var cases = new List<(int Size, int Batch, bool Long)>();
        foreach (var size in sizes) foreach (var batch in batches) cases.Add((size, batch, false));
        if (!settings.NoLongCaption) cases.Insert(Math.Min(1, cases.Count), (sizes[0], 1, true));

        IReadOnlyList<OpOverhead>? overhead = null;
        if (settings.Overhead)
        {
            overhead = OpOverheadProbe.Measure(engine.Device.Device);
            var table = new Table().AddColumns("call", "calls", "host µs / call", "synchronized µs / call");
            foreach (var o in overhead) table.AddRow(o.Op, o.Calls.ToString(), $"{o.HostMicroseconds:0.0}", $"{o.SynchronizedMicroseconds:0.0}");
            AnsiConsole.Write(table);
        }

        var rows = new List<BenchRow>();
        foreach (var (size, batch, longCaption) in cases)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var prompt = longCaption ? BenchInputs.LongPrompt(engine) : BenchInputs.ShortPrompt;
            var request = new GenerationRequest { Prompt = prompt, Width = size, Height = size, Count = batch, Steps = settings.Steps, Seed = 42 };
            try { rows.Add(BenchRow.Measure(engine, request, settings.Runs, cancellationToken)); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                rows.Add(BenchRow.Failed(request, engine.Models.Tokenizer.EncodePromptIds(prompt).Length, e.Message));
            }
            rows[^1].Print();
        }
        string? profile = null;
        if (settings.Profile)
        {
            profile = OpProfile.Run(engine, sizes[0], cancellationToken);
            AnsiConsole.WriteLine(profile);
        }
        var tierRows = settings.Tiers is { } tiers ? TierSweep.Run(engine, sizes, BenchInputs.ParseList(tiers, "--tiers"), rows, settings, cancellationToken) : [];

        BenchInputs.WriteJson(settings.Json, new
        {
            tool = "zimage bench",
            date = DateTime.UtcNow.ToString("u"),
            device = engine.Device.Description,
            libtorch = engine.Device.LibTorch?.ToString() ?? "bundled CPU libtorch 2.10.0",
            driver = Nvml.DriverVersion(),
            dotnet = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            model = engine.Model.Name,
            weights = engine.Model.Description,
            dtype = engine.Models.Transformer.DType.ToString(),
            speed_profile = engine.Speed.Label,
            runs = settings.Runs,
            rows,
            tiers = tierRows,
            profile,
            overhead,
        });
        AnsiConsole.Write(BenchRow.Table(rows));
        AnsiConsole.MarkupLine("[grey]DiT fwd: one transformer forward alone (embedding to final layer); step rest: the scheduler step, progress and preview of each step.[/]");
        foreach (var plan in rows.Select(r => r.Error ?? r.Plan).Distinct())
            AnsiConsole.MarkupLineInterpolated($"[grey]plan: {plan}[/]");
        if (tierRows.Count > 0) AnsiConsole.Write(TierSweep.Table(tierRows));
        AnsiConsole.MarkupLineInterpolated($"[grey]wrote {settings.Json}[/]");
        return rows.All(r => r.Error is null) && tierRows.All(r => r.Row.Error is null) ? 0 : 1;
    }
}
