using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>One rung of the text encoder or transformer, costed for one request: bytes and seconds for every count of
/// resident blocks the planner may choose (index k = the first k blocks of <see cref="ResidentOrder"/> resident).</summary>
internal sealed class WeightOption
{
    // What the engine does, not settings: BlockStreamer copies exactly one block ahead of the one computing (double
    // buffering), and an fp8 block is upcast to one bf16 copy at a time (ModuleResidency). A change there changes these.
    private const int PrefetchedBlocks = 1;
    private const int Fp8UpcastScratchBlocks = 1;

    public required PlanRung Rung { get; init; }
    public required ComponentFootprint Footprint { get; init; }
    /// <summary>Blocks in the order they become resident: the most time saved per byte first.</summary>
    public required IReadOnlyList<BlockFootprint> ResidentOrder { get; init; }
    public required long[] ResidentBytes { get; init; }
    public required double[] ComputeSeconds { get; init; }
    public required double[] TransferSeconds { get; init; }
    public required long BufferBytes { get; init; }
    public required long ActivationBytes { get; init; }
    public required long WorkspaceBytes { get; init; }
    /// <summary>Host bytes the placement holds for each k: pinned masters of what is not permanently on the device
    /// (see <see cref="HostBytesFor"/>), or the CPU encoder's weights.</summary>
    public required long[] HostBytes { get; init; }
    /// <summary>Released, and its resident part is read from the weight files at each load instead of host masters.</summary>
    public bool LoadsFromFile { get; init; }

    public int MaxResidentChoice => ResidentBytes.Length - 1;
    public bool OnDevice => Rung.Placement.OnDevice();
    public long Staying(int k) => Rung.StaysLoaded ? ResidentBytes[k] : 0;
    public double Seconds(int k) => ComputeSeconds[k] + TransferSeconds[k];

