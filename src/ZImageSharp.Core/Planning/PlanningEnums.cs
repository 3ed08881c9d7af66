namespace ZImageSharp.Planning;

/// <summary>The weight sets the planner places on the device.</summary>
public enum Component { TextEncoder, Transformer, Vae }

/// <summary>Where a component's weights live while its phase runs, fastest first.</summary>
public enum Placement
{
    /// <summary>Every weight on the GPU in bf16.</summary>
    Resident,
    /// <summary>Every weight on the GPU; linear weights stored as fp8 e4m3 and upcast to bf16 for compute
    /// (precision-sensitive tensors stay bf16: the model code decides which, `Engine/Models/ModelMemoryDescription`).</summary>
    ResidentFp8,
    /// <summary>Some blocks resident, the others copied from pinned host memory (bf16) block by block, prefetched
    /// on a side stream while the previous block computes.</summary>
    StreamedBf16,
    /// <summary>As <see cref="StreamedBf16"/>, with fp8 storage: half the bytes to copy, plus an upcast per block.</summary>
    StreamedFp8,
    /// <summary>Runs on the CPU; holds no device memory.</summary>
    Cpu,
}

/// <summary>How the VAE turns latents into pixels (and pixels into latents for image-to-image).</summary>
public enum VaeDecodeMode
{
    /// <summary>The whole image in one pass.</summary>
    Full,
    /// <summary>Overlapping tiles, one at a time, blended: activations of one tile instead of the whole image.</summary>
    Tiled,
}

/// <summary>The phases of one request, in the order they run.</summary>
public enum PlanPhase { TextEncode, ImageEncode, Denoise, Decode }

/// <summary>How weights are stored on the device.</summary>
public enum WeightStorage { Bf16, Fp8 }

public static class PlanningNames
{
    /// <summary>The name a phase has in logs, reports and <c>zimage plan</c> (the engine's logging scopes).</summary>
    public static string ReportName(this PlanPhase phase) => phase switch
    {
        PlanPhase.TextEncode => "encode",
        PlanPhase.ImageEncode => "image-encode",
        PlanPhase.Denoise => "denoise",
        PlanPhase.Decode => "decode",
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "Unknown phase."),
    };

    /// <summary>Parses <see cref="ReportName"/> back, so a <see cref="Contracts.PhasePlan"/> row names its phase.</summary>
    public static PlanPhase ParsePhase(string name) => name switch
    {
        "encode" => PlanPhase.TextEncode,
        "image-encode" => PlanPhase.ImageEncode,
        "denoise" => PlanPhase.Denoise,
        "decode" => PlanPhase.Decode,
        _ => throw new ArgumentException($"'{name}' is not a phase: use encode, image-encode, denoise or decode.", nameof(name)),
    };

    public static WeightStorage Storage(this Placement placement) =>
        placement is Placement.ResidentFp8 or Placement.StreamedFp8 ? WeightStorage.Fp8 : WeightStorage.Bf16;

    public static bool IsStreamed(this Placement placement) =>
        placement is Placement.StreamedBf16 or Placement.StreamedFp8;

    public static bool OnDevice(this Placement placement) => placement != Placement.Cpu;
}
