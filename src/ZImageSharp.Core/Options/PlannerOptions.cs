using System.Globalization;
using ZImageSharp.Contracts;

namespace ZImageSharp.Options;

/// <summary>Policy of the memory planner: safety margins, streaming depth, tile sizes and which rungs of the ladder
/// may be used. Measured numbers (activation sizes, speeds) do not live here but in the planner's calibration file.</summary>
public sealed record PlannerOptions
{
    /// <summary>Kept free on the device at every moment, for allocator fragmentation and lazily loaded CUDA kernels
    /// (ComfyUI keeps 400-600 MB, sd.cpp 512 MiB).</summary>
    public long ReserveBytes { get; init; } = 512 * ByteSize.MiB;

    /// <summary>What this process's CUDA context, cuBLAS and cuDNN take on a card. Used for an emulated card
    /// (<c>--vram-budget</c>) and to bound free memory by the card's total.</summary>
    public long CudaContextBytes { get; init; } = 512 * ByteSize.MiB;

    /// <summary>Added to every phase's peak for library workspaces the activation measurements may not have seen.</summary>
    public long PhaseWorkspaceBytes { get; init; } = 64 * ByteSize.MiB;

    /// <summary>Fraction added to every predicted activation size: the measurements are one run of one allocator.</summary>
    public double ActivationHeadroomFraction { get; init; } = 0.15;

    /// <summary>
    /// Extra room a phase with streamed weights keeps free, as a fraction of its activation bytes. Block copies of
    /// ~370 MB are allocated and freed between the activations of every block, and the CUDA pool cannot always fit a
    /// large activation into the gaps they leave: on the H100 at 2048² an 8 GiB plan ran out with 7.14 GiB allocated
    /// and a 321 MiB request while the device had 30 MiB free, so at least 0.8 GiB sat reserved in the pool and unusable
    /// (docs/benchmarks.md, 2026-11-27).
    /// </summary>
    public double StreamingFragmentationFraction { get; init; } = 0.5;

    /// <summary>Tile edges tried for tiled VAE decode and encode, in output pixels, largest (fastest) first.</summary>
    public IReadOnlyList<int> VaeTileSizesPixels { get; init; } = [1024, 768, 512, 384, 256];

    /// <summary>Overlap between neighbouring VAE tiles, in output pixels (blended to hide seams).</summary>
    public int VaeTileOverlapPixels { get; init; } = 64;

    /// <summary>Decode (and encode) in float32 as the official code does: twice the VAE activations, slower.</summary>
    public bool VaeInFloat32 { get; init; }

    /// <summary>Host memory kept free at every moment: the runtime's own growth (request images, the server, the page
    /// cache that file reads go through).</summary>
    public long HostReserveBytes { get; init; } = 1 * ByteSize.GiB;

    /// <summary>Host memory the runtime itself takes once started (libtorch, the CUDA context's host side, cuDNN and
    /// cuBLAS): subtracted by <c>zimage plan</c>, which plans before any of it is loaded. A running engine measures
    /// its own use instead.</summary>
    public long HostRuntimeBytes { get; init; } = 3 * ByteSize.GiB;

    /// <summary>Host staging for reading weights from their files (the loader's reused buffer holds the largest tensor
    /// as stored): counted while a plan reads a component from its file.</summary>
    public long HostStagingBytes { get; init; } = 1 * ByteSize.GiB;

    /// <summary>Allows fp8 e4m3 storage of the text encoder's and transformer's linear weights (bf16 compute).</summary>
    public bool AllowFp8Weights { get; init; } = true;

    /// <summary>fp8 weights change the image slightly, so a plan that stores any weights as fp8 is chosen only when it
    /// is predicted faster than the best bf16 plan by more than this fraction (0 = always the fastest).</summary>
    public double Fp8TimePenaltyFraction { get; init; } = 0.10;

    /// <summary>Allows streaming the text encoder's layers from pinned host memory.</summary>
    public bool AllowStreamedTextEncoder { get; init; } = true;

    /// <summary>Allows running the text encoder on the CPU, the last resort for the smallest cards.</summary>
    public bool AllowCpuTextEncoder { get; init; } = true;

