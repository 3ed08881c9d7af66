using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Native;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands;

/// <summary>Prints the memory plan for a request on this card (or on --vram-budget) without loading any weights:
/// the footprint comes from the checkpoint's headers, or from the released config when no weights are given.</summary>
internal sealed class PlanCommand : Command<PlanCommand.Settings>
{
    internal sealed class Settings : EngineSettings
    {
        [CommandOption("-W|--width <PIXELS>")] [Description("Width (default 1024).")] public int Width { get; init; } = 1024;
        [CommandOption("-H|--height <PIXELS>")] [Description("Height (default 1024).")] public int Height { get; init; } = 1024;
        [CommandOption("-c|--count <N>")] [Description("Images per request (default 1).")] public int Count { get; init; } = 1;
        [CommandOption("-g|--guidance <SCALE>")] [Description("Guidance; above 0 doubles the denoise batch (default: the preset's, turbo 0, base 4).")] public float? Guidance { get; init; }
        [CommandOption("--caption-tokens <N>")] [Description("Caption length the plan assumes (default 512, the maximum).")] public int CaptionTokens { get; init; } = 512;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var preset = settings.ResolvePreset();
        var request = preset.NewRequest() with { Width = settings.Width, Height = settings.Height, Count = settings.Count, GuidanceScale = settings.Guidance ?? preset.GuidanceScale };
        GenerationRequestValidator.Validate(request, RequestLimits.Default);
        if (settings.CaptionTokens is < 1 or > PlannerRequest.MaxCaptionTokens)
            throw new ArgumentException($"--caption-tokens must be between 1 and {PlannerRequest.MaxCaptionTokens} (got {settings.CaptionTokens}).");

        bool float32 = settings.DType == "fp32";
        var options = new PlannerOptions { VaeInFloat32 = float32, AllowFp8Weights = !settings.NoFp8 };
        DeviceBudget budget;
        string where;
        ComputeDevice? device = null;
        if (settings.ParsedVramBudget is { } emulated && settings.Device == "auto")
        {
            budget = CardBudget.Emulated(emulated, options);
            where = $"an emulated {emulated} card (--vram-budget)";
        }
        else
        {
            device = TorchRuntime.Initialize(settings.Device, settings.LibTorch);
            if (device.Memory is not { } probe)
                throw new ArgumentException("There is no GPU here to plan for: give --vram-budget (e.g. 12GiB) to plan for a card of that size.");
            budget = CardBudget.Measured(probe, options, settings.ParsedVramBudget);
            where = device.Description;
        }
        var speed = CardBudget.Speed(settings, device);

        ModelFootprint footprint;
        string weights;
        if (settings.HasCheckpoint)
        {
            var layout = CheckpointLayout.Resolve(new CheckpointPaths { Folder = settings.Model, DiffusionModel = settings.DiffusionModel, TextEncoder = settings.TextEncoder, Vae = settings.Vae });
            footprint = CheckpointFootprint.Read(layout, float32 ? 4 : 2);
            weights = "the checkpoint's headers";
        }
        else
        {
            footprint = ModelMemoryDescription.Released(float32 ? 4 : 2);
            weights = "the released Z-Image-Turbo config";
        }

        var (host, hostWhere) = CardBudget.Host(settings.ParsedRamBudget, options);
        var planner = new MemoryPlanner(options);
        var plan = planner.Plan(new PlannerInput(budget, footprint, PlannerRequest.From(request, settings.CaptionTokens), speed)
        {
            Host = host,
            // What the engine does with a checkpoint: weights that stay on the card keep no host copy.
            WeightsInFiles = !settings.RandomWeights,
            ComputeInFloat32 = float32,
        });
        AnsiConsole.MarkupLineInterpolated($"[grey]planning {settings.Width}x{settings.Height}, count {settings.Count}, guidance {request.GuidanceScale} (preset {preset.Name}), {request.Steps} steps, {settings.CaptionTokens}-token caption on {where}; host: {hostWhere}; weights from {weights}[/]");
        AnsiConsole.WriteLine(PlanTable.Format(plan));
        return plan.Fits ? 0 : 4;
    }
}
