using System.Globalization;
using Spectre.Console;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary><c>--calibrate</c>: measures this card (<see cref="SpeedCalibration"/>), derives its speed profile
/// (<see cref="CardProfile.FromMeasurements"/>) and writes it where plans look for it (--speed-profile, else this
/// card's file in the profile folder), then prints what was measured.</summary>
internal static class CalibrateBench
{
    public static int Run(ZImageEngine engine, List<int> sizes, BenchSettings settings, CancellationToken ct)
    {
        var card = CardIdentities.Of(engine.Device);
        var path = string.IsNullOrWhiteSpace(settings.SpeedProfile) ? CardProfileFile.DefaultPath(card) : settings.SpeedProfile;
        AnsiConsole.MarkupLineInterpolated($"[grey]calibrating {card} at {string.Join(", ", sizes.Select(s => $"{s}²"))}, {settings.Steps} steps, {settings.Runs} timed runs each[/]");
        var plan = new CalibrationPlan
        {
            Sizes = sizes,
            ShortPrompt = BenchInputs.ShortPrompt,
            LongPrompt = settings.NoLongCaption ? null : BenchInputs.LongPrompt(engine),
            Runs = settings.Runs,
            Steps = settings.Steps,
            WeightFile = LargestWeightFile(settings),
            FileReadBytes = engine.Device.IsCuda ? 1L << 30 : 64L << 20,
        };
        var measured = SpeedCalibration.Measure(engine, plan, line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"), ct);
        bool demo = engine.Models.Origin == ModelOrigin.Demo;
        var profile = CardProfile.FromMeasurements(card, measured, engine.Model.Name, demo, $"zimage {Program.Version}", DateTimeOffset.UtcNow);
        CardProfileFile.Write(path, profile);

        AnsiConsole.Write(Table(profile));
        AnsiConsole.MarkupLineInterpolated($"[grey]not measured (the reference scaled by this card's matmul rate and link): {string.Join(", ", profile.NotMeasured)}[/]");
        if (demo) AnsiConsole.MarkupLine("[yellow]timed with the tiny demo model: its phase times are not the released model's (give --model or drop --demo)[/]");
        AnsiConsole.MarkupLineInterpolated($"wrote the speed profile {path}");
        return 0;
    }

    private static Table Table(CardProfile profile)
    {
        static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
        var m = profile.Measurements;
        var t = new Table().AddColumns("measured", "size", "caption tokens", "value");
        t.AddRow("bf16 matmul (square)", "", "", $"{F(m.MatmulTeraflopsPerSecond, "0.##")} TFLOP/s");
        if (m.TransformerMatmulTeraflopsPerSecond is { } dit) t.AddRow("matmul at the transformer's shapes", "", "", $"{F(dit, "0.##")} TFLOP/s");
        t.AddRow("host to device, pinned", "", "", m.PinnedHostToDeviceBytesPerSecond is { } p ? $"{F(p / 1e9, "0.0")} GB/s" : "- (no GPU)");
        t.AddRow("host to device, pageable", "", "", m.PageableHostToDeviceBytesPerSecond is { } q ? $"{F(q / 1e9, "0.0")} GB/s" : "- (no GPU)");
        t.AddRow("file read", "", "", Markup.Escape($"{F(m.FileReadBytesPerSecond / 1e9, "0.00")} GB/s ({m.FileReadSource})"));
        foreach (var phase in m.Phases)
            t.AddRow(Markup.Escape(phase.Phase), $"{phase.Width}x{phase.Height}", phase.CaptionTokens.ToString(CultureInfo.InvariantCulture), $"{F(phase.Milliseconds, "0.0")} ms");
        return t;
    }

    /// <summary>The largest safetensors file of the checkpoint, to time file reads on real weights.</summary>
    private static string? LargestWeightFile(BenchSettings settings)
    {
        if (settings.DiffusionModel is { } single) return single;
        if (settings.Model is not { } folder || !Directory.Exists(folder)) return null;
        return Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.AllDirectories)
            .OrderByDescending(f => new FileInfo(f).Length).FirstOrDefault();
    }
}
