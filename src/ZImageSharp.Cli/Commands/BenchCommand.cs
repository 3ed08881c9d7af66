using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands;

/// <summary>
/// End-to-end speed and memory of the real-size model with random weights built on the device (no files needed):
/// per configuration a warm-up run, then several timed runs; times from synchronized clocks, peaks from the CUDA pool.
/// Prints a table and writes JSON.
/// </summary>
internal sealed class BenchCommand : Command<BenchCommand.Settings>
{
    internal sealed class Settings : EngineSettings
    {
        [CommandOption("--sizes <LIST>")]
        [Description("Square sizes to run (default 1024,512,768,1280,1536,2048).")]
        public string Sizes { get; init; } = "1024,512,768,1280,1536,2048";

        [CommandOption("--batches <LIST>")]
        [Description("Images per generation (default 1,2).")]
        public string Batches { get; init; } = "1,2";

        [CommandOption("--long-caption")]
        [Description("Also run 1024² with a caption of 512 tokens (default on).")]
        public bool? LongCaption { get; init; }

        [CommandOption("--runs <N>")]
        [Description("Timed runs per configuration after one warm-up (default 3); the median is reported.")]
        public int Runs { get; init; } = 3;

        [CommandOption("--steps <N>")]
        [Description("Denoising steps (default 8).")]
        public int Steps { get; init; } = 8;

        [CommandOption("--demo")]
        [Description("Use the tiny demo model instead of the real-size random model (checks the command itself).")]
        public bool Demo { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Where to write the results (default bench.json).")]
        public string Json { get; init; } = "bench.json";
    }

    private const string ShortPrompt = "A neon-lit street in Tokyo at night, rain reflections, 4k photo";

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var sizes = ParseList(settings.Sizes, "--sizes");
        var batches = ParseList(settings.Batches, "--batches");
        using var engine = EngineFactory.Create(settings, randomRealWeights: !settings.Demo && !settings.HasCheckpoint);
        AnsiConsole.MarkupLineInterpolated($"[grey]{engine.Model.Description}[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]device {engine.Device.Description}; {engine.Device.LibTorch?.ToString() ?? "bundled CPU libtorch"}[/]");

        var cases = new List<(int Size, int Batch, bool Long)>();
        foreach (var size in sizes) foreach (var batch in batches) cases.Add((size, batch, false));
        if (settings.LongCaption ?? true) cases.Insert(Math.Min(1, cases.Count), (sizes[0], 1, true));

