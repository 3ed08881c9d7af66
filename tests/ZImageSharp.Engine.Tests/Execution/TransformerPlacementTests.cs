using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Planning;
using static TorchSharp.torch;
using static ZImageSharp.Engine.Tests.Execution.PlacementKit;

namespace ZImageSharp.Engine.Tests.Execution;

/// <summary>The reference DiT (dit_weights, dit_case1) run resident, streamed, partly streamed and in fp8, on the CPU
/// acting as a separate device: every placement must compute what the plain model computes.</summary>
public sealed class TransformerPlacementTests(ITestOutputHelper output)
{
    private const double Same = 1e-6;

    /// <summary>Runs one denoise phase under <paramref name="placement"/> and returns the outputs (twice: the second
    /// forward exercises the wrapped-around prefetch).</summary>
    private (Tensor First, Tensor Second, BlockStreamer? Streamer, long BytesDuring) RunPlaced(ComponentPlacement placement, DitInputs inputs)
    {
        using var model = LoadTransformer();
        using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), placement, VaeAt(), SimulatedDevice);
        placer.BeforePhase(PlanPhase.Denoise);
        var first = inputs.Run(model);
        long during = placer.DeviceBytes;
        var second = inputs.Run(model);
        placer.AfterPhase(PlanPhase.Denoise);
        var streamer = placer.StreamerOf(Component.Transformer);
        if (!placement.StaysLoaded)
        {
            Assert.Equal(0, placer.DeviceBytes);
            Assert.True(AllEmpty(model), "a released transformer still points at device tensors");
        }
        return (first, second, streamer, during);
    }

    [SkippableFact]
    public void ResidentStreamedAndPartlyStreamedEqualThePlainModel()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var plain = LoadTransformer();
        using var expected = inputs.Run(plain);

        var cases = new (string Name, ComponentPlacement Placement)[]
        {
            ("resident", DitAt(Placement.Resident, true)),
            ("all streamed", DitAt(Placement.StreamedBf16, false)),
            ("refiners resident, layers streamed", DitAt(Placement.StreamedBf16, true, "noise_refiner.0", "context_refiner.0")),
            ("alternating", DitAt(Placement.StreamedBf16, false, "context_refiner.0", "layers.1")),
        };
        foreach (var (name, placement) in cases)
        {
            var (first, second, streamer, during) = RunPlaced(placement, inputs);
            double e1 = TensorAssert.RelativeError(first, expected), e2 = TensorAssert.RelativeError(second, expected);
            output.WriteLine($"{name}: {e1:E2} / {e2:E2}, {during} B on the device during the phase" + (streamer is null ? "" :
                $", prefetch hits {streamer.PrefetchHits}, misses {streamer.PrefetchMisses}, peak streamed blocks {streamer.PeakStreamedBlocksOnDevice}"));
            Assert.True(e1 <= Same && e2 <= Same, $"{name}: {e1:E2} / {e2:E2}");
            if (placement.Placement.IsStreamed())
            {
                Assert.NotNull(streamer);
                Assert.InRange(streamer.PeakStreamedBlocksOnDevice, 1, 2);
                // Prime() prefetches the first streamed block and every later one is prefetched by its predecessor.
                Assert.Equal(0, streamer.PrefetchMisses);
                Assert.Equal(2 * (4 - placement.ResidentBlocks.Count), streamer.PrefetchHits);
            }
            first.Dispose();
            second.Dispose();
        }
    }

    [SkippableFact]
    public void Fp8PlacementsComputeWithFp8RoundedWeights()
    {
        RequireFixtures();
        using var inputs = new DitInputs();
        using var plain = LoadTransformer();
        using var original = inputs.Run(plain);
        RoundFp8EligibleWeights(plain, Component.Transformer);
        using var rounded = inputs.Run(plain);
        double fp8Effect = TensorAssert.RelativeError(rounded, original);
        output.WriteLine($"fp8 rounding changes the output by {fp8Effect:E2}");
        Assert.InRange(fp8Effect, 1e-4, 0.15); // fp8 really applies, and stays a small change

        foreach (var placement in new[]
                 {
                     DitAt(Placement.ResidentFp8, true),
                     DitAt(Placement.StreamedFp8, false),
                     DitAt(Placement.StreamedFp8, true, "noise_refiner.0", "layers.0"),
                 })
        {
            var (first, second, streamer, _) = RunPlaced(placement, inputs);
            double vsRounded = TensorAssert.RelativeError(first, rounded), vsOriginal = TensorAssert.RelativeError(first, original);
            output.WriteLine($"{placement.Describe()}: vs fp8-rounded reference {vsRounded:E2}, vs original {vsOriginal:E2}");
            Assert.True(vsRounded <= Same, $"{placement.Placement}: {vsRounded:E2} from the fp8-rounded reference");
            Assert.True(TensorAssert.RelativeError(second, rounded) <= Same);
            Assert.InRange(vsOriginal, 1e-4, 0.15);
            Assert.NotNull(streamer);
            Assert.InRange(streamer.PeakStreamedBlocksOnDevice, 0, 2);
            first.Dispose();
            second.Dispose();
        }
    }

    [SkippableFact]
    public void Fp8MastersHalveTheBlockMatricesAndKeepSensitiveTensorsWide()
    {
        RequireFixtures();
        using var bf16Model = LoadTransformer();
        using var fp8Model = LoadTransformer();
        int eligible = Fp8EligibleCount(fp8Model, Component.Transformer);
        long eligibleElements = fp8Model.named_parameters()
            .Where(p => ModelMemoryDescription.StoresAsFp8(Component.Transformer, p.name, p.parameter.shape.Length)).Sum(p => p.parameter.numel());
        using var wide = new ComponentPlacer(bf16Model, null, null, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedBf16, false), VaeAt(), SimulatedDevice);
        using var narrow = new ComponentPlacer(fp8Model, null, null, TeAt(Placement.Resident, true),
            DitAt(Placement.StreamedFp8, false), VaeAt(), SimulatedDevice);
        // A model only in memory has no file to return to, so its exact (float32 here) masters stay beside the fp8
        // ones, 1 byte per eligible element; a checkpoint's fp8 masters replace them (LoadByPlanTests).
        Assert.True(eligible >= 4 * 6, $"only {eligible} fp8-eligible tensors");
        Assert.Equal(wide.HostBytes + eligibleElements, narrow.HostBytes);
        Assert.Equal(0, wide.DeviceBytes);
        Assert.Equal(0, narrow.DeviceBytes);
    }
}
