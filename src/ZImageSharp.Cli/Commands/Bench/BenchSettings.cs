using System.ComponentModel;
using Spectre.Console.Cli;

namespace ZImageSharp.Cli.Commands.Bench;

internal sealed class BenchSettings : EngineSettings
{
    [CommandOption("--sizes <LIST>")]
    [Description("Square sizes to run (default 1024,512,768,1280,1536,2048; with --calibrate 512,1024,2048 on a GPU, 256,512 on the CPU).")]
    public string? Sizes { get; init; }

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

    [CommandOption("--calibrate")]
    [Description("Instead of the sweep: measure this card (matmul rate, host-to-device links, file reads, per-phase times at --sizes) and write the speed profile that plan, doctor and the engine predict times with (to --speed-profile, default this card's file in $XDG_CACHE_HOME/zimage/profiles).")]
    public bool Calibrate { get; init; }

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

    [CommandOption("--kernels")]
    [Description("Instead of the sweep: check the engine's own NVRTC kernels against the torch ops on a CUDA device (fused SwiGLU at the DiT's shape and odd sizes: largest difference and median time of each). Needs no model.")]
    public bool Kernels { get; init; }

    [CommandOption("--json <FILE>")]
    [Description("Where to write the results (default bench.json).")]
    public string Json { get; init; } = "bench.json";

    /// <summary>The sizes of the sweep (or of a calibration, whose default depends on the device).</summary>
    public List<int> SizeList(bool calibrating, bool cuda) =>
        BenchInputs.ParseList(Sizes ?? (!calibrating ? "1024,512,768,1280,1536,2048" : cuda ? "512,1024,2048" : "256,512"), "--sizes");

    public override Spectre.Console.ValidationResult Validate()
    {
        if (Runs < 1) return Spectre.Console.ValidationResult.Error($"--runs must be at least 1 (got {Runs}).");
        if (Steps < 1) return Spectre.Console.ValidationResult.Error($"--steps must be at least 1 (got {Steps}).");
        int modes = (Calibrate ? 1 : 0) + (Soak > 0 ? 1 : 0) + (ProvokeOom ? 1 : 0) + (Kernels ? 1 : 0);
        if (modes > 1) return Spectre.Console.ValidationResult.Error("--calibrate, --soak, --provoke-oom and --kernels are separate modes: give one of them.");
        return base.Validate();
    }
}