    /// <summary>Costs a rung. <paramref name="passes"/> is how often the component runs per request (denoising steps
    /// for the transformer); <paramref name="passSeconds"/> is one resident bf16 pass, split over the blocks by
    /// <paramref name="blockShare"/>.</summary>
    /// <param name="weightsInFiles">The weights can be read again from their files (<see cref="PlannerInput.WeightsInFiles"/>).</param>
    /// <param name="loadsFromFile">Only for released rungs with <paramref name="weightsInFiles"/>: each load reads the
    /// resident part from the files (no host masters for it, file speed instead of the host link's).</param>
    public static WeightOption Build(PlanRung rung, ComponentFootprint footprint, PlannerOptions options, SpeedProfile speed,
        int passes, double passSeconds, Func<BlockFootprint, double> blockShare, long activationBytes,
        bool weightsInFiles = false, bool loadsFromFile = false)
    {
        var placement = rung.Placement;
        if (placement == Placement.Cpu)
            throw new ArgumentException("A CPU rung has no device cost; use Cpu().", nameof(rung));
        if (loadsFromFile && (rung.StaysLoaded || !weightsInFiles))
            throw new ArgumentException("Only a released rung of a model in files can load from its files.", nameof(loadsFromFile));
        var storage = placement.Storage();
        double bandwidth = speed.HostToDeviceBytesPerSecond;
        double loadBandwidth = loadsFromFile ? speed.FileReadBytesPerSecond : bandwidth;
        double Upcast(long bf16, long fp8) => storage == WeightStorage.Fp8 ? (bf16 - fp8) / speed.Fp8UpcastBytesPerSecond : 0;
        double Compute(BlockFootprint b) => passSeconds * blockShare(b) + Upcast(b.Bf16Bytes, b.Fp8Bytes);
        double Transfer(BlockFootprint b) => b.Bytes(storage) / bandwidth;

        var blocks = footprint.Blocks;
        double computePerPass = blocks.Sum(Compute) + Upcast(footprint.RestBf16Bytes, footprint.RestFp8Bytes);
        long rest = footprint.RestBytes(storage);
        long workspace = options.PhaseWorkspaceBytes;

        if (!placement.IsStreamed())
        {
            long total = footprint.TotalBytes(storage);
            long scratch = storage == WeightStorage.Fp8 ? Fp8UpcastScratchBlocks * footprint.LargestBlockBytes(WeightStorage.Bf16) : 0;
            return new()
            {
                Rung = rung, Footprint = footprint, ResidentOrder = blocks,
                ResidentBytes = [total],
                ComputeSeconds = [passes * computePerPass],
                TransferSeconds = [rung.StaysLoaded ? 0 : total / loadBandwidth],
                BufferBytes = scratch, ActivationBytes = activationBytes, WorkspaceBytes = workspace,
                HostBytes = [HostBytesFor(rung, footprint, total, weightsInFiles, loadsFromFile)],
                LoadsFromFile = loadsFromFile,
            };
        }

        // A block kept resident saves, per pass, what its copy costs beyond its compute; if the component is
        // released after its phase, the block must be loaded once per request instead.
        double Benefit(BlockFootprint b) =>
            passes * Math.Max(0, Transfer(b) - Compute(b)) - (rung.StaysLoaded ? 0 : Transfer(b));
        var order = blocks
            .Select((block, index) => (block, index))
            .OrderByDescending(x => Benefit(x.block) / Math.Max(1, x.block.Bytes(storage)))
            .ThenBy(x => x.index)
            .Select(x => x.block)
            .ToList();
        // Staying blocks cost nothing per request, so they fill what fits; released ones only where they pay off.
        int worthwhile = order.Count(b => rung.StaysLoaded ? Benefit(b) >= 0 : Benefit(b) > 0);
        int maxResident = Math.Min(worthwhile, blocks.Count - 1);

        var residentBytes = new long[maxResident + 1];
        var computeSeconds = new double[maxResident + 1];
        var transferSeconds = new double[maxResident + 1];
        long prefix = 0;
        double hiddenLoss = order.Sum(b => Math.Max(0, Transfer(b) - Compute(b)));
        for (int k = 0; k <= maxResident; k++)
        {
            if (k > 0)
            {
                prefix += order[k - 1].Bytes(storage);
                hiddenLoss -= Math.Max(0, Transfer(order[k - 1]) - Compute(order[k - 1]));
            }
            residentBytes[k] = rest + prefix;
            computeSeconds[k] = passes * computePerPass;
            transferSeconds[k] = passes * Math.Max(0, hiddenLoss) + (rung.StaysLoaded ? 0 : residentBytes[k] / loadBandwidth);
        }
        // bf16: the computing block and the prefetched ones, all in bf16. fp8: the computing block is cast to bf16
        // tensor by tensor, each fp8 copy freed after its cast, and the next block's fp8 copy starts only then
        // (BlockStreamer.BeforeBlock), so one bf16 block and the prefetched fp8 blocks are the most at any moment.
        // Counting both copies of every block overstated an fp8 phase by one bf16 and one fp8 block (H200, 2048² on
        // 4 GiB free: 1.60 GiB allocated in denoise, 2.89 GiB planned), enough to refuse the plan a 16 GiB host needs.
        long buffers = storage == WeightStorage.Fp8
            ? Fp8UpcastScratchBlocks * footprint.LargestBlockBytes(WeightStorage.Bf16) + PrefetchedBlocks * footprint.LargestBlockBytes(WeightStorage.Fp8)
            : (1 + PrefetchedBlocks) * footprint.LargestBlockBytes(WeightStorage.Bf16);
        // Streamed block copies fragment the pool around the activations (PlannerOptions.StreamingFragmentationFraction).
        long fragmentation = (long)Math.Ceiling(activationBytes * options.StreamingFragmentationFraction);
        return new()
        {
            Rung = rung, Footprint = footprint, ResidentOrder = order,
            ResidentBytes = residentBytes, ComputeSeconds = computeSeconds, TransferSeconds = transferSeconds,
            BufferBytes = buffers, ActivationBytes = activationBytes, WorkspaceBytes = workspace + fragmentation,
            HostBytes = residentBytes.Select(r => HostBytesFor(rung, footprint, r, weightsInFiles, loadsFromFile)).ToArray(),
            LoadsFromFile = loadsFromFile,
        };
    }

