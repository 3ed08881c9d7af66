using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands;

/// <summary>Options every engine command shares. Each can also come from a ZIMAGE_* environment variable.</summary>
internal class EngineSettings : CommandSettings
{
    [CommandOption("--device <DEVICE>")]
    [Description("auto (default: the first CUDA GPU if an installed PyTorch provides CUDA, else CPU), cpu, cuda or cuda:N. Env: ZIMAGE_DEVICE.")]
    public string Device { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_DEVICE") ?? "auto";

    [CommandOption("--libtorch <PATH>")]
    [Description("The torch/lib folder (or environment) of an installed PyTorch. Default: found automatically. Env: ZIMAGE_LIBTORCH.")]
    public string? LibTorch { get; init; }

    [CommandOption("--model <PATH>")]
    [Description("A diffusers Z-Image-Turbo or Z-Image folder. Default: none, which runs the built-in tiny random demo model. Env: ZIMAGE_MODEL.")]
    public string? Model { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_MODEL");

    [CommandOption("--diffusion-model <FILE>")]
    [Description("ComfyUI single-file diffusion model (z_image_turbo_bf16.safetensors or an fp8 variant); goes with --text-encoder and --vae.")]
    public string? DiffusionModel { get; init; }

    [CommandOption("--text-encoder <FILE>")]
    [Description("ComfyUI Qwen3-4B text encoder file (qwen_3_4b.safetensors).")]
    public string? TextEncoder { get; init; }

    [CommandOption("--vae <FILE>")]
    [Description("Flux VAE file (ae.safetensors).")]
    public string? Vae { get; init; }

    [CommandOption("--random-weights")]
    [Description("Run the released-size model with random weights built on the device (speed and memory are real, pictures are not; no files needed).")]
    public bool RandomWeights { get; init; }

    [CommandOption("--dtype <DTYPE>")]
    [Description("Compute dtype: auto (default: bf16 on CUDA, fp32 on the CPU), bf16 or fp32.")]
    public string DType { get; init; } = "auto";

    [CommandOption("--inject-oom <PHASES>", IsHidden = true)]
    [Description("Testing: force out-of-memory errors, e.g. denoise:2,decode (recovery is then exercised).")]
    public string? InjectOom { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_INJECT_OOM");

    [CommandOption("--vram-budget <SIZE>")]
    [Description("Plan as if the card had this much memory, e.g. 12GiB. Default: what the card has free. Env: ZIMAGE_VRAM_BUDGET.")]
    public string? VramBudget { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_VRAM_BUDGET");

    [CommandOption("--ram-budget <SIZE>")]
    [Description("Plan as if this process could use this much host RAM, e.g. 16GiB. Default: what the host gives (MemAvailable, or the cgroup's memory.max). Env: ZIMAGE_RAM_BUDGET.")]
    public string? RamBudget { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_RAM_BUDGET");

    [CommandOption("--preset <NAME|FILE>")]
    [Description("Request defaults: turbo (8 steps, no guidance), base (Z-Image: 50 steps, guidance 4) or a preset JSON file. Default: the model folder's zimage-preset.json, else what the folder says it is (its Hugging Face cache path), else turbo (docs/presets.md). Env: ZIMAGE_PRESET.")]
    public string? Preset { get; init; } = Environment.GetEnvironmentVariable(ZImageSharp.Engine.Weights.ModelPresets.EnvironmentVariable);

    [CommandOption("--lora-dir <DIR>")]
    [Description("Folder of LoRA .safetensors files that --lora names and the server's LoRA picker and <lora:name:0.8> prompts look in. Env: ZIMAGE_LORA_DIR.")]
    public string? LoraDir { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_LORA_DIR");

    [CommandOption("--no-fp8")]
    [Description("Never store weights as fp8 (plans stream bf16 instead: slower, and the image a bf16 plan draws). Env: ZIMAGE_NO_FP8=1.")]
    public bool NoFp8 { get; init; } = Environment.GetEnvironmentVariable("ZIMAGE_NO_FP8") is "1" or "true";

    [CommandOption("--speed-profile <FILE>")]
    [Description("The speed profile plans predict times with (bench --calibrate: the file it writes). Default: this card's file in $XDG_CACHE_HOME/zimage/profiles if bench --calibrate wrote one, else the reference profile scaled by this card's measured matmul rate and link. Env: ZIMAGE_SPEED_PROFILE.")]
    public string? SpeedProfile { get; init; } = Environment.GetEnvironmentVariable(Planning.SpeedProfiles.EnvironmentVariable);

    public bool HasCheckpoint => Model is not null || DiffusionModel is not null;

    /// <summary>The request defaults the engine will take (read before any weights: a bad preset fails at once).</summary>
    public Contracts.GenerationPreset ResolvePreset() => ZImageSharp.Engine.Weights.ModelPresets.Resolve(Preset, Model);

    public ByteSize? ParsedVramBudget => VramBudget is null ? null : ByteSize.Parse(VramBudget);

    public ByteSize? ParsedRamBudget => RamBudget is null ? null : ByteSize.Parse(RamBudget);

    public override ValidationResult Validate()
    {
        if (VramBudget is not null && !ByteSize.TryParse(VramBudget, out _))
            return ValidationResult.Error($"--vram-budget: '{VramBudget}' is not a size (examples: 12GiB, 8GB, 6144MiB).");
        if (RamBudget is not null && !ByteSize.TryParse(RamBudget, out _))
            return ValidationResult.Error($"--ram-budget: '{RamBudget}' is not a size (examples: 16GiB, 32GB).");
        return base.Validate();
    }
}
