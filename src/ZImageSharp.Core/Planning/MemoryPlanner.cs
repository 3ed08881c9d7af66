using ZImageSharp.Contracts;
using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>Picks, for one request on one device, the fastest plan whose every phase's predicted peak fits the budget,
/// and the next leaner plan after an out-of-memory error. Pure: no device access, no state between calls.</summary>
public sealed class MemoryPlanner
{
    private const double PixelsPerMegapixel = 1e6;
    private static readonly IReadOnlyDictionary<PlanPhase, long> NoCaps = new Dictionary<PlanPhase, long>();

    private readonly PlannerOptions _options;
    private readonly ActivationModel _activations;

    public MemoryPlanner(PlannerOptions? options = null, ActivationModel? activations = null)
    {
        _options = (options ?? PlannerOptions.Default).Validate();
        _activations = activations ?? ActivationModel.Reference;
        Ladder = PlanLadder.Build(_options);
    }

    public PlannerOptions Options => _options;

    /// <summary>The rungs this planner combines.</summary>
    public PlanLadder Ladder { get; }

    /// <summary>The fastest plan that fits; when none does, the leanest plan with <see cref="MemoryPlan.Fits"/> false
    /// and <see cref="MemoryPlan.LargestFittingSize"/> set.</summary>
    public MemoryPlan Plan(PlannerInput input)
    {
        var plan = Search(input, NoCaps);
        return plan.Fits ? plan : plan with { LargestFittingSize = LargestFittingSize(input) };
    }

    /// <summary>After an out-of-memory error in <paramref name="failedPhase"/>: the fastest plan whose peak in that
    /// phase is at least a step (<see cref="PlannerOptions.DegradeStepFraction"/>, at least
    /// <see cref="PlannerOptions.DegradeMinimumStepBytes"/>) below the failed prediction, every other phase still fitting.
    /// Null when no such plan exists or <see cref="PlannerOptions.MaxDegradeSteps"/> is reached.</summary>
    public MemoryPlan? Degrade(MemoryPlan plan, PlanPhase failedPhase)
    {
        if (plan.DegradeSteps >= _options.MaxDegradeSteps) return null;
        var failed = plan.Phase(failedPhase);
        long step = Math.Max(_options.DegradeMinimumStepBytes, (long)Math.Ceiling(failed.PeakBytes * _options.DegradeStepFraction));
        long cap = failed.PeakBytes - step;
        if (cap <= 0) return null;
        var caps = new Dictionary<PlanPhase, long>(plan.PhaseCaps) { [failedPhase] = cap };
        var next = Search(plan.Input, caps);
        return next.Fits ? next with { DegradeSteps = plan.DegradeSteps + 1 } : null;
    }

    /// <summary>The largest size at the request's aspect ratio, in multiples of the model's size step, for which a
    /// plan fits (same count, guidance and caption); null when not even the smallest size fits.</summary>
    public ImageSize? LargestFittingSize(PlannerInput input)
    {
        var limits = _options.Limits;
        var request = input.Request;
        bool landscape = request.Width >= request.Height;
        int requestedLong = Math.Max(request.Width, request.Height);
        double shortPerLong = Math.Min(request.Width, request.Height) / (double)requestedLong;

        ImageSize SizeFor(int longSide)
        {
            int shortSide = (int)Math.Round(longSide * shortPerLong / limits.SizeMultiple, MidpointRounding.AwayFromZero) * limits.SizeMultiple;
            shortSide = Math.Clamp(shortSide, limits.MinSize, longSide);
            return landscape ? new(longSide, shortSide) : new(shortSide, longSide);
        }
        bool Fits(int longSide) => Search(input with { Request = request.WithSize(SizeFor(longSide)) }, NoCaps).Fits;

        int low = limits.MinSize / limits.SizeMultiple;
        int high = Math.Max(low, Math.Min(requestedLong, limits.MaxSize) / limits.SizeMultiple);
        if (!Fits(low * limits.SizeMultiple)) return null;
        while (low < high)
        {
            int middle = (low + high + 1) / 2;
            if (Fits(middle * limits.SizeMultiple)) low = middle;
            else high = middle - 1;
        }
        return SizeFor(low * limits.SizeMultiple);
    }

