using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Planning;
using static TorchSharp.torch;
using static ZImageSharp.Engine.Tests.Execution.PlacementKit;

namespace ZImageSharp.Engine.Tests.Execution;

/// <summary>Phases, plan switches and memory hygiene of <see cref="ComponentPlacer"/> with all three reference models.</summary>
public sealed class ComponentPlacerTests(ITestOutputHelper output)
{
    private const double Same = 1e-6;

    [SkippableFact]
    public void ApplySwitchesResidentToStreamedAndBackWithIdenticalOutputs()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var model = LoadTransformer();
        // float32 weights: the bytes of the three blocks the streamed plan below does not keep resident.
        long streamedBytes = model.named_parameters()
            .Where(p => new[] { "noise_refiner.0.", "context_refiner.0.", "layers.0." }.Any(b => p.name.StartsWith(b, StringComparison.Ordinal)))
            .Sum(p => p.parameter.numel() * sizeof(float));
        var resident = DitAt(Placement.Resident, true);
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), resident, VaeAt(), SimulatedDevice);
        long hostBytes = placer.HostBytes;

        placer.BeforePhase(PlanPhase.Denoise);
        using var first = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        long residentBytes = placer.DeviceBytes;
        Assert.Equal(hostBytes, residentBytes); // float32 masters, float32 compute: one full copy stays on the device

        // As after an out-of-memory: the phase fails half-way, then the placer degrades to a streamed plan.
        placer.BeforePhase(PlanPhase.Denoise);
        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.StreamedBf16, true, "layers.1"), VaeAt());
        Assert.False(placer.IsLoaded(Component.Transformer));
        Assert.Equal(0, placer.DeviceBytes);
        Assert.Equal(hostBytes, placer.HostBytes); // nothing re-read, nothing duplicated
        placer.BeforePhase(PlanPhase.Denoise);
        using var streamed = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        Assert.Equal(residentBytes - streamedBytes, placer.DeviceBytes); // the resident block and the rest stay

        placer.Apply(TeAt(Placement.Resident, true), resident, VaeAt());
        placer.BeforePhase(PlanPhase.Denoise);
        using var again = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        Assert.Null(placer.StreamerOf(Component.Transformer));

        double e1 = TensorAssert.RelativeError(streamed, first), e2 = TensorAssert.RelativeError(again, first);
        output.WriteLine($"streamed vs resident {e1:E2}, resident again {e2:E2}; {placer.Describe()}");
        Assert.True(e1 <= Same && e2 <= Same);
    }

    [SkippableFact]
    public void VaeLoadedForItsPhaseIsReleasedAfterItAndDecodesTheSame()
    {
        RequireFixtures();
        using var z = VaeLatent();
        using var plainVae = LoadVae();
        using var expected = plainVae.Decode(z);

        using var dit = LoadTransformer();
        using var vae = LoadVae();
        using var placer = new ComponentPlacer(dit, null, vae, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, false), VaeAt(staysLoaded: false), SimulatedDevice);
        Assert.True(AllEmpty(vae));
        for (int round = 0; round < 2; round++)
        {
            placer.BeforePhase(PlanPhase.Decode);
            Assert.True(placer.DeviceBytes > 0);
            using var decoded = vae.Decode(z);
            placer.AfterPhase(PlanPhase.Decode);
            Assert.Equal(0, placer.DeviceBytes);
            Assert.True(AllEmpty(vae), "the released VAE still points at device tensors");
            Assert.True(TensorAssert.RelativeError(decoded, expected) <= Same);
        }
    }

    [SkippableFact]
    public void VaeSwitchesBetweenBf16AndFloat32WithoutReloading()
    {
        RequireFixtures();
        using var z = VaeLatent();
        using var plainVae = LoadVae();
        using var expected = plainVae.Decode(z);
        using var dit = LoadTransformer();
        using var vae = LoadVae();
        var options = SimulatedDevice with { ComputeDType = ScalarType.BFloat16 };
        using var placer = new ComponentPlacer(dit, null, vae, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, false), VaeAt(), options);

        using var zBf16 = z.to(ScalarType.BFloat16);
        placer.BeforePhase(PlanPhase.Decode);
        Assert.All(vae.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var bf16 = vae.Decode(zBf16);
        placer.AfterPhase(PlanPhase.Decode);

        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.StreamedBf16, false), VaeAt(float32: true));
        placer.BeforePhase(PlanPhase.Decode);
        Assert.All(vae.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        using var fp32 = vae.Decode(z);
        placer.AfterPhase(PlanPhase.Decode);

        // The plain VAE converted to bf16 is the reference for bf16 compute (the tiny random VAE amplifies bf16
        // rounding: its bf16 output is far from the float32 one, so only equality with the same computation means anything).
        plainVae.to(ScalarType.BFloat16);
        using var expectedBf16 = plainVae.Decode(zBf16);
        double bf16Error = TensorAssert.RelativeError(bf16, expectedBf16), fp32Error = TensorAssert.RelativeError(fp32, expected);
        output.WriteLine($"bf16 compute vs plain bf16 VAE {bf16Error:E2}, float32 compute vs plain {fp32Error:E2}");
        Assert.True(fp32Error <= Same);
        Assert.True(bf16Error <= Same);
    }

    [SkippableFact]
    public void TextEncoderRunsResidentStreamedFp8AndOnTheCpu()
    {
        RequireFixtures();
        using var ids = PromptIds();
        using var plain = LoadTextEncoder();
        using var expected = plain.EncodeForZImage(ids);
        RoundFp8EligibleWeights(plain, Component.TextEncoder);
        using var rounded = plain.EncodeForZImage(ids);
        Assert.True(Fp8EligibleCount(plain, Component.TextEncoder) > 0);
        Assert.True(TensorAssert.RelativeError(rounded, expected) > 1e-4);

        using var dit = LoadTransformer();
        using var te = LoadTextEncoder();
        var streamed = TeAt(Placement.StreamedBf16, false, "layers.1");
        using var placer = new ComponentPlacer(dit, te, null, streamed, DitAt(Placement.Resident, true), VaeAt(), SimulatedDevice);

        Tensor Encode()
        {
            placer.BeforePhase(PlanPhase.TextEncode);
            try
            {
                using var onDevice = ids.to(placer.TextEncoderDevice);
                return te.EncodeForZImage(onDevice);
            }
            finally { placer.AfterPhase(PlanPhase.TextEncode); }
        }

        using var streamedOut = Encode();
        Assert.Equal(0, placer.DeviceBytes);
        Assert.True(AllEmpty(te));
        Assert.Equal(1, placer.StreamerOf(Component.TextEncoder)!.PrefetchHits);

        placer.Apply(TeAt(Placement.StreamedFp8, true), DitAt(Placement.Resident, true), VaeAt());
        using var fp8Out = Encode();
        placer.Apply(TeAt(Placement.ResidentFp8, false), DitAt(Placement.Resident, true), VaeAt());
        using var residentFp8Out = Encode();

        // The CPU rung: the host masters serve directly (float32 masters, float32 CPU compute: no copy at all).
        var cpu = TeAt(Placement.Cpu, true);
        using var cpuModel = LoadTextEncoder();
        using var cpuPlacer = new ComponentPlacer(LoadTransformer(), cpuModel, null, cpu, DitAt(Placement.Resident, true), VaeAt(),
            SimulatedDevice with { CpuTextEncoderDType = ScalarType.Float32 });
        cpuPlacer.BeforePhase(PlanPhase.TextEncode);
        Assert.Equal(DeviceType.CPU, cpuPlacer.TextEncoderDevice.type);
        Assert.Equal(0, cpuPlacer.DeviceBytes);
        using var cpuOut = cpuModel.EncodeForZImage(ids);
        cpuPlacer.AfterPhase(PlanPhase.TextEncode);

        var errors = new[]
        {
            ("streamed bf16 vs plain", TensorAssert.RelativeError(streamedOut, expected)),
            ("streamed fp8 vs fp8-rounded", TensorAssert.RelativeError(fp8Out, rounded)),
            ("resident fp8 vs fp8-rounded", TensorAssert.RelativeError(residentFp8Out, rounded)),
            ("CPU vs plain", TensorAssert.RelativeError(cpuOut, expected)),
        };
        foreach (var (what, error) in errors) output.WriteLine($"{what}: {error:E2}");
        Assert.All(errors, e => Assert.True(e.Item2 <= Same, $"{e.Item1}: {e.Item2:E2}"));
    }

    [SkippableFact]
    public void TextEncoderMovesBetweenTheCpuAndTheDeviceInAnotherDtype()
    {
        RequireFixtures();
        using var ids = PromptIds();
        using var plain = LoadTextEncoder();
        using var expected = plain.EncodeForZImage(ids);
        using var dit = LoadTransformer();
        using var te = LoadTextEncoder();
        // bf16 on the CPU (the default) is a dtype change from the float32 masters: the native Embedding and the
        // managed Linears are moved by module.to while empty, and computed from casts of the masters.
        using var placer = new ComponentPlacer(dit, te, null, TeAt(Placement.Resident, true), DitAt(Placement.Resident, true),
            VaeAt(), SimulatedDevice);
        Tensor Encode()
        {
            placer.BeforePhase(PlanPhase.TextEncode);
            try
            {
                using var onDevice = ids.to(placer.TextEncoderDevice);
                using var hidden = te.EncodeForZImage(onDevice);
                return hidden.to(ScalarType.Float32);
            }
            finally { placer.AfterPhase(PlanPhase.TextEncode); }
        }

        using var device = Encode();
        placer.Apply(TeAt(Placement.Cpu, true), DitAt(Placement.Resident, true), VaeAt());
        Assert.All(te.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var cpuBf16 = Encode();
        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.Resident, true), VaeAt());
        using var back = Encode();

        double bf16Error = TensorAssert.RelativeError(cpuBf16, expected);
        output.WriteLine($"device float32 {TensorAssert.RelativeError(device, expected):E2}, CPU bf16 {bf16Error:E2}, back {TensorAssert.RelativeError(back, expected):E2}");
        Assert.True(TensorAssert.RelativeError(device, expected) <= Same);
        Assert.True(TensorAssert.RelativeError(back, expected) <= Same);
        Assert.InRange(bf16Error, 1e-5, 5e-2);
    }

    [SkippableFact]
    public void TwentyPlacementCyclesLeakNoTensorsAndLeaveNothingOnTheDevice()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var ids = PromptIds();
        using var z = VaeLatent();
        using var dit = LoadTransformer();
        using var te = LoadTextEncoder();
        using var vae = LoadVae();
        var teStreamed = TeAt(Placement.StreamedFp8, false, "layers.0");
        var ditStreamed = DitAt(Placement.StreamedBf16, false, "context_refiner.0");
        var ditFp8 = DitAt(Placement.StreamedFp8, false, "layers.1");
        using var placer = new ComponentPlacer(dit, te, vae, teStreamed, ditStreamed, VaeAt(staysLoaded: false), SimulatedDevice);
        var stats = DisposeScopeManager.Statistics.TensorStatistics;

        void Cycle(int i)
        {
            placer.BeforePhase(PlanPhase.TextEncode);
            using (var hidden = te.EncodeForZImage(ids)) { }
            placer.AfterPhase(PlanPhase.TextEncode);
            placer.BeforePhase(PlanPhase.Denoise);
            using (var output = inputs.Run(dit)) { }
            placer.AfterPhase(PlanPhase.Denoise);
            placer.BeforePhase(PlanPhase.Decode);
            using (var image = vae.Decode(z)) { }
            placer.AfterPhase(PlanPhase.Decode);
            // Alternate two transformer plans, as repeated degrades and recoveries would.
            placer.Apply(teStreamed, i % 2 == 0 ? ditFp8 : ditStreamed, VaeAt(staysLoaded: false));
            Assert.Equal(0, placer.DeviceBytes);
        }

        long Live() => stats.ThreadTotalLiveCount;

        for (int i = 0; i < 4; i++) Cycle(i);
        long before = Live();
        for (int i = 4; i < 24; i++) Cycle(i);
        long after = Live();
        output.WriteLine($"live tensors before {before}, after 20 more cycles {after}");
        Assert.Equal(before, after);
        Assert.True(AllEmpty(dit) && AllEmpty(te) && AllEmpty(vae));
    }
}
