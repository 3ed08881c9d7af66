using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Engine;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>
/// <c>zimage bench</c>: the real-size model with random weights built on the device (no files needed), or the demo or a
/// checkpoint. One mode per run: the speed and memory sweep (<see cref="SpeedSweep"/>, the default), the card's speed
/// profile (<see cref="CalibrateBench"/>), a soak (<see cref="SoakBench"/>), a provoked out-of-memory error
/// (<see cref="OomBench"/>) or the own kernels against the torch ops (<see cref="KernelBench"/>).
/// </summary>
internal sealed class BenchCommand : Command<BenchSettings>
{
    public override int Execute(CommandContext context, BenchSettings settings, CancellationToken cancellationToken)
    {
        // The kernel check needs no model: it must not pay for building one.
        if (settings.Kernels) return KernelBench.Run(settings);
        // A calibration replaces this card's profile, so it must not depend on reading the old one.
        using var engine = EngineFactory.Create(settings, randomRealWeights: !settings.Demo && !settings.HasCheckpoint,
            speed: settings.Calibrate ? SpeedProfile.Reference : null);
        AnsiConsole.MarkupLineInterpolated($"[grey]{engine.Model.Description}[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]device {engine.Device.Description}; {engine.Device.LibTorch?.ToString() ?? "bundled CPU libtorch"}[/]");
        if (engine.Device.IsCuda) AnsiConsole.MarkupLineInterpolated($"[grey]attention kernels allowed: {ZImageSharp.Engine.Native.TorchRuntime.AttentionKernels}[/]");

        var sizes = settings.SizeList(settings.Calibrate, engine.Device.IsCuda);
        if (settings.Calibrate) return CalibrateBench.Run(engine, sizes, settings, cancellationToken);
        if (settings.Soak > 0) return SoakBench.Run(engine, sizes[0], settings, cancellationToken);
        if (settings.ProvokeOom) return OomBench.Run(engine, sizes[0], settings, cancellationToken);
        return SpeedSweep.Run(engine, sizes, settings, cancellationToken);
    }
}