    private MemoryPlan Search(PlannerInput input, IReadOnlyDictionary<PlanPhase, long> caps)
    {
        var phases = PhasesOf(input.Request);
        long budget = input.Device.PlanningBytes;
        long Cap(PlanPhase phase) => caps.TryGetValue(phase, out long cap) ? Math.Min(cap, budget) : budget;
        var phaseCaps = phases.Select(Cap).ToArray();
        long hostBudget = input.Host.PlanningBytes;
        // Reading a released component from its files instead of host masters trades time for host memory: only worth
        // costing when host memory is bounded.
        bool fileVariants = input.WeightsInFiles && input.Host.IsBounded;
        IEnumerable<bool> FromFile(PlanRung rung) => fileVariants && !rung.StaysLoaded && rung.Placement != Placement.Cpu ? [false, true] : [false];
        long staging = StagingBytes(input);

        var encoders = Ladder.TextEncoder.SelectMany(r => FromFile(r).Select(f => TextEncoderOption(r, input, f))).ToList();
        var transformers = Ladder.Transformer.SelectMany(r => FromFile(r).Select(f => TransformerOption(r, input, f))).ToList();
        var vaes = Ladder.Vae.Where(r => IsDistinct(r, input.Request)).SelectMany(r => FromFile(r).Select(f => VaeOption(r, input, f))).ToList();

        Choice? best = null, leanest = null, hostLeanest = null;
        var peaks = new long[phases.Length];
        foreach (var vae in vaes)
        foreach (var transformer in transformers)
        foreach (var encoder in encoders)
        {
            Peaks(phases, encoder, 0, transformer, 0, vae, peaks);
            long overflow = peaks.Select((peak, i) => peak - phaseCaps[i]).Max();
            var lean = new Choice(encoder, 0, transformer, 0, vae, encoder.Seconds(0) + transformer.Seconds(0) + vae.DecodeSeconds,
                overflow, _options.Fp8TimePenaltyFraction, HostBytes(encoder, 0, transformer, 0, vae, staging));
            if (leanest is null || overflow < leanest.Overflow || (overflow == leanest.Overflow && lean.IsBetterThan(leanest)))
                leanest = lean;

            for (int kd = transformer.MaxResidentChoice; kd >= 0; kd--)
            {
                int? ke = LargestFittingEncoderChoice(phases, phaseCaps, encoder, transformer, kd, vae, peaks);
                if (ke is not { } k) continue;
                var choice = new Choice(encoder, k, transformer, kd, vae,
                    encoder.Seconds(k) + transformer.Seconds(kd) + VaeSeconds(vae, input.Request), 0, _options.Fp8TimePenaltyFraction,
                    HostBytes(encoder, k, transformer, kd, vae, staging));
                // More resident blocks never need more host memory, so the encoder's largest fitting k is also its
                // best for the host.
                if (choice.HostBytes > hostBudget)
                {
                    if (hostLeanest is null || choice.HostBytes < hostLeanest.HostBytes
                        || (choice.HostBytes == hostLeanest.HostBytes && choice.IsBetterThan(hostLeanest)))
                        hostLeanest = choice;
                    continue;
                }
                if (best is null || choice.IsBetterThan(best)) best = choice;
            }
        }
        // Nothing fits: the plan that fits the card with the least host memory when the card is not the problem, else
        // the one that overflows the card the least.
        var chosen = best ?? hostLeanest ?? leanest!;
        return Build(input, phases, phaseCaps, caps, chosen);
    }

    private static long HostBytes(WeightOption encoder, int ke, WeightOption transformer, int kd, VaeOption vae, long staging) =>
        encoder.HostBytes[ke] + transformer.HostBytes[kd] + vae.HostBytes + staging;

    /// <summary>The most resident text-encoder blocks that keep every phase within its cap, given the transformer's
    /// choice; null when even none do. Peaks grow by the encoder's resident bytes in its own phase and, when it stays
    /// loaded, in every other phase.</summary>
    private static int? LargestFittingEncoderChoice(PlanPhase[] phases, long[] caps, WeightOption encoder,
        WeightOption transformer, int kd, VaeOption vae, long[] peaks)
    {
        Peaks(phases, encoder, 0, transformer, kd, vae, peaks);
        long slack = long.MaxValue;
        for (int i = 0; i < phases.Length; i++)
        {
            long room = caps[i] - peaks[i];
            bool grows = phases[i] == PlanPhase.TextEncode || encoder.Rung.StaysLoaded;
            if (room < 0) return null;
            if (grows) slack = Math.Min(slack, room);
        }
        int k = encoder.MaxResidentChoice;
        while (k > 0 && encoder.ResidentBytes[k] - encoder.ResidentBytes[0] > slack) k--;
        return k;
    }

