using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Lora;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Native;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Errors;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine;

/// <summary>
/// The engine as the CLI and the server see it: it owns the device, the models and the memory planner, admits only
/// requests that fit, runs one generation at a time per device, and recovers from out-of-memory errors in-process by
/// degrading the plan for the failing phase and retrying it.
/// </summary>
public sealed class ZImageEngine : IImageGenerator, IGenerationPlanner, ISystemInfo, ILoraCatalog, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly DeviceThread _deviceThread = new("zimage-device");
    private readonly ZImagePipeline _pipeline;
    private readonly MemoryPlanner _planner;
    private readonly ModelFootprint _footprint;
    private readonly IFaultInjector _faults;
    private readonly EngineOptions _options;
    /// <summary>Moves weights where each plan says; null when everything simply stays where it was built (the CPU
    /// without a --vram-budget to emulate).</summary>
    private readonly ComponentPlacer? _placer;
    private string? _lastPlan;
    private readonly LoraLibrary _loras;
    private readonly LoraPatcher _loraPatcher;

    public ComputeDevice Device { get; }
    public ZImageModels Models => _pipeline.Models;
    public ModelInfo Model { get; }
    public PlannerOptions PlannerOptions => _planner.Options;

    /// <summary>The speeds plans predict with; its <see cref="SpeedProfile.Label"/> says where they come from.</summary>
    public SpeedProfile Speed { get; }

    /// <param name="firstRequest">The request the weights are first placed for (a CLI run knows it: placing for it saves
    /// reading the files twice); a default 1024² request when null.</param>
    /// <param name="speed">The speeds to plan with; when null, chosen as <see cref="SpeedProfiles.Choose"/> says for
    /// this device and <see cref="EngineOptions.SpeedProfilePath"/>.</param>
    public ZImageEngine(EngineOptions options, ComputeDevice device, ZImageModels models, IFaultInjector? faults = null,
        PlannerOptions? plannerOptions = null, GenerationRequest? firstRequest = null, SpeedProfile? speed = null)
    {
        _options = options;
        Device = device;
        Speed = speed ?? SpeedProfiles.Choose(options.SpeedProfilePath, CardIdentities.Of(device), () => CardRateProbe.Measure(device));
        _pipeline = new ZImagePipeline(models);
        _faults = faults ?? NoFaults.Instance;
        // The VAE is planned in its own dtype; the text encoder and transformer in theirs (PlannerInput.ComputeInFloat32).
        var planning = plannerOptions ?? new PlannerOptions
        {
            VaeInFloat32 = models.Vae.parameters().First().dtype == torch.ScalarType.Float32,
        };
        if (!options.AllowFp8) planning = planning with { AllowFp8Weights = false };
        _planner = new MemoryPlanner(planning);
        _footprint = Footprint(models);
        // Shapes now: a placer empties the parameters.
        _loras = new LoraLibrary(options.LoraFolder, LoraTargets.Of(models.Transformer));
        _loraPatcher = new LoraPatcher(models.Transformer);
        Model = new ModelInfo(models.Name, models.Origin != ModelOrigin.Checkpoint, models.Description, RequestLimits.Default with { Preset = models.Preset });
        if (options.PlanOnly)
        {
            // Nothing to place: the modules are shapes on the meta device (or the tiny demo) and nothing runs here.
        }
        else if (device.IsCuda || options.VramBudget is not null)
        {
            // The placer puts on the device what the plan for the first request (a default 1024² one unless given)
            // says; later requests re-plan and move only what changes. A checkpoint's modules are still on the meta
            // device: the placer reads each tensor from its file to where this plan puts it, and nothing else is
            // allocated. A model only in memory is taken into host masters (pinned on CUDA) first.
            var initial = BuildPlan(firstRequest ?? models.Preset.NewRequest());
            if (!initial.Fits && models.Files is not null && !initial.HostFits)
                throw new NoPlanFitsException(initial.Summary, "host", null);
            _placer = new ComponentPlacer(models.Transformer, models.TextEncoder, models.Vae, initial,
                new PlacerOptions(device.Device) { ComputeDType = models.Transformer.DType }, models.Files);
            _placer.LoadStaying();
            _lastPlan = DescribePlan(initial);
        }
        else if (models.Files is not null)
        {
            throw new InvalidOperationException("A model left in its files needs a placer: load it with byPlan only on a GPU or with a --vram-budget.");
        }
    }

    /// <summary>Bytes of weights the engine holds on the device now.</summary>
    public long DeviceWeightBytes => _placer?.DeviceBytes ?? 0;

    /// <summary>Takes every weight off the device (emulating a smaller card, or before handing the GPU to others);
    /// the next generation places them again as its plan says.</summary>
    public void ReleaseDevice()
    {
        _placer?.ReleaseAll();
        Device.Memory?.Trim();
    }

    /// <summary>Initializes the device, loads the models the options name (or the demo) and builds the engine.</summary>
    /// <param name="speed">The speeds to plan with; null to choose them (<see cref="SpeedProfiles.Choose"/>).</param>
    public static ZImageEngine Create(EngineOptions options, IFaultInjector? faults = null, GenerationRequest? firstRequest = null,
        SpeedProfile? speed = null)
    {
        var problems = options.Check();
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
        var device = TorchRuntime.Initialize(options.Device, options.LibTorchPath);
        var dtype = ComputeDType(options, device);
        // The reference decodes in float32; on the GPU bf16 halves the decode's memory at no visible cost.
        var vaeDType = device.IsCuda ? dtype : torch.ScalarType.Float32;
        // Where a placer runs (a GPU, an emulated card), a checkpoint is loaded by the plan straight from its files.
        bool byPlan = device.IsCuda || options.VramBudget is not null;
        var models = ModelFactory.Load(options, device.Device, dtype, vaeDType, byPlan);
        try
        {
            return new ZImageEngine(options, device, models, faults, firstRequest: firstRequest, speed: speed);
        }
        catch
        {
            models.Dispose();
            throw;
        }
    }

    public static torch.ScalarType ComputeDType(EngineOptions options, ComputeDevice device) => options.ComputeDType switch
    {
        "fp32" => torch.ScalarType.Float32,
        "bf16" => torch.ScalarType.BFloat16,
        _ => device.IsCuda ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32,
    };

    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress,
        CancellationToken cancellationToken)
    {
        GenerationRequestValidator.Validate(request, Model.Limits);
        if (_options.PlanOnly)
            throw new InvalidOperationException("This engine only plans (it was created with PlanOnly, as an API-only node's is): it holds no weights to generate with.");
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _deviceThread.Run(() => Generate(request, progress, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally { _gate.Release(); }
    }

    private GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        var loraSet = _loras.Resolve(request.Loras);
        var plan = BuildPlan(request);
        if (!plan.Fits)
            throw NoFit(plan, request);
        _lastPlan = DescribePlan(plan);
        long seed = request.Seed ?? Random.Shared.NextInt64(0, 1L << 53);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        _placer?.Apply(plan);

        bool Degrade(GenerationPhase phase, Exception error, int attempt)
        {
            TraceOutOfMemory(phase, error, plan);
            var next = _planner.Degrade(plan, PlannedPhaseWeights.ToPlanPhase(phase) ?? PlanPhase.Decode);
            if (next is null)
            {
                // No leaner rung (a tiny model, or the leanest plan already): one more try of the same plan after the
                // pool was trimmed covers transient pressure (fragmentation, another process's burst).
                Device.Memory?.Trim();
                return attempt == 1;
            }
            plan = next;
            _placer?.Apply(plan);
            Device.Memory?.Trim();
            _lastPlan = DescribePlan(plan);
            return true;
        }

        var runner = new PhaseRunner(Device, _faults, Degrade, _planner.Options.MaxDegradeSteps + 1);
        IPhaseWeights phaseWeights = _placer is null
            ? new ResidentPhaseWeights(Models.TextEncoder.parameters().First().device)
            : new PlannedPhaseWeights(_placer);
        try
        {
            // Merged where the weights are resident, at runtime elsewhere; a set that changed is undone first.
            var loras = new ZImagePipeline.PipelineLoras(
                () => _loraPatcher.Apply(loraSet, _placer?.MergeableWeights(Component.Transformer) ?? new ModuleWeights()),
                loraSet?.HashesText ?? "");
            var images = _pipeline.Generate(request, seed, runner, phaseWeights, () => DecodeSettingsFor(plan.Vae), progress, cancellationToken, loras,
                () => WeightsPrecision(plan));
            // Memory does not creep: the pool keeps what this plan's peak needs (so the next request of this size maps
            // nothing new) and hands anything beyond it back to the device.
            Device.Memory?.TrimTo(plan.PredictedPeakBytes);
            return new GenerationResult(images, runner.Timings, clock.Elapsed, DescribePlan(plan), runner.Recoveries, WeightsPrecision(plan));
        }
        catch (ZImageException e) when (e.Code == ErrorCode.OutOfMemory)
        {
            var largest = _planner.LargestFittingSize(PlannerInputFor(request));
            throw new ZImageException(ErrorCode.OutOfMemory,
                e.Message + (largest is { } size ? $" The largest size predicted to fit now is {size}." : ""), e.InnerException);
        }
    }

    /// <summary>With ZIMAGE_TRACE=1: which phase ran out, and where the device's memory was at that moment (the
    /// pool's own bytes against what the device still had), to tell a planning error from memory outside the pool.</summary>
    private void TraceOutOfMemory(GenerationPhase phase, Exception error, MemoryPlan plan)
    {
        if (!PhaseTrace.Enabled || Device.Memory is not { } probe) return;
        var pool = probe.Pool();
        var device = probe.DeviceMemory();
        Console.Error.WriteLine($"[trace] out of memory in {phase}: pool allocated {pool.AllocatedBytes >> 20} MiB, peak {pool.PeakAllocatedBytes >> 20} MiB, "
            + $"reserved {pool.ReservedBytes >> 20} MiB (after the trim); device free {device.FreeBytes >> 20} MiB of {device.TotalBytes >> 20} MiB; "
            + $"plan: {plan.Summary}; error: {error.Message.ReplaceLineEndings(" ")}");
    }

    /// <summary>
    /// What a generation under <paramref name="plan"/> does, in one line. On a GPU that is the plan itself. On the CPU
    /// every component sits in RAM and computes in the engine's dtype; the plan then only describes the card that
    /// <c>--vram-budget</c> emulates (it still drives phases and recovery), so it is named as such, or left out.
    /// </summary>
    /// <summary>What the weights computed in: the plan's precision where a placer stores weights by the plan, else the
    /// dtype every component was built in (the CPU engine keeps all weights in RAM as built).</summary>
    private string WeightsPrecision(MemoryPlan plan) => _placer is not null
        ? plan.WeightsPrecision
        : Models.Transformer.DType == torch.ScalarType.BFloat16 ? "bf16" : "fp32";

    public string DescribePlan(MemoryPlan plan)
    {
        if (Device.IsCuda) return plan.Summary;
        string dtype = Models.Transformer.DType == torch.ScalarType.BFloat16 ? "bf16" : "float32";
        string cpu = $"{plan.Input.Request.Width}x{plan.Input.Request.Height} on the CPU: every component in RAM, {dtype}";
        return _options.VramBudget is { } budget ? $"{cpu}; plan for the emulated {budget} card: {plan.Summary}" : cpu;
    }

    public IReadOnlyList<string> ListLoras() => _loras.List();

    public IReadOnlyList<ZImageSharp.Errors.FieldError> CheckLoras(IReadOnlyList<LoraRequest> loras)
    {
        try
        {
            _loras.Resolve(loras);
            return [];
        }
        catch (InvalidRequestException e) { return e.Errors; }
    }

    /// <summary>The LoRA state of the transformer now (tests, diagnostics).</summary>
    public LoraPatcher LoraPatcher => _loraPatcher;

    public PlanReport Plan(GenerationRequest request) => BuildPlan(request).ToReport();

    public MemoryPlan BuildPlan(GenerationRequest request) => _planner.Plan(PlannerInputFor(request));

    public string DescribeCapacity() => CapacityNow().ToJson();

    /// <summary>Plans for another worker of the fleet with this engine's tokenizer and LoRA folder: the request's
    /// caption lengths and LoRA bytes are the same wherever it runs, the card, host, model and policy are the worker's.</summary>
    public PlanReport Plan(GenerationRequest request, string capacity)
    {
        var worker = WorkerCapacity.FromJson(capacity);
        return new MemoryPlanner(worker.Options).Plan(PlannerInputFor(request, worker)).ToReport();
    }

    private bool ComputesInFloat32 => Models.Transformer.DType == torch.ScalarType.Float32;

    /// <summary>This engine's card and host as they are now, its weights, speeds and planner policy.</summary>
    private WorkerCapacity CapacityNow() => new()
    {
        Options = _planner.Options,
        Device = Budget(),
        Host = HostBudgetNow(),
        Model = _footprint,
        Speed = Speed,
        WeightsInFiles = Models.Files is not null,
        ComputeInFloat32 = ComputesInFloat32,
    };

    private PlannerInput PlannerInputFor(GenerationRequest request) => PlannerInputFor(request, CapacityNow());

    private PlannerInput PlannerInputFor(GenerationRequest request, WorkerCapacity on)
    {
        int Tokens(string? prompt) => Math.Max(1, _pipeline.Models.Tokenizer.EncodePromptIds(prompt ?? "").Length);
        // The negative prompt is encoded only with guidance; its length then sizes the encode and the denoise batch.
        var planRequest = PlannerRequest.From(request, Tokens(request.Prompt),
            request.GuidanceScale > 0 ? Tokens(request.NegativePrompt) : null);
        return on.For(planRequest, LoraBytes(request, on.ComputeInFloat32 ? 4 : 2));
    }

    /// <summary>Device bytes of the request's LoRAs at <paramref name="bytesPerValue"/>; 0 when they cannot be read
    /// (the generation then fails naming them).</summary>
    private long LoraBytes(GenerationRequest request, int bytesPerValue)
    {
        if (request.Loras is not { Count: > 0 }) return 0;
        try { return _loras.Resolve(request.Loras)?.DeviceBytes(bytesPerValue) ?? 0; }
        catch (InvalidRequestException) { return 0; }
    }

    /// <summary>What the planner may hold in host memory: what the host gives now plus the masters this engine holds
    /// (a new plan may replace them); with --ram-budget, that budget less what this process holds besides its masters.
    /// Unbounded where there is nothing to plan host memory for (no placer: the CPU holds the modules as they are).</summary>
    private HostBudget HostBudgetNow()
    {
        if (_placer is null && Models.Files is null) return HostBudget.Unbounded;
        var host = Host.HostMemoryProbe.Read();
        long held = _placer?.HostBytes ?? 0;
        if (_options.RamBudget is { } ram)
        {
            long runtime = host is null ? _planner.Options.HostRuntimeBytes : Math.Max(0, host.ProcessResidentBytes - held);
            return HostBudget.WithAvailable(ram.Bytes - runtime, _planner.Options, $"--ram-budget {ram}");
        }
        if (host is null) return HostBudget.Unbounded;
        return HostBudget.WithAvailable(host.AvailableBytes + held, _planner.Options, host.Source);
    }

    /// <summary>What the planner may use: on a GPU the free memory plus what this process already holds (it may be
    /// placed differently), on the CPU the --vram-budget if given (so plans, tiers and recovery can be exercised without
    /// a GPU) or an unbounded budget.</summary>
    private DeviceBudget Budget()
    {
        long? emulated = _options.VramBudget?.Bytes;
        if (Device.Memory is not { } probe)
            return DeviceBudget.WithFreeMemory(emulated ?? (1L << 40), _planner.Options);
        var memory = probe.DeviceMemory();
        var pool = probe.Pool();
        long others = Nvml.OtherProcessesBytes(probe.Device, pool.ReservedBytes) ?? 0;
        // Everything in our pool (weights placed by the previous plan, cached activations) can be placed anew.
        return DeviceBudget.Measured(memory.TotalBytes, memory.FreeBytes + pool.ReservedBytes, others, _planner.Options, emulated);
    }

    private static DecodeSettings DecodeSettingsFor(VaePlacement vae) => vae.Mode == VaeDecodeMode.Tiled && vae.TileSizePixels is { } tile
        ? new DecodeSettings(new VaeTileOptions(tile / 8, Math.Max(1, vae.TileOverlapPixels / 8)), vae.ImagesPerPass)
        : new DecodeSettings(null, vae.ImagesPerPass);

    private NoPlanFitsException NoFit(MemoryPlan plan, GenerationRequest request)
    {
        if (!plan.HostFits && plan.Phases.All(p => p.Fits)) return new NoPlanFitsException(plan.Summary, "host", null);
        var tight = plan.TightestPhase;
        var largest = plan.LargestFittingSize;
        return new NoPlanFitsException(
            $"{request.Width}x{request.Height} (count {request.Count}) does not fit this device: the {PlanningNames.ReportName(tight.Phase)} phase needs {new ByteSize(tight.PeakBytes)} but {new ByteSize(plan.BudgetBytes)} can be used." +
            (largest is { } s ? $" The largest size that fits is {s}." : " No size fits."),
            PlanningNames.ReportName(tight.Phase), largest);
    }

    private static ModelFootprint Footprint(ZImageModels models)
    {
        int width = models.Transformer.DType == torch.ScalarType.Float32 ? 4 : 2;
        return ModelMemoryDescription.FromTensors(ModelMemoryDescription.Tensors(models.TextEncoder),
            ModelMemoryDescription.Tensors(models.Transformer), ModelMemoryDescription.Tensors(models.Vae), width);
    }

    public SystemReport Describe()
    {
        var gpus = new List<GpuReport>();
        if (Device.Memory is { } probe)
        {
            var memory = probe.DeviceMemory();
            var pool = probe.Pool();
            gpus.Add(new GpuReport(probe.Device, CudaRuntime.DeviceName(probe.Device), memory.TotalBytes, memory.FreeBytes,
                pool.AllocatedBytes, pool.ReservedBytes, pool.PeakAllocatedBytes, Nvml.OtherProcessesBytes(probe.Device, pool.ReservedBytes), Nvml.DriverVersion()));
        }
        return new SystemReport(Device.Description, Device.LibTorch?.ToString() ?? "bundled CPU libtorch 2.10.0", gpus, Model, _lastPlan, Speed.Label);
    }

    public void Dispose()
    {
        _deviceThread.Dispose();
        _loraPatcher.Dispose();
        _placer?.Dispose();
        _loras.Dispose();
        _pipeline.Models.Dispose();
        _gate.Dispose();
    }
}