    /// <summary>After an out-of-memory error a phase's budget drops by at least this fraction of its predicted peak.</summary>
    public double DegradeStepFraction { get; init; } = 0.25;

    /// <summary>After an out-of-memory error a phase's budget drops by at least this many bytes.</summary>
    public long DegradeMinimumStepBytes { get; init; } = 256 * ByteSize.MiB;

    /// <summary>Out-of-memory recoveries allowed for one request before it fails.</summary>
    public int MaxDegradeSteps { get; init; } = 8;

    /// <summary>Size limits of the model, used to search the largest size that fits.</summary>
    public RequestLimits Limits { get; init; } = RequestLimits.Default;

    public static PlannerOptions Default { get; } = new();

    /// <summary>Every invalid setting, each as a full sentence.</summary>
    public IReadOnlyList<string> Check()
    {
        var errors = new List<string>();
        void NotNegative(string name, long value)
        {
            if (value < 0) errors.Add($"{name} must be 0 or more (got {value}).");
        }
        NotNegative(nameof(ReserveBytes), ReserveBytes);
        NotNegative(nameof(CudaContextBytes), CudaContextBytes);
        NotNegative(nameof(PhaseWorkspaceBytes), PhaseWorkspaceBytes);
        NotNegative(nameof(DegradeMinimumStepBytes), DegradeMinimumStepBytes);
        NotNegative(nameof(HostReserveBytes), HostReserveBytes);
        NotNegative(nameof(HostRuntimeBytes), HostRuntimeBytes);
        NotNegative(nameof(HostStagingBytes), HostStagingBytes);
        if (!double.IsFinite(ActivationHeadroomFraction) || ActivationHeadroomFraction < 0 || ActivationHeadroomFraction > 4)
            errors.Add($"{nameof(ActivationHeadroomFraction)} must be between 0 and 4 (got {Format(ActivationHeadroomFraction)}).");
        if (!double.IsFinite(StreamingFragmentationFraction) || StreamingFragmentationFraction < 0 || StreamingFragmentationFraction > 4)
            errors.Add($"{nameof(StreamingFragmentationFraction)} must be between 0 and 4 (got {Format(StreamingFragmentationFraction)}).");
        if (!double.IsFinite(Fp8TimePenaltyFraction) || Fp8TimePenaltyFraction < 0 || Fp8TimePenaltyFraction > 1)
            errors.Add($"{nameof(Fp8TimePenaltyFraction)} must be between 0 and 1 (got {Format(Fp8TimePenaltyFraction)}).");
        if (!double.IsFinite(DegradeStepFraction) || DegradeStepFraction <= 0 || DegradeStepFraction >= 1)
            errors.Add($"{nameof(DegradeStepFraction)} must be above 0 and below 1 (got {Format(DegradeStepFraction)}).");
        if (MaxDegradeSteps < 0 || MaxDegradeSteps > 64)
            errors.Add($"{nameof(MaxDegradeSteps)} must be between 0 and 64 (got {MaxDegradeSteps}).");
        int latentPixels = Limits.SizeMultiple;
        if (VaeTileOverlapPixels < 0 || VaeTileOverlapPixels % latentPixels != 0)
            errors.Add($"{nameof(VaeTileOverlapPixels)} must be 0 or more and a multiple of {latentPixels} (got {VaeTileOverlapPixels}).");
        foreach (var tile in VaeTileSizesPixels)
        {
            if (tile % latentPixels != 0 || tile < 2 * VaeTileOverlapPixels + latentPixels)
                errors.Add($"{nameof(VaeTileSizesPixels)} entries must be multiples of {latentPixels} larger than twice the overlap " +
                           $"({VaeTileOverlapPixels} px) (got {tile}).");
        }
        if (VaeTileSizesPixels.Distinct().Count() != VaeTileSizesPixels.Count)
            errors.Add($"{nameof(VaeTileSizesPixels)} must not repeat a size (got {string.Join(", ", VaeTileSizesPixels)}).");
        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid setting.</summary>
    public PlannerOptions Validate()
    {
        var errors = Check();
        if (errors.Count > 0)
            throw new ArgumentException("Invalid planner options: " + string.Join(" ", errors));
        return this;
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