    private static void Peaks(PlanPhase[] phases, WeightOption encoder, int ke, WeightOption transformer, int kd,
        VaeOption vae, long[] peaks)
    {
        for (int i = 0; i < phases.Length; i++)
        {
            peaks[i] = phases[i] switch
            {
                PlanPhase.TextEncode => encoder.ResidentBytes[ke] + encoder.BufferBytes + encoder.ActivationBytes + encoder.WorkspaceBytes
                                        + transformer.Staying(kd) + vae.Staying,
                PlanPhase.ImageEncode => vae.WeightBytes + vae.TileImageBytes + vae.EncodeActivationBytes + vae.WorkspaceBytes
                                         + encoder.Staying(ke) + transformer.Staying(kd),
                PlanPhase.Denoise => transformer.ResidentBytes[kd] + transformer.BufferBytes + transformer.ActivationBytes
                                     + transformer.WorkspaceBytes + encoder.Staying(ke) + vae.Staying,
                _ => vae.WeightBytes + vae.TileImageBytes + vae.DecodeActivationBytes + vae.WorkspaceBytes
                     + encoder.Staying(ke) + transformer.Staying(kd),
            };
        }
    }

    private static PlanPhase[] PhasesOf(PlannerRequest request) => request.EncodesImage
        ? [PlanPhase.TextEncode, PlanPhase.ImageEncode, PlanPhase.Denoise, PlanPhase.Decode]
        : [PlanPhase.TextEncode, PlanPhase.Denoise, PlanPhase.Decode];

    private static double VaeSeconds(VaeOption vae, PlannerRequest request) =>
        vae.DecodeSeconds + vae.LoadSeconds + (request.EncodesImage ? vae.EncodeSeconds + vae.LoadSeconds : 0);

    private sealed record Choice(WeightOption Encoder, int EncoderResident, WeightOption Transformer, int TransformerResident,
        VaeOption Vae, double Seconds, long Overflow, double Fp8Penalty, long HostBytes)
    {
        private const double SameTimeSeconds = 1e-9;

        private int RankSum => Encoder.Rung.Rank + Transformer.Rung.Rank + Vae.Rung.Rank;

        private bool UsesFp8 => Encoder.Rung.Placement.Storage() == WeightStorage.Fp8
                                || Transformer.Rung.Placement.Storage() == WeightStorage.Fp8;

        /// <summary>Predicted time, lengthened for fp8 plans so that bf16 wins unless fp8 is clearly faster.</summary>
        public double Score => Seconds * (UsesFp8 ? 1 + Fp8Penalty : 1);

        /// <summary>Lower score wins; at the same score the earlier rungs (kept before released, full before tiled),
        /// then more resident blocks.</summary>
        public bool IsBetterThan(Choice other)
        {
            if (Math.Abs(Score - other.Score) > SameTimeSeconds) return Score < other.Score;
            if (RankSum != other.RankSum) return RankSum < other.RankSum;
            return EncoderResident + TransformerResident > other.EncoderResident + other.TransformerResident;
        }
    }

    /// <summary>Activation curves were measured in bf16; float32 compute doubles every tensor.</summary>
    private static long ComputeWidth(PlannerInput input, long bytes) => input.ComputeInFloat32 ? 2 * bytes : bytes;

    private WeightOption TextEncoderOption(PlanRung rung, PlannerInput input, bool fromFile)
    {
        var request = input.Request;
        var footprint = input.Model.TextEncoder;
        int tokens = request.ClampedCaptionTokens;
        if (rung.Placement == Placement.Cpu)
            return WeightOption.Cpu(rung, footprint, request.PromptsEncoded * tokens / input.Speed.CpuTextEncodeTokensPerSecond);
        int layers = Math.Max(1, footprint.Blocks.Count);
        long activations = ComputeWidth(input, WithHeadroom(_activations.TextEncode.Predict(request.PromptsEncoded, tokens)));
        return WeightOption.Build(rung, footprint, _options, input.Speed, passes: 1,
            passSeconds: request.PromptsEncoded * input.Speed.TextEncode(tokens),
            blockShare: _ => 1.0 / layers, activations, input.WeightsInFiles, fromFile);
    }

