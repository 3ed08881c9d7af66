using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Planning;
using static TorchSharp.torch;
using static ZImageSharp.Engine.Tests.Execution.PlacementKit;

namespace ZImageSharp.Engine.Tests.Execution;

/// <summary>
/// A checkpoint's transformer built on the meta device and placed from its file (<see cref="WeightFile"/>): the
/// simulated device holds exactly what the plan puts there, host masters exist only where the plan needs them, and
/// fp8 storage is undone exactly by reading the file again.
/// </summary>
public sealed class LoadByPlanTests(ITestOutputHelper output)
{
    private static readonly string[] StreamedBlocks = ["noise_refiner.0", "context_refiner.0", "layers.0"];

    private static ZImageTransformer MetaTransformer() =>
        new(ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json")), new Device(DeviceType.META));

    private static WeightFile DitFile() => new(SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors")));

    private static long Bytes(nn.Module model, Func<string, bool> which) =>
        model.named_parameters().Where(p => which(p.name)).Sum(p => p.parameter.numel() * p.parameter.ElementSize);

    private static bool InStreamedBlock(string name) => StreamedBlocks.Any(b => name.StartsWith(b + ".", StringComparison.Ordinal));

    [SkippableFact]
    public void TheDeviceHoldsOnlyWhatThePlanPutsThereAndTheHostOnlyTheStreamedBlocks()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var reference = LoadTransformer();
        using var expected = inputs.Run(reference);
        long streamedBytes = Bytes(reference, InStreamedBlock);
        long allBytes = Bytes(reference, _ => true);

        using var file = DitFile();
        using var model = MetaTransformer();
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        var streamed = DitAt(Placement.StreamedBf16, true, "layers.1");
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), streamed, VaeAt(), SimulatedDevice,
            new ModelWeightFiles(transformer: file));

        // Placed, not loaded: no tensor was read to the device, and the host holds masters of the streamed blocks only.
        Assert.Equal(0, placer.DeviceBytes);
        Assert.Equal(streamedBytes, placer.HostBytes);
        Assert.True(AllEmpty(model));

        placer.LoadStaying();
        Assert.Equal(allBytes - streamedBytes, placer.DeviceBytes); // the rest and layers.1, read from the file
        Assert.All(model.named_parameters().Where(p => InStreamedBlock(p.name)), p => Assert.Equal(0, p.parameter.numel()));

        placer.BeforePhase(PlanPhase.Denoise);
        using var actual = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        Assert.Equal(allBytes - streamedBytes, placer.DeviceBytes); // streamed copies dropped after the phase
        output.WriteLine($"{placer.Describe()}; error vs the loaded module {TensorAssert.RelativeError(actual, expected):E2}");
        Assert.True(TensorAssert.Identical(actual, expected), "a module placed from its file computes exactly what the loaded module does");

        // A resident plan needs no host copy at all: the masters are freed, the device keeps everything.
        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.Resident, true), VaeAt());
        placer.LoadStaying();
        Assert.Equal(0, placer.HostBytes);
        Assert.Equal(allBytes, placer.DeviceBytes);
    }

    [SkippableFact]
    public void ALoadedPerPhasePlanReadsFromTheFileWhenItKeepsNoMastersAndFromMastersWhenItDoes()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var file = DitFile();
        using var model = MetaTransformer();
        var fromFile = DitAt(Placement.Resident, false) with { LoadsFromFile = true };
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), fromFile, VaeAt(), SimulatedDevice,
            new ModelWeightFiles(transformer: file));
        Assert.Equal(0, placer.HostBytes);

        placer.BeforePhase(PlanPhase.Denoise);
        using var first = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        Assert.Equal(0, placer.DeviceBytes); // released after its phase
        Assert.Equal(0, placer.HostBytes);

        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.Resident, false), VaeAt());
        Assert.True(placer.HostBytes > 0, "loaded per phase from masters: the masters are read once");
        placer.BeforePhase(PlanPhase.Denoise);
        using var second = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        Assert.True(TensorAssert.Identical(second, first));
    }

    [SkippableFact]
    public void Fp8ThenBf16ComputesWhatAFreshBf16PlacementComputesBitForBit()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        var bf16 = new PlacerOptions(CPU) { ComputeDType = ScalarType.BFloat16, SimulateDevice = true };
        using var latentsBf16 = new DisposableTensors(inputs.Latents.Select(t => t.to(ScalarType.BFloat16)));

        Tensor RunBf16(ZImageTransformer model)
        {
            using var scope = NewDisposeScope();
            using var t = inputs.Timesteps.to(ScalarType.BFloat16);
            var captions = inputs.Captions.Select(c => c.to(ScalarType.BFloat16)).ToArray();
            var outputs = model.forward(latentsBf16.Items, t, captions);
            return cat(outputs.Select(o => o.flatten().to(ScalarType.Float32)).ToArray(), 0).MoveToOuterDisposeScope();
        }

        Tensor fresh;
        using (var file = DitFile())
        using (var model = new ZImageTransformer(ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json")), new Device(DeviceType.META), ScalarType.BFloat16))
        using (var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), DitAt(Placement.Resident, true), VaeAt(), bf16, new ModelWeightFiles(transformer: file)))
        {
            placer.BeforePhase(PlanPhase.Denoise);
            fresh = RunBf16(model);
        }

        using var file2 = DitFile();
        using var model2 = new ZImageTransformer(ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json")), new Device(DeviceType.META), ScalarType.BFloat16);
        using var placer2 = new ComponentPlacer(model2, null, null, TeAt(Placement.Resident, true), DitAt(Placement.StreamedFp8, true), VaeAt(), bf16, new ModelWeightFiles(transformer: file2));
        placer2.BeforePhase(PlanPhase.Denoise);
        using var fp8 = RunBf16(model2);
        placer2.AfterPhase(PlanPhase.Denoise);
        placer2.Apply(TeAt(Placement.Resident, true), DitAt(Placement.Resident, true), VaeAt());
        placer2.BeforePhase(PlanPhase.Denoise);
        using var back = RunBf16(model2);

        double fp8Error = TensorAssert.RelativeError(fp8, fresh);
        output.WriteLine($"fp8 vs bf16 {fp8Error:E2}; bf16 after fp8 vs fresh bf16 {TensorAssert.RelativeError(back, fresh):E2}");
        Assert.True(fp8Error > 0, "the fp8 plan really computed with fp8-rounded weights");
        Assert.True(TensorAssert.Identical(back, fresh), "after fp8, a bf16 plan computes exactly what a fresh process does");
        fresh.Dispose();
    }

    [SkippableFact]
    public void AModelOnlyInMemoryAlsoReturnsFromFp8ToItsExactWeights()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var reference = LoadTransformer();
        using var expected = inputs.Run(reference);
        using var model = LoadTransformer();
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), DitAt(Placement.ResidentFp8, true), VaeAt(), SimulatedDevice);
        placer.BeforePhase(PlanPhase.Denoise);
        using var fp8 = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        placer.Apply(TeAt(Placement.Resident, true), DitAt(Placement.Resident, true), VaeAt());
        placer.BeforePhase(PlanPhase.Denoise);
        using var back = inputs.Run(model);
        Assert.True(TensorAssert.RelativeError(fp8, expected) > 0);
        Assert.True(TensorAssert.Identical(back, expected));
    }

    private sealed class DisposableTensors(IEnumerable<Tensor> tensors) : IDisposable
    {
        public Tensor[] Items { get; } = tensors.ToArray();
        public void Dispose()
        {
            foreach (var t in Items) t.Dispose();
        }
    }
}
