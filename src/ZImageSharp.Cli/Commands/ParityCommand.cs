using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Native;

namespace ZImageSharp.Cli.Commands;

/// <summary>
/// Runs the reference fixtures (small random-weight models and the reference implementation's outputs) through the
/// engine's model classes on a device and dtype, and prints the relative error of every output. The GPU machine has
/// no test runner, so this is how CUDA parity is shown: exit code 0 only when every row passes (an absent set never does).
/// </summary>
internal sealed class ParityCommand : Command<ParityCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--device <DEVICE>")]
        [Description("cpu, cuda or cuda:N (default auto: the first CUDA GPU if an installed PyTorch provides CUDA, else CPU). Env: ZIMAGE_DEVICE.")]
        public string Device { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_DEVICE") ?? "auto";

        [CommandOption("--libtorch <PATH>")]
        [Description("The torch/lib folder (or environment) of an installed PyTorch. Default: found automatically. Env: ZIMAGE_LIBTORCH.")]
        public string? LibTorch { get; init; }

        [CommandOption("--dtype <DTYPE>")]
        [Description("fp32 (tolerance 1e-4), bf16 (tolerance 2e-2) or both (default).")]
        public string DType { get; init; } = "both";

        [CommandOption("--reference <DIR>")]
        [Description("The fixture folder. Default: $ZIMAGE_REFERENCE_DIR, else tests/data/reference under the current directory.")]
        public string? Reference { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Also write the rows as JSON to this file.")]
        public string? Json { get; init; }

        public string ReferenceFolder => Reference ?? ReferenceParity.DefaultReferenceFolder();

        public IReadOnlyList<torch.ScalarType> DTypes => DType.Trim().ToLowerInvariant() switch
        {
            "fp32" => [torch.ScalarType.Float32],
            "bf16" => [torch.ScalarType.BFloat16],
            _ => [torch.ScalarType.Float32, torch.ScalarType.BFloat16],
        };

        public override ValidationResult Validate()
        {
            if (DType.Trim().ToLowerInvariant() is not ("fp32" or "bf16" or "both"))
                return ValidationResult.Error($"--dtype must be fp32, bf16 or both (got '{DType}').");
            if (!Directory.Exists(ReferenceFolder))
                return ValidationResult.Error(
                    $"The reference fixture folder '{Path.GetFullPath(ReferenceFolder)}' does not exist. Pass --reference DIR or set " +
                    $"{ReferenceParity.ReferenceDirVariable}; the repository's fixtures are in tests/data/reference (run from the repository root).");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = TorchRuntime.Initialize(settings.Device, settings.LibTorch);
        var folder = Path.GetFullPath(settings.ReferenceFolder);
        AnsiConsole.MarkupLineInterpolated($"[grey]device {device.Description}; {device.LibTorch?.ToString() ?? "bundled CPU libtorch"}[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]fixtures {folder}[/]");

        var rows = new List<ParityRow>();
        foreach (var dtype in settings.DTypes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            rows.AddRange(new ReferenceParity(folder, device.Device, dtype).Run());
        }

        // A captured run (the GPU machine) has no terminal width; wrapping would split every name.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        AnsiConsole.Write(Render(rows));
        if (rows.Any(r => r.RoundingFloor is not null))
            AnsiConsole.MarkupLine("[grey]bf16 floor: the error of float32 compute on weights and inputs rounded to bf16 (what bf16 storage alone costs on this fixture).[/]");
        int passed = rows.Count(r => r.Outcome == ParityOutcome.Passed);
        int failed = rows.Count(r => r.Outcome == ParityOutcome.Failed);
        int skipped = rows.Count(r => r.Outcome == ParityOutcome.Skipped);
        bool allPassed = passed == rows.Count;
        AnsiConsole.MarkupLine($"{(allPassed ? "[green]all passed[/]" : "[red]not all passed[/]")}: {passed} passed, {failed} failed, {skipped} skipped (absent)");

        if (settings.Json is { } json)
        {
            WriteJson(json, device, folder, rows, allPassed);
            AnsiConsole.MarkupLineInterpolated($"[grey]wrote {json}[/]");
        }
        return allPassed ? 0 : 1;
    }

    private static Table Render(IEnumerable<ParityRow> rows)
    {
        var table = new Table().AddColumn("set").AddColumn("output").AddColumn("dtype")
            .AddColumn(new TableColumn("relative error").RightAligned()).AddColumn(new TableColumn("bf16 floor").RightAligned())
            .AddColumn(new TableColumn("tolerance").RightAligned())
            .AddColumn("result").AddColumn("note");
        foreach (var r in rows)
        {
            var result = r.Outcome switch
            {
                ParityOutcome.Passed => "[green]pass[/]",
                ParityOutcome.Failed => "[red]FAIL[/]",
                _ => "[yellow]skipped (absent)[/]",
            };
            table.AddRow(Markup.Escape(r.Set), Markup.Escape(r.Output), r.DType,
                Scientific(r.RelativeError), Scientific(r.RoundingFloor),
                r.Tolerance.ToString("0E+00", CultureInfo.InvariantCulture), result, $"[grey]{Markup.Escape(r.Note ?? "")}[/]");
        }
        return table;
    }

    private static string Scientific(double? value) => value is { } v ? v.ToString("0.00E+00", CultureInfo.InvariantCulture) : "—";

    private static void WriteJson(string path, ComputeDevice device, string folder, IReadOnlyList<ParityRow> rows, bool allPassed)
    {
        var document = new
        {
            device = device.Description,
            libtorch = device.LibTorch?.ToString(),
            reference = folder,
            passed = allPassed,
            rows = rows.Select(r => new
            {
                set = r.Set,
                output = r.Output,
                dtype = r.DType,
                relativeError = r.RelativeError is { } e && double.IsFinite(e) ? e : (double?)null,
                // NaN/inf are not JSON numbers: kept as text so a broken run still writes a file.
                relativeErrorText = r.RelativeError?.ToString("R", CultureInfo.InvariantCulture),
                roundingFloor = r.RoundingFloor is { } f && double.IsFinite(f) ? f : (double?)null,
                tolerance = r.Tolerance,
                outcome = r.Outcome.ToString().ToLowerInvariant(),
                note = r.Note,
            }),
        };
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllText(path, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
    }
}