    private WeightOption TransformerOption(PlanRung rung, PlannerInput input, bool fromFile)
    {
        var request = input.Request;
        var footprint = input.Model.Transformer;
        double BlockTokens(BlockFootprint block) => block.Input switch
        {
            BlockInput.ImageTokens => request.ImageTokens,
            BlockInput.CaptionTokens => request.PaddedCaptionTokens,
            _ => request.SequenceTokens,
        };
        double allTokens = Math.Max(1, footprint.Blocks.Sum(BlockTokens));
        long activations = ComputeWidth(input, WithHeadroom(_activations.TransformerForward.Predict(request.Batch, request.SequenceTokens)))
                           + input.AdapterBytes;
        return WeightOption.Build(rung, footprint, _options, input.Speed, passes: request.Steps,
            passSeconds: request.Batch * input.Speed.TransformerForward(request.SequenceTokens),
            blockShare: block => BlockTokens(block) / allTokens, activations, input.WeightsInFiles, fromFile);
    }

    /// <summary>Skips VAE rungs that would only repeat another: one-at-a-time for one image, tiles as large as the image.</summary>
    private static bool IsDistinct(PlanRung rung, PlannerRequest request) => rung.VaeMode switch
    {
        VaeDecodeMode.Full => !rung.OneImageAtATime || request.Count > 1,
        _ => rung.TileSizePixels < Math.Max(request.Width, request.Height),
    };

    private VaeOption VaeOption(PlanRung rung, PlannerInput input, bool fromFile)
    {
        var request = input.Request;
        bool float32 = _options.VaeInFloat32;
        int elementBytes = float32 ? sizeof(float) : sizeof(short);
        const int bf16ElementBytes = 2;
        // The encoder is counted whenever the model has one: the engine builds and places the VAE as one module, so
        // its encoder is on the device with the decoder even for text-to-image (68 MB at the released size).
        long weights = input.Model.VaeDecoder.TotalBytes(WeightStorage.Bf16) + input.Model.VaeEncoder.TotalBytes(WeightStorage.Bf16);
        weights = weights / bf16ElementBytes * elementBytes;
        double slowdown = float32 ? input.Speed.VaeFloat32Slowdown : 1;
        int imagesPerPass = rung.VaeMode == VaeDecodeMode.Full && !rung.OneImageAtATime ? request.Count : 1;

        long passPixels, tileImageBytes;
        double pixelsPerImage;
        if (rung.VaeMode == VaeDecodeMode.Full)
        {
            passPixels = request.Pixels;
            pixelsPerImage = request.Pixels;
            tileImageBytes = 0;
        }
        else
        {
            int tile = rung.TileSizePixels!.Value;
            int overlap = _options.VaeTileOverlapPixels;
            int tileWidth = Math.Min(tile, request.Width), tileHeight = Math.Min(tile, request.Height);
            passPixels = (long)tileWidth * tileHeight;
            pixelsPerImage = TileCount(request.Width, tile, overlap) * TileCount(request.Height, tile, overlap) * (double)passPixels;
            long latentBytes = ImageSequence.LatentChannels * request.Pixels
                               / (ImageSequence.VaeScaleFactor * ImageSequence.VaeScaleFactor) * sizeof(float);
            tileImageBytes = ImageSequence.ImageChannels * request.Pixels * elementBytes + latentBytes;
        }
        long hostBytes = input.WeightsInFiles ? (rung.StaysLoaded || fromFile ? 0 : weights) : weights;
        var placement = new VaePlacement(rung.VaeMode, rung.TileSizePixels, _options.VaeTileOverlapPixels, imagesPerPass,
            rung.StaysLoaded, float32, weights) { LoadsFromFile = fromFile, HostBytes = hostBytes };
        return new VaeOption
        {
            Rung = rung,
            Placement = placement,
            WeightBytes = weights,
            DecodeActivationBytes = WithHeadroom(_activations.VaeDecode(float32).Predict(imagesPerPass, passPixels)),
            EncodeActivationBytes = WithHeadroom(_activations.VaeEncode(float32).Predict(1, passPixels)),
            TileImageBytes = tileImageBytes,
            WorkspaceBytes = _options.PhaseWorkspaceBytes,
            DecodeSeconds = request.Count * pixelsPerImage / PixelsPerMegapixel * input.Speed.VaeDecodeSecondsPerMegapixel * slowdown,
            EncodeSeconds = pixelsPerImage / PixelsPerMegapixel * input.Speed.VaeEncodeSecondsPerMegapixel * slowdown,
            LoadSeconds = rung.StaysLoaded ? 0 : weights / (fromFile ? input.Speed.FileReadBytesPerSecond : input.Speed.HostToDeviceBytesPerSecond),
            HostBytes = hostBytes,
            LoadsFromFile = fromFile,
        };
    }

