using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>How the plan runs the text encoder or the transformer. For streamed placements
/// <see cref="ResidentBlocks"/> names the blocks kept on the device (the others are streamed in execution order);
/// for resident placements it names every block; on the CPU it is empty.</summary>
public sealed record ComponentPlacement(
    Component Component,
    Placement Placement,
    bool StaysLoaded,
    IReadOnlyList<string> ResidentBlocks,
    int BlockCount,
    long ResidentWeightBytes)
{
    public WeightStorage Storage => Placement.Storage();

    /// <summary>Released after its phase and read again from the weight files at each load (no host masters for
    /// its resident part: the host RAM budget did not allow them).</summary>
    public bool LoadsFromFile { get; init; }

    /// <summary>Host memory this placement holds (pinned masters, or the CPU encoder's weights).</summary>
    public long HostBytes { get; init; }

    /// <summary>The dtype the weights that are not fp8 are held and computed in: "bf16", or "fp32" under --dtype fp32.</summary>
    public string ComputeDType { get; init; } = "bf16";

    public int StreamedBlockCount => Placement.IsStreamed() ? BlockCount - ResidentBlocks.Count : 0;

    public string Describe()
    {
        string unit = Component == Component.TextEncoder ? "layers" : "blocks";
        string how = Placement switch
        {
            Placement.Resident => $"resident {ComputeDType}",
            Placement.ResidentFp8 => "resident fp8",
            Placement.StreamedBf16 => $"streamed {ComputeDType}, {ResidentBlocks.Count}/{BlockCount} {unit} resident",
            Placement.StreamedFp8 => $"streamed fp8, {ResidentBlocks.Count}/{BlockCount} {unit} resident",
            _ => "on the CPU",
        };
        if (Placement == Placement.Cpu) return how;
        return how + (StaysLoaded ? ", stays loaded" : LoadsFromFile ? ", read from its files per phase" : ", loaded then released")
               + $" ({new ByteSize(ResidentWeightBytes)})";
    }
}

/// <summary>How the plan runs the VAE (decode, and encode for image-to-image).</summary>
public sealed record VaePlacement(
    VaeDecodeMode Mode,
    int? TileSizePixels,
    int TileOverlapPixels,
    int ImagesPerPass,
    bool StaysLoaded,
    bool Float32,
    long WeightBytes)
{
    /// <summary>Released and read again from the weight file at each VAE phase.</summary>
    public bool LoadsFromFile { get; init; }

    public long HostBytes { get; init; }

    public string Describe()
    {
        string how = Mode == VaeDecodeMode.Full
            ? ImagesPerPass == 1 ? "full" : $"full, {ImagesPerPass} images per pass"
            : $"tiled {TileSizePixels} px (overlap {TileOverlapPixels} px)";
        return how + (Float32 ? ", float32" : ", bf16") + (StaysLoaded ? "" : LoadsFromFile ? ", read from its file per phase" : ", loaded then released");
    }
}

/// <summary>The predicted cost of one phase. Peak = every weight on the device at that moment (this phase's component
/// plus the components that stay loaded) + streaming or upcast buffers + activations (with headroom) + workspace.
/// Time = compute + the transfers that compute does not hide (loads, streaming slower than compute).</summary>
public sealed record PhaseEstimate(
    PlanPhase Phase,
    string Placement,
    long PhaseWeightBytes,
    long StayingWeightBytes,
    long BufferBytes,
    long ActivationBytes,
    long WorkspaceBytes,
    long BudgetBytes,
    TimeSpan ComputeTime,
    TimeSpan TransferTime)
{
    /// <summary>Host memory held during the phase: the plan's masters, plus staging when this phase reads its
    /// component from the files.</summary>
    public long HostBytes { get; init; }

    public long PeakBytes => PhaseWeightBytes + StayingWeightBytes + BufferBytes + ActivationBytes + WorkspaceBytes;

    public TimeSpan Time => ComputeTime + TransferTime;

    public bool Fits => PeakBytes <= BudgetBytes;
}
