using Spectre.Console;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>Emulated smaller cards: a ballast leaves each tier's GiB free, every size runs at batch 1, and the measured
/// peaks are set against the planner's predictions.</summary>
internal static class TierSweep
{
    public static List<TierRow> Run(ZImageEngine engine, List<int> sizes, List<int> tiers, List<BenchRow> residentRows,
        BenchSettings settings, CancellationToken cancellationToken)
    {
        var tierRows = new List<TierRow>();
        if (engine.Device.Memory is not { } probe) return tierRows;
        foreach (var tier in tiers)
        {
            engine.ReleaseDevice();
            using var ballast = DeviceBallast.LeaveFree(probe, tier * (1L << 30));
            foreach (var size in sizes)
            {
                var request = new GenerationRequest { Prompt = BenchInputs.ShortPrompt, Width = size, Height = size, Count = 1, Steps = settings.Steps, Seed = 42 };
                var plan = engine.BuildPlan(request);
                BenchRow row;
                try { row = BenchRow.Measure(engine, request, settings.Runs, cancellationToken); }
                catch (Exception e) when (e is not OperationCanceledException) { row = BenchRow.Failed(request, 0, e.Message); }
                var resident = residentRows.FirstOrDefault(r => r.Width == size && r.Batch == 1 && r.Error is null && r.CaptionTokens < 100);
                double headroom = engine.PlannerOptions.ActivationHeadroomFraction;
                // The planner adds a safety margin (activation headroom and a workspace) on top of its model; the
                // model alone is what a measured peak should be compared with.
                long Model(PlanPhase phase)
                {
                    var e = plan.Phase(phase);
                    return e.PhaseWeightBytes + e.StayingWeightBytes + e.BufferBytes + (long)(e.ActivationBytes / (1 + headroom));
                }
                var tierRow = new TierRow(tier, row, plan.Phase(PlanPhase.TextEncode).PeakBytes, plan.Phase(PlanPhase.Denoise).PeakBytes,
                    plan.Phase(PlanPhase.Decode).PeakBytes, plan.PredictedTime.TotalMilliseconds,
                    resident is null || row.Error is not null ? null : row.EndToEndMs / resident.EndToEndMs,
                    Model(PlanPhase.TextEncode), Model(PlanPhase.Denoise), Model(PlanPhase.Decode));
                tierRows.Add(tierRow);
                AnsiConsole.MarkupLineInterpolated($"[grey]tier {tier} GiB {size}²: {(row.Error ?? $"e2e {row.EndToEndMs:0} ms, x{tierRow.RatioToResident:0.00} of resident, peaks {new ByteSize(row.EncodePeakBytes)}/{new ByteSize(row.DenoisePeakBytes)}/{new ByteSize(row.DecodePeakBytes)} (predicted {new ByteSize(tierRow.PredictedEncodePeakBytes)}/{new ByteSize(tierRow.PredictedDenoisePeakBytes)}/{new ByteSize(tierRow.PredictedDecodePeakBytes)}); {row.Plan}")}[/]");
            }
        }
        engine.ReleaseDevice();
        return tierRows;
    }

    public static Table Table(List<TierRow> rows)
    {
        var t = new Table().AddColumns("free GiB", "size", "e2e ms", "x resident", "peak enc (pred)", "peak denoise (pred)", "peak decode (pred)", "model err");
        static string Pair(long measured, long predicted) => $"{new ByteSize(measured)} ({new ByteSize(predicted)})";
        foreach (var r in rows)
            t.AddRow(r.FreeGiB.ToString(), $"{r.Row.Width}", r.Row.Error is null ? $"{r.Row.EndToEndMs:0}" : "failed", r.RatioToResident is { } x ? $"{x:0.00}" : "-",
                Pair(r.Row.EncodePeakBytes, r.PredictedEncodePeakBytes), Pair(r.Row.DenoisePeakBytes, r.PredictedDenoisePeakBytes),
                Pair(r.Row.DecodePeakBytes, r.PredictedDecodePeakBytes), r.WorstModelError is { } err ? $"{err:P1}" : "-");
        return t;
    }
}

internal sealed record TierRow(int FreeGiB, BenchRow Row, long PredictedEncodePeakBytes, long PredictedDenoisePeakBytes,
    long PredictedDecodePeakBytes, double PredictedMs, double? RatioToResident,
    long ModelEncodePeakBytes, long ModelDenoisePeakBytes, long ModelDecodePeakBytes)
{
    /// <summary>The largest |model − measured| / measured over the three phases.</summary>
    public double? WorstModelError => Row.Error is not null ? null : new[]
    {
        (ModelEncodePeakBytes, Row.EncodePeakBytes), (ModelDenoisePeakBytes, Row.DenoisePeakBytes), (ModelDecodePeakBytes, Row.DecodePeakBytes),
    }.Max(p => p.Item2 == 0 ? 0 : Math.Abs(p.Item1 - p.Item2) / (double)p.Item2);
}
