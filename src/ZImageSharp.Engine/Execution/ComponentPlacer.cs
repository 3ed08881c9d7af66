using TorchSharp;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Planning;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Puts the text encoder, transformer and VAE where a <see cref="MemoryPlan"/> says, and moves them around its
/// phases: a component that does not stay loaded is loaded by <see cref="BeforePhase"/> and released by
/// <see cref="AfterPhase"/>; streamed placements install a <see cref="BlockStreamer"/> as the model's block hook.
/// For a model only in memory the placer takes the modules' weights as host masters when it is built, and
/// <see cref="Apply(MemoryPlan)"/> switches plans from them. For a checkpoint (<see cref="ModelWeightFiles"/>) the
/// modules are built on the meta device and nothing is allocated that the plan does not place: each tensor goes from
/// its file to the device, or into a pinned host master only where the plan streams it or reloads it per phase;
/// another plan reads what it needs from the files again.
/// </summary>
public sealed class ComponentPlacer : IDisposable
{
    private readonly PlacerOptions _options;
    private readonly WeightCopier _deviceCopier;
    private readonly WeightCopier _hostCopier = new SynchronousWeightCopier();
    private readonly Dictionary<Component, PlacedComponent> _components = [];
    private bool _disposed;

    /// <param name="transformer">Built on the CPU (or any real device) with its weights loaded.</param>
    /// <param name="textEncoder">Likewise, or null when this placer does not run the text encoder.</param>
    /// <param name="vae">Likewise, or null when this placer does not run the VAE.</param>
    /// <param name="plan">The first plan; its fp8 choices decide which masters are stored as fp8 from the start.</param>
    /// <param name="files">The checkpoint's open weight files when the modules were built on the meta device.</param>
    public ComponentPlacer(ZImageTransformer transformer, Qwen3Model? textEncoder, AutoencoderKL? vae, MemoryPlan plan, PlacerOptions options,
        ModelWeightFiles? files = null)
        : this(transformer, textEncoder, vae, plan.TextEncoder, plan.Transformer, plan.Vae, options, files) { }

    /// <summary>As the plan overload, with the three placements given directly (tests, tools).</summary>
    public ComponentPlacer(ZImageTransformer transformer, Qwen3Model? textEncoder, AutoencoderKL? vae,
        ComponentPlacement textEncoderPlacement, ComponentPlacement transformerPlacement, VaePlacement vaePlacement, PlacerOptions options,
        ModelWeightFiles? files = null)
    {
        _options = options;
        var deviceTarget = options.DeviceTarget();
        _deviceCopier = WeightCopier.For(deviceTarget);
        try
        {
            _components[Component.Transformer] = new PlacedComponent(ComponentWeights.Adopt(Component.Transformer, transformer,
                transformer.StreamableBlocks, hook => transformer.BlockHook = hook, deviceTarget, _deviceCopier,
                transformerPlacement.Storage == WeightStorage.Fp8, files?.Transformer));
            if (textEncoder is not null)
                _components[Component.TextEncoder] = new PlacedComponent(ComponentWeights.Adopt(Component.TextEncoder, textEncoder,
                    textEncoder.StreamableBlocks, hook => textEncoder.LayerHook = hook, TargetFor(textEncoderPlacement),
                    CopierFor(TargetFor(textEncoderPlacement)), textEncoderPlacement.Storage == WeightStorage.Fp8, files?.TextEncoder));
            if (vae is not null)
                _components[Component.Vae] = new PlacedComponent(ComponentWeights.Adopt(Component.Vae, vae, [], _ => { },
                    options.DeviceTarget(vaePlacement.Float32), _deviceCopier, storeFp8: false, files?.Vae));
            Apply(textEncoderPlacement, transformerPlacement, vaePlacement);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Where the caller puts the text encoder's input ids (the CPU under a CPU placement); its output is
    /// there too and must be moved to <see cref="PlacerOptions.Device"/> for the transformer.</summary>
    public Device TextEncoderDevice => Get(Component.TextEncoder).Weights.Target.Device;

    /// <summary>Bytes of weights this placer holds on the device now (masters, loaded and streamed copies).</summary>
    public long DeviceBytes => _components.Values.Where(c => !c.Weights.Target.IsHost)
        .Sum(c => c.Weights.DeviceBytes + (c.Streamer?.InFlightBytes ?? 0));

    /// <summary>Bytes of host masters of all components.</summary>
    public long HostBytes => _components.Values.Sum(c => c.Weights.HostBytes);

    /// <summary>Host master bytes of one component (0 when it holds none: it is read from its file).</summary>
    public long HostBytesOf(Component component) => Get(component).Weights.HostBytes;

    /// <summary>Device bytes of one component now.</summary>
    public long DeviceBytesOf(Component component)
    {
        var c = Get(component);
        return c.Weights.Target.IsHost ? 0 : c.Weights.DeviceBytes + (c.Streamer?.InFlightBytes ?? 0);
    }

    /// <summary>Loads every component that stays loaded now (start-up), so the first request does not pay for it.</summary>
    public void LoadStaying()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var c in _components.Values)
        {
            if (c.Layout is { StaysLoaded: true } && !c.Weights.Target.IsHost && !c.Materialized) Materialize(c);
            c.Weights.File?.ReleaseStaging();
        }
        Host.HostMemoryRelease.Release();
    }