    private static int TileCount(int length, int tile, int overlap) =>
        length <= tile ? 1 : (int)Math.Ceiling((length - overlap) / (double)(tile - overlap));

    /// <summary>The bounded staging buffers a plan that reads weights from their files holds on the host.</summary>
    private long StagingBytes(PlannerInput input) => input.WeightsInFiles ? _options.HostStagingBytes : 0;

    private long WithHeadroom(long bytes) => (long)Math.Ceiling(bytes * (1 + _options.ActivationHeadroomFraction));

    private MemoryPlan Build(PlannerInput input, PlanPhase[] phases, long[] phaseCaps,
        IReadOnlyDictionary<PlanPhase, long> caps, Choice choice)
    {
        var (encoder, ke, transformer, kd, vae) = (choice.Encoder, choice.EncoderResident, choice.Transformer, choice.TransformerResident, choice.Vae);
        string compute = input.ComputeInFloat32 ? "fp32" : "bf16";
        var encoderPlacement = encoder.ToPlacement(ke) with { ComputeDType = compute };
        var transformerPlacement = transformer.ToPlacement(kd) with { ComputeDType = compute };
        var estimates = new List<PhaseEstimate>();
        long staging = StagingBytes(input);
        long masters = choice.HostBytes - staging;
        bool ReadsFiles(PlanPhase phase) => phase switch
        {
            PlanPhase.TextEncode => encoder.LoadsFromFile,
            PlanPhase.Denoise => transformer.LoadsFromFile,
            _ => vae.LoadsFromFile,
        };
        for (int i = 0; i < phases.Length; i++)
        {
            var phase = phases[i];
            estimates.Add((phase switch
            {
                PlanPhase.TextEncode => new PhaseEstimate(phase, "text encoder " + encoderPlacement.Describe(),
                    encoder.ResidentBytes[ke], transformer.Staying(kd) + vae.Staying, encoder.BufferBytes, encoder.ActivationBytes,
                    encoder.WorkspaceBytes, phaseCaps[i],
                    TimeSpan.FromSeconds(encoder.ComputeSeconds[ke]), TimeSpan.FromSeconds(encoder.TransferSeconds[ke])),
                PlanPhase.ImageEncode => new PhaseEstimate(phase, "VAE encode " + vae.Placement.Describe(),
                    vae.WeightBytes, encoder.Staying(ke) + transformer.Staying(kd), vae.TileImageBytes, vae.EncodeActivationBytes,
                    vae.WorkspaceBytes, phaseCaps[i],
                    TimeSpan.FromSeconds(vae.EncodeSeconds), TimeSpan.FromSeconds(vae.LoadSeconds)),
                PlanPhase.Denoise => new PhaseEstimate(phase, "transformer " + transformerPlacement.Describe(),
                    transformer.ResidentBytes[kd], encoder.Staying(ke) + vae.Staying, transformer.BufferBytes, transformer.ActivationBytes,
                    transformer.WorkspaceBytes, phaseCaps[i],
                    TimeSpan.FromSeconds(transformer.ComputeSeconds[kd]), TimeSpan.FromSeconds(transformer.TransferSeconds[kd])),
                _ => new PhaseEstimate(phase, "VAE decode " + vae.Placement.Describe(),
                    vae.WeightBytes, encoder.Staying(ke) + transformer.Staying(kd), vae.TileImageBytes, vae.DecodeActivationBytes,
                    vae.WorkspaceBytes, phaseCaps[i],
                    TimeSpan.FromSeconds(vae.DecodeSeconds), TimeSpan.FromSeconds(vae.LoadSeconds)),
            }) with { HostBytes = masters + (ReadsFiles(phase) ? staging : 0) });
        }
        return new MemoryPlan
        {
            Input = input,
            TextEncoder = encoderPlacement,
            Transformer = transformerPlacement,
            Vae = vae.Placement,
            Phases = estimates,
            PhaseCaps = new Dictionary<PlanPhase, long>(caps),
            HostBytes = choice.HostBytes,
        };
    }
}
