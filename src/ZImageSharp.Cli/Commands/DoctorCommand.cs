using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Cuda.Kernels;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Native;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands;

internal sealed class DoctorCommand : Command<EngineSettings>
{
    public override int Execute(CommandContext context, EngineSettings settings, CancellationToken cancellationToken)
    {
        var device = TorchRuntime.Initialize(settings.Device, settings.LibTorch);
        var table = new Table().AddColumn("check").AddColumn("result");
        table.AddRow("device", Markup.Escape(device.Description));
        table.AddRow("libtorch", Markup.Escape(device.LibTorch?.ToString() ?? "bundled CPU libtorch (libtorch-cpu-linux-x64 2.10.0)"));
        table.AddRow(".NET", Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription));
        if (device.Memory is { } probe)
        {
            var memory = probe.DeviceMemory();
            table.AddRow("driver", Markup.Escape(Nvml.DriverVersion() ?? "unknown (NVML not available)"));
            table.AddRow("card memory", $"{new ByteSize(memory.TotalBytes)} total, {new ByteSize(memory.FreeBytes)} free");
            var others = Nvml.OtherProcessesBytes(probe.Device, probe.Pool().ReservedBytes);
            table.AddRow("other processes", others is { } o ? new ByteSize(o).ToString() : "unknown (NVML not available)");
            table.AddRow("allocator", Markup.Escape(NativeEnvironment.Get("PYTORCH_CUDA_ALLOC_CONF") ?? "default"));
        }
        table.AddRow("own kernels (NVRTC)", Markup.Escape(OwnKernels.Status(device.Device).Description));
        AnsiConsole.Write(table);

        var checks = new Table().AddColumn("self-test").AddColumn("outcome").AddColumn("ok");
        bool allPassed = true;
        foreach (var r in DeviceSelfTest.Run(device))
        {
            checks.AddRow(Markup.Escape(r.Check), Markup.Escape(r.Outcome), r.Passed ? "[green]yes[/]" : "[red]no[/]");
            allPassed &= r.Passed;
        }
        AnsiConsole.Write(checks);

        // What runs here: the plan for each common size on this card's free memory (or --vram-budget), for the
        // released model; times are the planner's predictions with this card's profile (bench --calibrate writes it)
        // or the reference scaled to this card.
        var options = new PlannerOptions();
        DeviceBudget? budget = settings.ParsedVramBudget is { } emulated
            ? CardBudget.Emulated(emulated, options)
            : device.Memory is { } gpu ? CardBudget.Measured(gpu, options) : null;
        if (budget is null)
        {
            AnsiConsole.MarkupLine("[grey]No GPU: give --vram-budget (e.g. 12GiB) to see what would run on a card of that size.[/]");
            return allPassed ? 0 : 1;
        }
        var (host, hostWhere) = CardBudget.Host(settings.ParsedRamBudget, options);
        AnsiConsole.MarkupLineInterpolated($"[grey]host RAM: {hostWhere}; pinned cache release: {(Engine.Host.HostMemoryRelease.CanEmptyPinnedCache ? "libtorch's" : "exact-size registration only")}[/]");
        var speed = CardBudget.Speed(settings, device);
        table = new Table().AddColumn("speed profile").AddColumn("used for the times below");
        table.AddRow(Markup.Escape(speed.Label), Markup.Escape(SpeedHint(settings, device)));
        AnsiConsole.Write(table);
        var planner = new MemoryPlanner(options);
        var footprint = ModelMemoryDescription.Released();
        var sizes = new Table().AddColumns("size", "fits", "predicted time", "predicted peak", "host RAM", "how");
        foreach (int size in new[] { 512, 768, 1024, 1280, 1536, 2048 })
        {
            var request = new PlannerRequest { Width = size, Height = size, CaptionTokens = 128 };
            var plan = planner.Plan(new PlannerInput(budget, footprint, request, speed) { Host = host, WeightsInFiles = true });
            sizes.AddRow($"{size}x{size}", plan.Fits ? "[green]yes[/]" : "[red]no[/]", plan.Fits ? $"{plan.PredictedTime.TotalSeconds:0.00} s" : "-",
                new ByteSize(plan.PredictedPeakBytes).ToString(), new ByteSize(plan.HostBytes).ToString(),
                Markup.Escape(plan.Fits ? $"{plan.TextEncoder.Placement}/{plan.Transformer.Placement}/{plan.Vae.Mode}" : $"largest that fits: {plan.LargestFittingSize?.ToString() ?? "none"}"));
        }
        AnsiConsole.MarkupLineInterpolated($"[grey]what runs here ({budget}; released model, 128-token caption, times from the {speed.Label}):[/]");
        AnsiConsole.Write(sizes);
        return allPassed ? 0 : 1;
    }

    /// <summary>Where this card's own profile is or would be, so the table says how to get measured speeds.</summary>
    private static string SpeedHint(EngineSettings settings, ComputeDevice device)
    {
        if (!string.IsNullOrWhiteSpace(settings.SpeedProfile)) return "named by --speed-profile (or ZIMAGE_SPEED_PROFILE)";
        var path = CardProfileFile.DefaultPath(CardIdentities.Of(device));
        if (File.Exists(path)) return $"this {(device.IsCuda ? "card" : "CPU")}'s profile";
        return $"no profile for this {(device.IsCuda ? "card" : "CPU")} yet: `zimage bench --calibrate{(device.IsCuda ? "" : " --device cpu")}` writes {path}";
    }
}