    /// <summary>The component's weights as a LoRA merge sees them (Engine/Lora): the rest and the resident blocks of
    /// the current layout can be merged into while loaded.</summary>
    public IMergeableWeights MergeableWeights(Component component)
    {
        var c = Get(component);
        return new PlacedWeights(c.Weights.All.Select((unit, i) =>
            (unit, i == 0 || c.Layout?.Residence[i - 1] == BlockResidence.Resident)).ToList());
    }

    /// <summary>The streamer of a streamed (or resident fp8) placement; null otherwise.</summary>
    public BlockStreamer? StreamerOf(Component component) => Get(component).Streamer;

    /// <summary>True while the component's resident part is on the device.</summary>
    public bool IsLoaded(Component component) => Get(component).Materialized;

    /// <summary>Switches to <paramref name="plan"/>: components whose placement changed are released and set up
    /// again from their host masters; any streamed copies and prefetches are dropped (an exception may have left them
    /// behind); components that no longer stay loaded are released. Nothing is read from disk.</summary>
    public void Apply(MemoryPlan plan) => Apply(plan.TextEncoder, plan.Transformer, plan.Vae);

    /// <summary>As <see cref="Apply(MemoryPlan)"/>, with the placements given directly.</summary>
    public void Apply(ComponentPlacement textEncoder, ComponentPlacement transformer, VaePlacement vae)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (textEncoder.Component != Component.TextEncoder || transformer.Component != Component.Transformer)
            throw new ArgumentException("The placements are for the wrong components: pass the text encoder's first, then the transformer's.");
        if (_components.TryGetValue(Component.TextEncoder, out var te)) Setup(te, LayoutFor(textEncoder, te.Weights));
        Setup(_components[Component.Transformer], LayoutFor(transformer, _components[Component.Transformer].Weights));
        if (_components.TryGetValue(Component.Vae, out var v))
            Setup(v, new Layout(_options.DeviceTarget(vae.Float32), false, [], vae.StaysLoaded, vae.LoadsFromFile));
        foreach (var c in _components.Values) c.Weights.File?.ReleaseStaging();
        Host.HostMemoryRelease.Release();
    }

    /// <summary>Brings the phase's component onto the device if it is not there, and starts the first block copy of a
    /// streamed placement.</summary>
    public void BeforePhase(PlanPhase phase)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var c = Get(ComponentOf(phase));
        if (!c.Materialized)
        {
            Materialize(c);
            c.Weights.File?.ReleaseStaging();
        }
        c.Streamer?.Prime();
    }

    /// <summary>Drops the phase's streamed copies and releases its component unless it stays loaded. Safe after an
    /// exception inside the phase (call it from a finally block).</summary>
    public void AfterPhase(PlanPhase phase)
    {
        var c = Get(ComponentOf(phase));
        c.Streamer?.Reset();
        if (!c.Layout!.StaysLoaded) Dematerialize(c);
    }

    /// <summary>Releases every component from the device (idle, or before another process needs the memory); the
    /// next phase loads its component again.</summary>
    public void ReleaseAll()
    {
        foreach (var c in _components.Values) Dematerialize(c);
    }

    /// <summary>One line per component: where it is now.</summary>
    public string Describe() => string.Join("; ", _components.Values.Select(c =>
        $"{c.Weights.Component}: {c.Layout?.Describe() ?? "unplaced"}{(c.Materialized ? ", loaded" : "")}"));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var c in _components.Values)
        {
            c.Streamer?.Reset();
            c.Weights.Dispose();
        }
        _deviceCopier.Dispose();
        _hostCopier.Dispose();
    }

    private static Component ComponentOf(PlanPhase phase) => phase switch
    {
        PlanPhase.TextEncode => Component.TextEncoder,
        PlanPhase.Denoise => Component.Transformer,
        PlanPhase.ImageEncode or PlanPhase.Decode => Component.Vae,
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "Unknown phase."),
    };

    private PlacedComponent Get(Component component) => _components.TryGetValue(component, out var c)
        ? c
        : throw new InvalidOperationException($"This placer was built without the {component}: pass it to the constructor to run its phases.");

    private ResidencyTarget TargetFor(ComponentPlacement placement) =>
        placement.Placement == Placement.Cpu ? _options.HostTarget : _options.DeviceTarget();

    private WeightCopier CopierFor(ResidencyTarget target) => target.IsHost ? _hostCopier : _deviceCopier;

    private Layout LayoutFor(ComponentPlacement placement, ComponentWeights weights)
    {
        var unknown = placement.ResidentBlocks.Except(weights.BlockPrefixes).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"The {placement.Component} placement names blocks the model does not have: {string.Join(", ", unknown)} " +
                $"(it has {string.Join(", ", weights.BlockPrefixes.Take(3))} … {weights.BlockPrefixes.LastOrDefault()}).", nameof(placement));
        bool fp8 = placement.Storage == WeightStorage.Fp8;
        var resident = placement.ResidentBlocks.ToHashSet(StringComparer.Ordinal);
        var residence = weights.BlockPrefixes.Select(prefix => placement.Placement switch
        {
            Placement.Resident or Placement.Cpu => BlockResidence.Resident,
            Placement.ResidentFp8 => BlockResidence.DeviceMasters,
            _ when resident.Contains(prefix) => fp8 ? BlockResidence.DeviceMasters : BlockResidence.Resident,
            _ => BlockResidence.Streamed,
        }).ToArray();
        return new Layout(TargetFor(placement), fp8, residence, placement.Placement == Placement.Cpu || placement.StaysLoaded,
            placement.LoadsFromFile);
    }

    private void Setup(PlacedComponent c, Layout layout)
    {
        // Masters the new layout does not need go first, so the host never holds the old and the new set at once.
        DropUnneededMasters(c, layout);
        if (c.Layout is { } current && current.SameWeights(layout))
        {
            c.Streamer?.Reset();
        }
        else
        {
            Dematerialize(c);
            c.Weights.InstallHook(null);
            c.Streamer = null;
            c.Weights.Retarget(layout.Target, CopierFor(layout.Target));
            // Both ways: a bf16 plan after an fp8 one computes with the bf16 weights again (read from the file).
            c.Weights.UseStorage(layout.Fp8);
            if (layout.Residence.Any(r => r != BlockResidence.Resident))
            {
                c.Streamer = new BlockStreamer(c.Weights.Blocks, layout.Residence);
                c.Weights.InstallHook(c.Streamer);
            }
        }
        c.Layout = layout;
        if (!layout.StaysLoaded) Dematerialize(c);
        EnsureNeededMasters(c, layout);
    }

    /// <summary>
    /// Holds host masters exactly where the layout needs them: every unit of a model only in memory or of a CPU
    /// placement (they are its weights), streamed blocks (copied every pass), and the resident part of a component
    /// loaded per phase unless the plan reads it from the file. The rest are freed, so host memory is what the plan
    /// counted. <see cref="Setup"/> frees the unneeded ones before anything is read, so the host never holds both the
    /// old and the new set; this makes the needed ones.
    /// </summary>
    private static void EnsureNeededMasters(PlacedComponent c, Layout layout)
    {
        var units = c.Weights.All.ToList();
        for (int i = 0; i < units.Count; i++)
            if (NeedsMasters(layout, i) || !units[i].HasFile) units[i].EnsureHostMasters();
    }

    private static void DropUnneededMasters(PlacedComponent c, Layout layout)
    {
        var units = c.Weights.All.ToList();
        if (layout.Residence.Length != units.Count - 1) return; // a layout for another model shape: nothing to compare
        for (int i = 0; i < units.Count; i++)
            if (!NeedsMasters(layout, i)) units[i].DropHostMasters();
    }

    /// <summary>Unit 0 is the rest, unit i the block i − 1.</summary>
    private static bool NeedsMasters(Layout layout, int unit) => layout.Target.IsHost
        || (unit > 0 && layout.Residence[unit - 1] == BlockResidence.Streamed)
        || (!layout.StaysLoaded && !layout.LoadsFromFile);

    private static void Materialize(PlacedComponent c)
    {
        var residence = c.Layout!.Residence;
        try
        {
            c.Weights.Rest.Load();
            for (int i = 0; i < c.Weights.Blocks.Count; i++)
            {
                if (residence[i] == BlockResidence.Resident) c.Weights.Blocks[i].Load();
                else if (residence[i] == BlockResidence.DeviceMasters) c.Weights.Blocks[i].PlaceMastersOnDevice();
            }
            c.Materialized = true;
        }
        catch
        {
            Dematerialize(c); // an out-of-memory here must not leave half a component on the device
            throw;
        }
    }

    private static void Dematerialize(PlacedComponent c)
    {
        c.Streamer?.Reset();
        c.Weights.ReleaseAll();
        c.Materialized = false;
    }

    private sealed class PlacedComponent(ComponentWeights weights)
    {
        public ComponentWeights Weights { get; } = weights;
        public Layout? Layout { get; set; }
        public BlockStreamer? Streamer { get; set; }
        public bool Materialized { get; set; }
    }

    /// <summary>What a placement means for one component's weights.</summary>
    private sealed record Layout(ResidencyTarget Target, bool Fp8, BlockResidence[] Residence, bool StaysLoaded, bool LoadsFromFile = false)
    {
        public bool SameWeights(Layout other) =>
            Target.SameAs(other.Target) && Fp8 == other.Fp8 && Residence.SequenceEqual(other.Residence);

        public string Describe()
        {
            int streamed = Residence.Count(r => r == BlockResidence.Streamed);
            int onDevice = Residence.Count(r => r == BlockResidence.DeviceMasters);
            return $"{Target}{(Fp8 ? ", fp8 masters" : "")}, {Residence.Length - streamed}/{Residence.Length} blocks on the device" +
                   $"{(onDevice > 0 ? $" ({onDevice} fp8, cast per use)" : "")}{(StaysLoaded ? ", stays loaded" : ", per phase")}";
        }
    }
}