    /// <summary>
    /// Host masters a device placement needs. A model that exists only in memory keeps masters of everything (they are
    /// its only copy; with fp8 storage its exact masters stay beside the fp8 ones, for a return to bf16). A model in
    /// files needs masters only for what must come back to the device quickly: streamed blocks always (copied every
    /// pass), the resident part of a released component unless it is read from the files at each load; a component
    /// that stays on the device needs none (a re-plan reads the files again).
    /// </summary>
    internal static long HostBytesFor(PlanRung rung, ComponentFootprint footprint, long residentBytes, bool weightsInFiles, bool loadsFromFile)
    {
        var storage = rung.Placement.Storage();
        long totalBytes = footprint.TotalBytes(storage);
        if (!weightsInFiles)
            return storage == WeightStorage.Fp8 ? footprint.TotalBytes(WeightStorage.Bf16) + totalBytes : totalBytes;
        long streamed = totalBytes - residentBytes;
        return rung.StaysLoaded || loadsFromFile ? streamed : totalBytes;
    }

    /// <summary>The CPU rung: no device memory, the CPU's time.</summary>
    /// <summary>The CPU rung: no device memory, the CPU's time; its weights live in host memory.</summary>
    public static WeightOption Cpu(PlanRung rung, ComponentFootprint footprint, double seconds) => new()
    {
        Rung = rung, Footprint = footprint, ResidentOrder = [],
        ResidentBytes = [0], ComputeSeconds = [seconds], TransferSeconds = [0],
        BufferBytes = 0, ActivationBytes = 0, WorkspaceBytes = 0,
        HostBytes = [footprint.TotalBytes(WeightStorage.Bf16)],
    };

    public ComponentPlacement ToPlacement(int k)
    {
        IReadOnlyList<string> resident = Rung.Placement switch
        {
            Placement.Cpu => [],
            Placement.Resident or Placement.ResidentFp8 => Footprint.Blocks.Select(b => b.Name).ToList(),
            _ => ResidentOrder.Take(k).OrderBy(b => Footprint.ExecutionIndex(b.Name)).Select(b => b.Name).ToList(),
        };
        return new(Footprint.Component, Rung.Placement, Rung.StaysLoaded && OnDevice, resident, Footprint.Blocks.Count, ResidentBytes[k])
        {
            LoadsFromFile = LoadsFromFile,
            HostBytes = HostBytes[k],
        };
    }
}

/// <summary>One VAE rung costed for one request.</summary>
internal sealed class VaeOption
{
    public required PlanRung Rung { get; init; }
    public required VaePlacement Placement { get; init; }
    public required long WeightBytes { get; init; }
    public required long DecodeActivationBytes { get; init; }
    public required long EncodeActivationBytes { get; init; }
    /// <summary>Output (or input) image held on the device while tiles are processed.</summary>
    public required long TileImageBytes { get; init; }
    public required long WorkspaceBytes { get; init; }
    public required double DecodeSeconds { get; init; }
    public required double EncodeSeconds { get; init; }
    /// <summary>Copy of the weights before each VAE phase when they do not stay loaded.</summary>
    public required double LoadSeconds { get; init; }
    /// <summary>Host masters of the VAE (see <see cref="WeightOption.HostBytesFor"/>).</summary>
    public required long HostBytes { get; init; }
    public bool LoadsFromFile { get; init; }

    public long Staying => Rung.StaysLoaded ? WeightBytes : 0;
}