        var rows = new List<BenchRow>();
        foreach (var (size, batch, longCaption) in cases)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var prompt = longCaption ? LongPrompt(engine) : ShortPrompt;
            var request = new GenerationRequest { Prompt = prompt, Width = size, Height = size, Count = batch, Steps = settings.Steps, Seed = 42 };
            try
            {
                rows.Add(Run(engine, request, settings.Runs, cancellationToken));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                rows.Add(BenchRow.Failed(request, engine.Models.Tokenizer.EncodePromptIds(prompt).Length, e.Message));
            }
            Print(rows[^1]);
        }
        var report = new
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
            runs = settings.Runs,
            rows,
        };
        var temp = settings.Json + ".partial";
        File.WriteAllText(temp, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        File.Move(temp, settings.Json, overwrite: true);
        AnsiConsole.Write(Table(rows));
        AnsiConsole.MarkupLineInterpolated($"[grey]wrote {settings.Json}[/]");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    private static BenchRow Run(ZImageEngine engine, GenerationRequest request, int runs, CancellationToken ct)
    {
        var device = engine.Device;
        var samples = new List<(GenerationResult Result, List<double> StepMs)>();
        for (int run = 0; run <= runs; run++) // run 0 is the warm-up
        {
            var stepMs = new List<double>();
            var stepClock = Stopwatch.StartNew();
            var progress = new SynchronousProgress<GenerationProgress>(p =>
            {
                if (p.Phase != GenerationPhase.Denoise) return;
                if (device.IsCuda) torch.cuda.synchronize(device.Device);
                if (p.Step > 0) stepMs.Add(stepClock.Elapsed.TotalMilliseconds);
                stepClock.Restart();
            });
            var result = engine.GenerateAsync(request, progress, ct).GetAwaiter().GetResult();
            if (run > 0) samples.Add((result, stepMs));
        }
        double Median(IEnumerable<double> xs) { var s = xs.Order().ToArray(); return s.Length == 0 ? 0 : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }
        double PhaseMs(GenerationResult r, GenerationPhase p) => r.Phases.Where(x => x.Phase == p).Sum(x => x.Elapsed.TotalMilliseconds);
        long PhasePeak(GenerationResult r, GenerationPhase p) => r.Phases.Where(x => x.Phase == p).Select(x => x.PeakBytes).DefaultIfEmpty().Max();
        var allSteps = samples.SelectMany(s => s.StepMs).ToList();
        return new BenchRow(
            request.Width, request.Height, request.Count, engine.Models.Tokenizer.EncodePromptIds(request.Prompt).Length, request.Steps,
            EncodeMs: Median(samples.Select(s => PhaseMs(s.Result, GenerationPhase.Encode))),
            DitForwardMs: Median(allSteps),
            DitForwardMinMs: allSteps.Count > 0 ? allSteps.Min() : 0,
            DenoiseMs: Median(samples.Select(s => PhaseMs(s.Result, GenerationPhase.Denoise))),
            DecodeMs: Median(samples.Select(s => PhaseMs(s.Result, GenerationPhase.Decode))),
            PngMs: Median(samples.Select(s => PhaseMs(s.Result, GenerationPhase.Png))),
            EndToEndMs: Median(samples.Select(s => s.Result.Total.TotalMilliseconds)),
            EncodePeakBytes: samples.Max(s => PhasePeak(s.Result, GenerationPhase.Encode)),
            DenoisePeakBytes: samples.Max(s => PhasePeak(s.Result, GenerationPhase.Denoise)),
            DecodePeakBytes: samples.Max(s => PhasePeak(s.Result, GenerationPhase.Decode)),
            Plan: samples[0].Result.PlanSummary,
            OomRecoveries: samples.Sum(s => s.Result.OomRecoveries),
            Error: null);
    }

    /// <summary>A caption that tokenizes to the 512-token maximum with the chat template.</summary>
    private static string LongPrompt(ZImageEngine engine)
    {
        var words = new System.Text.StringBuilder();
        while (engine.Models.Tokenizer.EncodePromptIds(words.ToString(), int.MaxValue).Length < 520)
            words.Append("a quiet harbour at dawn with fishing boats, gulls and mist over the water; ");
        return words.ToString();
    }

    private static List<int> ParseList(string text, string option)
    {
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var v) || v <= 0) throw new ArgumentException($"{option}: '{part}' is not a positive number.");
            values.Add(v);
        }
        if (values.Count == 0) throw new ArgumentException($"{option} needs at least one value.");
        return values;
    }

    private static void Print(BenchRow r) =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{r.Width}x{r.Height} b{r.Batch} {r.CaptionTokens} tok: {(r.Error is null ? $"forward {r.DitForwardMs:0.0} ms, e2e {r.EndToEndMs:0} ms" : "failed: " + r.Error)}[/]");

    private static Table Table(List<BenchRow> rows)
    {
        var t = new Table().AddColumns("size", "batch", "tokens", "encode ms", "DiT fwd ms (median)", "decode ms", "end-to-end ms",
            "peak encode", "peak denoise", "peak decode", "plan");
        foreach (var r in rows)
            t.AddRow($"{r.Width}x{r.Height}", r.Batch.ToString(), r.CaptionTokens.ToString(), $"{r.EncodeMs:0.0}", $"{r.DitForwardMs:0.0}",
                $"{r.DecodeMs:0.0}", $"{r.EndToEndMs:0}", new ByteSize(r.EncodePeakBytes).ToString(), new ByteSize(r.DenoisePeakBytes).ToString(),
                new ByteSize(r.DecodePeakBytes).ToString(), Markup.Escape(r.Error ?? r.Plan));
        return t;
    }
}

internal sealed record BenchRow(
    int Width, int Height, int Batch, int CaptionTokens, int Steps,
    double EncodeMs, double DitForwardMs, double DitForwardMinMs, double DenoiseMs, double DecodeMs, double PngMs, double EndToEndMs,
    long EncodePeakBytes, long DenoisePeakBytes, long DecodePeakBytes, string Plan, int OomRecoveries, string? Error)
{
    public static BenchRow Failed(GenerationRequest r, int tokens, string error) =>
        new(r.Width, r.Height, r.Count, tokens, r.Steps, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, error);
}
