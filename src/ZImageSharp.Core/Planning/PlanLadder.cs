using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>One way to run one component. <see cref="Rank"/> is its place in the ladder (fastest first); the planner
/// uses it only to break ties between plans predicted equally fast.</summary>
public sealed record PlanRung(
    int Rank,
    Component Component,
    Placement Placement,
    bool StaysLoaded,
    VaeDecodeMode VaeMode = VaeDecodeMode.Full,
    int? TileSizePixels = null,
    bool OneImageAtATime = false)
{
    public string Description => Component switch
    {
        Component.Vae => (VaeMode == VaeDecodeMode.Full
                ? OneImageAtATime ? "full decode, one image at a time" : "full decode, all images at once"
                : $"tiled decode, {TileSizePixels} px tiles, one image at a time")
            + (StaysLoaded ? "" : ", loaded for its phase"),
        _ => Placement switch
        {
            Placement.Resident => "resident bf16",
            Placement.ResidentFp8 => "resident fp8 (bf16 compute)",
            Placement.StreamedBf16 => "streamed bf16 with resident blocks",
            Placement.StreamedFp8 => "streamed fp8 with resident blocks",
            _ => "on the CPU",
        } + (Placement == Placement.Cpu ? "" : StaysLoaded ? ", stays loaded" : ", loaded for its phase then released"),
    };

    public override string ToString() => $"{Component}: {Description}";
}

/// <summary>The ways each component can run, from fastest to leanest. The planner tries every combination of one rung
/// per component (with as many resident blocks as fit for the streamed ones) and keeps the fastest that fits.</summary>
public sealed class PlanLadder
{
    public IReadOnlyList<PlanRung> TextEncoder { get; }
    public IReadOnlyList<PlanRung> Transformer { get; }
    public IReadOnlyList<PlanRung> Vae { get; }

    private PlanLadder(IReadOnlyList<PlanRung> textEncoder, IReadOnlyList<PlanRung> transformer, IReadOnlyList<PlanRung> vae)
    {
        TextEncoder = textEncoder;
        Transformer = transformer;
        Vae = vae;
    }

    public IEnumerable<PlanRung> All => TextEncoder.Concat(Transformer).Concat(Vae);

    /// <summary>The rungs the options allow (fp8, text-encoder streaming and CPU can be switched off; tile sizes come
    /// from the options).</summary>
    public static PlanLadder Build(PlannerOptions options)
    {
        var weightPlacements = new List<Placement> { Placement.Resident };
        if (options.AllowFp8Weights) weightPlacements.Add(Placement.ResidentFp8);
        weightPlacements.Add(Placement.StreamedBf16);
        if (options.AllowFp8Weights) weightPlacements.Add(Placement.StreamedFp8);

        var transformer = Rungs(Component.Transformer, weightPlacements);
        var encoderPlacements = weightPlacements
            .Where(p => options.AllowStreamedTextEncoder || !p.IsStreamed())
            .ToList();
        var textEncoder = Rungs(Component.TextEncoder, encoderPlacements);
        if (options.AllowCpuTextEncoder)
            textEncoder.Add(new(textEncoder.Count, Component.TextEncoder, Placement.Cpu, StaysLoaded: false));

        var vae = new List<PlanRung>();
        void AddVae(VaeDecodeMode mode, int? tile, bool oneAtATime)
        {
            foreach (bool stays in new[] { true, false })
                vae.Add(new(vae.Count, Component.Vae, Placement.Resident, stays, mode, tile, oneAtATime));
        }
        AddVae(VaeDecodeMode.Full, null, oneAtATime: false);
        AddVae(VaeDecodeMode.Full, null, oneAtATime: true);
        foreach (int tile in options.VaeTileSizesPixels.OrderDescending())
            AddVae(VaeDecodeMode.Tiled, tile, oneAtATime: true);
        return new(textEncoder, transformer, vae);
    }

    private static List<PlanRung> Rungs(Component component, IEnumerable<Placement> placements)
    {
        var rungs = new List<PlanRung>();
        foreach (var placement in placements)
            foreach (bool stays in new[] { true, false })
                rungs.Add(new(rungs.Count, component, placement, stays));
        return rungs;
    }
}
