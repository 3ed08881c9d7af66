namespace ZImageSharp.Options;

/// <summary>Where the weights come from and how the engine runs. Bound from appsettings (section "Engine"),
/// ZIMAGE_* environment variables and command-line flags; validated once at start.</summary>
public sealed record EngineOptions
{
    /// <summary>A diffusers Z-Image-Turbo folder (model_index.json, transformer/, text_encoder/, vae/, tokenizer/, scheduler/).</summary>
    public string? ModelPath { get; init; }
    /// <summary>ComfyUI single files, as an alternative to <see cref="ModelPath"/>.</summary>
    public string? DiffusionModelPath { get; init; }
    public string? TextEncoderPath { get; init; }
    public string? VaePath { get; init; }
    /// <summary>Tokenizer folder for single-file checkpoints; the built-in Qwen vocabulary when null.</summary>
    public string? TokenizerPath { get; init; }

    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    public string Device { get; init; } = "auto";
    /// <summary>An installed PyTorch's torch/lib folder (or environment root); found automatically when null.</summary>
    public string? LibTorchPath { get; init; }
    /// <summary>Plan as if the card had this much memory.</summary>
    public ByteSize? VramBudget { get; init; }
    /// <summary>Plan as if this process could use this much host RAM in all (a smaller host than this one); the
    /// default is what the host gives (MemAvailable, or the cgroup's memory.max).</summary>
    public ByteSize? RamBudget { get; init; }
    /// <summary>False forbids fp8 weight storage: plans then stream bf16 (slower, but the image of a bf16 plan).</summary>
    public bool AllowFp8 { get; init; } = true;
    /// <summary>Compute dtype: auto (bf16 on CUDA, fp32 on the CPU), bf16 or fp32.</summary>
    public string ComputeDType { get; init; } = "auto";
    /// <summary>Build the released-size model with random weights (benchmarks, no files needed).</summary>
    public bool RandomRealWeights { get; init; }
    /// <summary>A speed profile file (<c>zimage bench --calibrate</c> writes one per card) to predict times with; when
    /// null, this card's file in the profile folder if there is one, else the reference profile scaled to this card.</summary>
    public string? SpeedProfilePath { get; init; }
    /// <summary>The request defaults: turbo, base or a preset JSON file; null to take the model folder's
    /// zimage-preset.json, else what the folder says it is, else turbo (docs/presets.md).</summary>
    public string? Preset { get; init; }
    /// <summary>Where LoRA names (requests, A1111's &lt;lora:name:0.8&gt;) are looked up; none when null (docs/lora.md).</summary>
    public string? LoraFolder { get; init; }

    /// <summary>Read no weights: the model is built on the meta device (shapes only), so the engine plans, tokenizes
    /// and checks LoRAs but cannot generate. What an API-only node of a fleet runs: it plans requests for the
    /// workers of other nodes without holding a model in memory.</summary>
    public bool PlanOnly { get; init; }

    public bool HasWeights => ModelPath is not null || DiffusionModelPath is not null;

    public IReadOnlyList<string> Check()
    {
        var errors = new List<string>();
        if (ModelPath is not null && DiffusionModelPath is not null)
            errors.Add("Give either a diffusers folder (--model) or ComfyUI single files (--diffusion-model, --text-encoder, --vae), not both.");
        if (DiffusionModelPath is not null && (TextEncoderPath is null || VaePath is null))
            errors.Add("With --diffusion-model, also give --text-encoder (qwen_3_4b.safetensors) and --vae (ae.safetensors).");
        if (DiffusionModelPath is null && (TextEncoderPath is not null || VaePath is not null))
            errors.Add("--text-encoder and --vae go with --diffusion-model (ComfyUI single files).");
        if (ComputeDType is not ("auto" or "bf16" or "fp32"))
            errors.Add($"--dtype must be auto, bf16 or fp32 (got '{ComputeDType}').");
        return errors;
    }
}
