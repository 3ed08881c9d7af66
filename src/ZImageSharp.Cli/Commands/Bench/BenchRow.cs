using Spectre.Console;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>One configuration of the sweep: medians over the timed runs. <see cref="DitForwardMs"/> is the forward
/// alone; <see cref="StepOverheadMs"/> the rest of a denoise step (scheduler step, progress, preview).</summary>
internal sealed record BenchRow(
    int Width, int Height, int Batch, int CaptionTokens, int Steps,
    double EncodeMs, double DitForwardMs, double DitForwardMinMs, double StepOverheadMs, double DenoiseMs, double DecodeMs, double PngMs, double EndToEndMs,
    long EncodePeakBytes, long DenoisePeakBytes, long DecodePeakBytes, string Plan, int OomRecoveries, string? Error)
{
    public static BenchRow Failed(GenerationRequest r, int tokens, string error) =>
        new(r.Width, r.Height, r.Count, tokens, r.Steps, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, error);

    /// <summary>One warm-up generation, then <paramref name="runs"/> timed ones.</summary>
    public static BenchRow Measure(ZImageEngine engine, GenerationRequest request, int runs, CancellationToken ct)
    {
        TimedGeneration.Run(engine, request, ct);
        var samples = Enumerable.Range(0, runs).Select(_ => TimedGeneration.Run(engine, request, ct)).ToList();
        double Median(Func<TimedGeneration, double> pick) => TimedGeneration.Median(samples.Select(pick));
        var forwards = samples.SelectMany(s => s.ForwardMs).ToList();
        return new BenchRow(
            request.Width, request.Height, request.Count, engine.Models.Tokenizer.EncodePromptIds(request.Prompt).Length, request.Steps,
            EncodeMs: Median(s => s.PhaseMs(GenerationPhase.Encode)),
            DitForwardMs: TimedGeneration.Median(forwards),
            DitForwardMinMs: forwards.Count > 0 ? forwards.Min() : 0,
            StepOverheadMs: TimedGeneration.Median(samples.SelectMany(s => s.StepOverheadMs)),
            DenoiseMs: Median(s => s.PhaseMs(GenerationPhase.Denoise)),
            DecodeMs: Median(s => s.PhaseMs(GenerationPhase.Decode)),
            PngMs: Median(s => s.PhaseMs(GenerationPhase.Png)),
            EndToEndMs: Median(s => s.Result.Total.TotalMilliseconds),
            EncodePeakBytes: samples.Max(s => s.PhasePeakBytes(GenerationPhase.Encode)),
            DenoisePeakBytes: samples.Max(s => s.PhasePeakBytes(GenerationPhase.Denoise)),
            DecodePeakBytes: samples.Max(s => s.PhasePeakBytes(GenerationPhase.Decode)),
            Plan: samples[0].Result.PlanSummary,
            OomRecoveries: samples.Sum(s => s.Result.OomRecoveries),
            Error: null);
    }

    public void Print() =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{Width}x{Height} b{Batch} {CaptionTokens} tok: {(Error is null ? $"forward {DitForwardMs:0.0} ms (+{StepOverheadMs:0.0} ms scheduler/preview a step), e2e {EndToEndMs:0} ms" : "failed: " + Error)}[/]");

    public static Table Table(IEnumerable<BenchRow> rows)
    {
        var t = new Table().AddColumns("size", "batch", "tokens", "encode ms", "DiT fwd ms (median)", "step rest ms", "decode ms", "end-to-end ms",
            "peak encode", "peak denoise", "peak decode");
        foreach (var r in rows)
            t.AddRow($"{r.Width}x{r.Height}", r.Batch.ToString(), r.CaptionTokens.ToString(), $"{r.EncodeMs:0.0}", $"{r.DitForwardMs:0.0}",
                $"{r.StepOverheadMs:0.0}", $"{r.DecodeMs:0.0}", $"{r.EndToEndMs:0}", new ByteSize(r.EncodePeakBytes).ToString(),
                new ByteSize(r.DenoisePeakBytes).ToString(), new ByteSize(r.DecodePeakBytes).ToString());
        return t;
    }
}
