using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Options;
using ZImageSharp.Planning;

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

        [CommandOption("--no-long-caption")]
        [Description("Skip the extra run of the first size with a caption of 512 tokens.")]
        public bool NoLongCaption { get; init; }

        [CommandOption("--overhead")]
        [Description("Also measure the host cost of single TorchSharp calls on tiny tensors (what bounds launch-bound phases such as text encoding).")]
        public bool Overhead { get; init; }

        [CommandOption("--runs <N>")]
        [Description("Timed runs per configuration after one warm-up (default 3); the median is reported.")]
        public int Runs { get; init; } = 3;

        [CommandOption("--steps <N>")]
        [Description("Denoising steps (default 8).")]
        public int Steps { get; init; } = 8;

        [CommandOption("--demo")]
        [Description("Use the tiny demo model instead of the real-size random model (checks the command itself).")]
        public bool Demo { get; init; }

        [CommandOption("--tiers <GIB_LIST>")]
        [Description("Also emulate smaller cards: for each value, take the rest of the GPU with a ballast allocation so only that many GiB stay free, and run every size at batch 1 (e.g. 24,16,12,8).")]
        public string? Tiers { get; init; }

        [CommandOption("--soak <N>")]
        [Description("Instead of timing: N consecutive generations at the first size, checking allocated and reserved bytes after each.")]
        public int Soak { get; init; }

        [CommandOption("--provoke-oom")]
        [Description("Instead of timing: grab nearly all free memory during the denoise phase of a generation and show the in-process recovery.")]
        public bool ProvokeOom { get; init; }

        [CommandOption("--profile")]
        [Description("Also time each named op of one DiT forward at the first size (synchronized per op, so compare shares, not the total).")]
        public bool Profile { get; init; }

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
        if (engine.Device.IsCuda) AnsiConsole.MarkupLineInterpolated($"[grey]attention kernels allowed: {ZImageSharp.Engine.Native.TorchRuntime.AttentionKernels}[/]");

        if (settings.Soak > 0) return Soak(engine, sizes[0], settings, cancellationToken);
        if (settings.ProvokeOom) return ProvokeOom(engine, sizes[0], settings, cancellationToken);

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
        string? profile = null;
        if (settings.Profile)
        {
            profile = Profile(engine, sizes[0], cancellationToken);
            AnsiConsole.WriteLine(profile);
        }

        var tierRows = new List<TierRow>();
        if (settings.Tiers is { } tiers && engine.Device.Memory is { } probe)
        {
            foreach (var tier in ParseList(tiers, "--tiers"))
            {
                engine.ReleaseDevice();
                using var ballast = DeviceBallast.LeaveFree(probe, tier * (1L << 30));
                foreach (var size in sizes)
                {
                    var request = new GenerationRequest { Prompt = ShortPrompt, Width = size, Height = size, Count = 1, Steps = settings.Steps, Seed = 42 };
                    var plan = engine.BuildPlan(request);
                    BenchRow row;
                    try { row = Run(engine, request, settings.Runs, cancellationToken); }
                    catch (Exception e) when (e is not OperationCanceledException) { row = BenchRow.Failed(request, 0, e.Message); }
                    var resident = rows.FirstOrDefault(r => r.Width == size && r.Batch == 1 && r.Error is null && r.CaptionTokens < 100);
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
            tiers = tierRows,
            profile,
            overhead,
        };
        var temp = settings.Json + ".partial";
        File.WriteAllText(temp, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        File.Move(temp, settings.Json, overwrite: true);
        AnsiConsole.Write(Table(rows));
        foreach (var plan in rows.Select(r => r.Error ?? r.Plan).Distinct())
            AnsiConsole.MarkupLineInterpolated($"[grey]plan: {plan}[/]");
        if (tierRows.Count > 0) AnsiConsole.Write(TierTable(tierRows));
        AnsiConsole.MarkupLineInterpolated($"[grey]wrote {settings.Json}[/]");
        return rows.All(r => r.Error is null) && tierRows.All(r => r.Row.Error is null) ? 0 : 1;
    }

    private static Table TierTable(List<TierRow> rows)
    {
        var t = new Table().AddColumns("free GiB", "size", "e2e ms", "x resident", "peak enc (pred)", "peak denoise (pred)", "peak decode (pred)", "model err");
        static string Pair(long measured, long predicted) => $"{new ByteSize(measured)} ({new ByteSize(predicted)})";
        foreach (var r in rows)
            t.AddRow(r.FreeGiB.ToString(), $"{r.Row.Width}", r.Row.Error is null ? $"{r.Row.EndToEndMs:0}" : "failed", r.RatioToResident is { } x ? $"{x:0.00}" : "-",
                Pair(r.Row.EncodePeakBytes, r.PredictedEncodePeakBytes), Pair(r.Row.DenoisePeakBytes, r.PredictedDenoisePeakBytes),
                Pair(r.Row.DecodePeakBytes, r.PredictedDecodePeakBytes), r.WorstModelError is { } err ? $"{err:P1}" : "-");
        return t;
    }

    /// <summary>
    /// Per-op tables: one DiT forward (each op synchronized: GPU time), the text encoder twice (host time only, which
    /// is what bounds it for short captions, then synchronized) and one VAE decode (synchronized).
    /// </summary>
    private static string Profile(ZImageEngine engine, int size, CancellationToken ct)
    {
        var device = engine.Device;
        void Sync() { if (device.IsCuda) torch.cuda.synchronize(device.Device); }
        var oneStep = new GenerationRequest { Prompt = ShortPrompt, Width = size, Height = size, Steps = 1, Seed = 1 };
        void Generate() => engine.GenerateAsync(oneStep, null, ct).GetAwaiter().GetResult();
        Generate(); // warm
        var text = new System.Text.StringBuilder();

        var dit = new SynchronizedOpTimer(Sync);
        engine.Models.Transformer.Profile = dit;
        try { Generate(); }
        finally { engine.Models.Transformer.Profile = null; }
        text.AppendLine($"profile of one DiT forward at {size}x{size} (each op synchronized):").AppendLine(dit.Format());

        foreach (var (name, timer) in new[] { ("host time, no synchronization", new SynchronizedOpTimer(() => { })), ("each op synchronized", new SynchronizedOpTimer(Sync)) })
        {
            engine.Models.TextEncoder.Profile = timer;
            try { Generate(); }
            finally { engine.Models.TextEncoder.Profile = null; }
            text.AppendLine($"profile of one text encoding, {engine.Models.Tokenizer.EncodePromptIds(ShortPrompt).Length} tokens ({name}):").AppendLine(timer.Format());
        }

        // The VAE stays loaded under an all-resident plan, so after a generation it can be called directly.
        var vae = engine.Models.Vae;
        var latentSide = size / 8;
        using (torch.no_grad())
        using (var z = torch.randn([1, vae.Config.LatentChannels, latentSide, latentSide], vae.ParameterDType(), vae.ParameterDevice()))
        {
            vae.Decode(z).Dispose(); // warm at this size
            var timer = new SynchronizedOpTimer(Sync);
            Sync();
            var clock = Stopwatch.StartNew();
            vae.Decode(z).Dispose();
            Sync();
            double plain = clock.Elapsed.TotalMilliseconds;
            vae.Decode(z, timer).Dispose();
            text.AppendLine($"profile of one VAE decode at {size}x{size} ({plain:0.0} ms unprofiled; each op synchronized):").AppendLine(timer.Format());
        }
        return text.ToString();
    }

    /// <summary>Consecutive generations; allocated and reserved pool bytes after each must not creep.</summary>
    private static int Soak(ZImageEngine engine, int size, Settings settings, CancellationToken ct)
    {
        var probe = engine.Device.Memory;
        var request = new GenerationRequest { Prompt = ShortPrompt, Width = size, Height = size, Steps = settings.Steps };
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
        File.WriteAllText(settings.Json, JsonSerializer.Serialize(new { mode = "soak", size, baseline_allocated = warm.AllocatedBytes, baseline_reserved = warm.ReservedBytes,
            generations = after.Select(a => new { allocated = a.Allocated, reserved = a.Reserved, ms = a.Ms }), flat },
            new JsonSerializerOptions { WriteIndented = true }));
        return flat ? 0 : 1;
    }

    /// <summary>A real out-of-memory mid-generation: after the plan was made and two denoise steps ran, another
    /// allocation takes all but 256 MiB of the free memory. The engine must recover in-process.</summary>
    private static int ProvokeOom(ZImageEngine engine, int size, Settings settings, CancellationToken ct)
    {
        if (engine.Device.Memory is not { } probe) throw new ArgumentException("--provoke-oom needs a CUDA device.");
        var request = new GenerationRequest { Prompt = ShortPrompt, Width = size, Height = size, Steps = settings.Steps, Seed = 7 };
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
        File.WriteAllText(settings.Json, JsonSerializer.Serialize(new { mode = "provoke-oom", size, recoveries = result.OomRecoveries, before, after = result.PlanSummary, next_ms = next.Total.TotalMilliseconds },
            new JsonSerializerOptions { WriteIndented = true }));
        return result.OomRecoveries > 0 && result.Images.Count == 1 ? 0 : 1;
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
            "peak encode", "peak denoise", "peak decode");
        foreach (var r in rows)
            t.AddRow($"{r.Width}x{r.Height}", r.Batch.ToString(), r.CaptionTokens.ToString(), $"{r.EncodeMs:0.0}", $"{r.DitForwardMs:0.0}",
                $"{r.DecodeMs:0.0}", $"{r.EndToEndMs:0}", new ByteSize(r.EncodePeakBytes).ToString(), new ByteSize(r.DenoisePeakBytes).ToString(),
                new ByteSize(r.DecodePeakBytes).ToString());
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

internal sealed record BenchRow(
    int Width, int Height, int Batch, int CaptionTokens, int Steps,
    double EncodeMs, double DitForwardMs, double DitForwardMinMs, double DenoiseMs, double DecodeMs, double PngMs, double EndToEndMs,
    long EncodePeakBytes, long DenoisePeakBytes, long DecodePeakBytes, string Plan, int OomRecoveries, string? Error)
{
    public static BenchRow Failed(GenerationRequest r, int tokens, string error) =>
        new(r.Width, r.Height, r.Count, tokens, r.Steps, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, error);
}
