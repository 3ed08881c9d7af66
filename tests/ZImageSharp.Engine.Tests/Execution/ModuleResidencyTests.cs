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

/// <summary>One module's masters and its device state, and recovery from a phase that failed half-way.</summary>
public sealed class ModuleResidencyTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void LoadReleaseAndDeviceMastersAccountEveryByte()
    {
        RequireFixtures();
        using var z = VaeLatent();
        using var plain = LoadVae();
        using var expected = plain.Decode(z);
        long bytes = plain.parameters().Sum(p => p.numel() * sizeof(float));

        using var vae = LoadVae();
        using var residency = ModuleResidency.Adopt(vae, new ResidencyTarget(CPU, ScalarType.Float32) { SimulateDevice = true });
        Assert.True(AllEmpty(vae));
        Assert.Equal(bytes, residency.HostBytes);
        Assert.Equal(0, residency.DeviceBytes);

        residency.Load();
        Assert.True(residency.IsLoaded);
        Assert.Equal(bytes, residency.DeviceBytes);
        using (var decoded = vae.Decode(z)) Assert.Equal(0, TensorAssert.RelativeError(decoded, expected));
        residency.Release();
        Assert.Equal(0, residency.DeviceBytes);
        Assert.True(AllEmpty(vae));

        // Device masters in the compute dtype: loading aliases them, so the device holds one copy, not two.
        residency.PlaceMastersOnDevice();
        residency.Load();
        Assert.Equal(bytes, residency.DeviceBytes);
        using (var decoded = vae.Decode(z)) Assert.Equal(0, TensorAssert.RelativeError(decoded, expected));
        residency.RemoveMastersFromDevice();
        Assert.False(residency.IsLoaded);
        Assert.Equal(0, residency.DeviceBytes);
        Assert.Throws<ObjectDisposedException>(() => { residency.Dispose(); residency.Load(); });
    }

    [SkippableFact]
    public void TransformerComputesInBf16FromFloat32MastersLikeAModelBuiltInBf16()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        var config = ZImageTransformerConfig.FromJson(TestData.Reference("dit_weights.json"));
        // The reference: the same weights converted to bf16 at load time (TorchSharp's module.to fails on this model's
        // ModuleDicts, which is why the placer moves empty modules itself).
        using var bf16Model = new ZImageTransformer(config, dtype: ScalarType.BFloat16);
        using (var weights = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"))) WeightLoader.LoadInto(bf16Model, weights);
        using var expected = inputs.Run(bf16Model);

        using var model = LoadTransformer();
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, false, "layers.0"), VaeAt(), SimulatedDevice with { ComputeDType = ScalarType.BFloat16 });
        Assert.Equal(ScalarType.BFloat16, model.DType);
        Assert.All(model.named_parameters(), p => Assert.Equal(
            ZImageTransformer.KeepsFloat32(p.name) ? ScalarType.Float32 : ScalarType.BFloat16, p.parameter.dtype));
        placer.BeforePhase(PlanPhase.Denoise);
        using var actual = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        double error = TensorAssert.RelativeError(actual, expected);
        output.WriteLine($"placed bf16 vs built-in-bf16: {error:E2}");
        Assert.Equal(0, error);
    }

    [SkippableFact]
    public void AfterPhaseFreesWhatAFailedPhaseLeftOnTheDevice()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var model = LoadTransformer();
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, true, "context_refiner.0"), VaeAt(), SimulatedDevice);
        placer.BeforePhase(PlanPhase.Denoise);
        long atStart = placer.DeviceBytes; // the resident part and the primed first block
        using (var ok = inputs.Run(model)) { }

        // A forward that dies inside block 2 (as an out-of-memory would): block 2 loaded, block 3 in flight.
        var streamer = placer.StreamerOf(Component.Transformer)!;
        streamer.BeforeBlock(0, model.StreamableBlocks[0].Module);
        streamer.AfterBlock(0, model.StreamableBlocks[0].Module);
        streamer.BeforeBlock(2, model.StreamableBlocks[2].Module);
        long stuck = placer.DeviceBytes;
        placer.AfterPhase(PlanPhase.Denoise);
        long after = placer.DeviceBytes;
        output.WriteLine($"at phase start {atStart} B, stuck mid-phase {stuck} B, after AfterPhase {after} B");
        Assert.True(stuck > after);
        Assert.True(after < atStart); // not even the primed prefetch stays
        Assert.True(model.StreamableBlocks.Where((_, i) => i != 1).All(b => b.Module.parameters().All(p => p.numel() == 0)));

        // The model still runs after the failure.
        placer.BeforePhase(PlanPhase.Denoise);
        using var again = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        using var plain = LoadTransformer();
        using var expected = inputs.Run(plain);
        Assert.Equal(0, TensorAssert.RelativeError(again, expected));
    }

    [SkippableFact]
    public void PlacementsNamingUnknownBlocksAreRejected()
    {
        RequireFixtures();
        using var model = LoadTransformer();
        var e = Assert.Throws<ArgumentException>(() => new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, true, "layers.29"), VaeAt(), SimulatedDevice));
        Assert.Contains("layers.29", e.Message);
    }
}
