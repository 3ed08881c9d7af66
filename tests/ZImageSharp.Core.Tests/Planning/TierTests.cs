using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>What the planner chooses on each card tier, with the reference (H100) speeds and a 512-token caption.
/// The numbers behind each row are in docs/memory-planner.md.</summary>
public class TierTests
{
    // Free GiB → text encoder, transformer (resident blocks of 34), VAE decode, predicted peak GiB, predicted seconds.
    [Theory]
    [InlineData(80, "Resident", true, "Resident", 34, "Full", 21.97, 1.475)]
    [InlineData(48, "Resident", true, "Resident", 34, "Full", 21.97, 1.475)]
    [InlineData(24, "Resident", true, "Resident", 34, "Full", 21.97, 1.475)]
    [InlineData(16, "StreamedBf16", true, "Resident", 34, "Tiled", 15.47, 1.547)]
    [InlineData(12, "StreamedBf16", false, "StreamedBf16", 29, "Tiled", 11.49, 1.654)]
    [InlineData(8, "StreamedBf16", false, "StreamedBf16", 17, "Tiled", 7.36, 1.816)]
    [InlineData(6, "StreamedFp8", true, "StreamedFp8", 2, "Full", 5.45, 1.678)]
    [InlineData(4, "StreamedFp8", false, "StreamedFp8", 3, "Full", 3.50, 1.692)]
    public void Square1024OnEachTier(double freeGiB, string encoder, bool encoderStays, string transformer,
        int transformerResidentBlocks, string decode, double peakGiB, double seconds)
    {
        var plan = PlanOn(freeGiB, Square(1024));

        Assert.True(plan.Fits, plan.Summary);
        Assert.Equal(Enum.Parse<Placement>(encoder), plan.TextEncoder.Placement);
        Assert.Equal(encoderStays, plan.TextEncoder.StaysLoaded);
        Assert.Equal(Enum.Parse<Placement>(transformer), plan.Transformer.Placement);
        Assert.Equal(transformerResidentBlocks, plan.Transformer.ResidentBlocks.Count);
        Assert.Equal(Enum.Parse<VaeDecodeMode>(decode), plan.Vae.Mode);
        Assert.Equal(peakGiB, plan.PredictedPeakBytes / (double)(1L << 30), 2);
        Assert.Equal(seconds, plan.PredictedTime.TotalSeconds, 3);
    }

    [Fact]
    public void TheTransformersFloat32IslandsCountInEveryPlacement()
    {
        // Resident: 2 × 6,154,908,736 + 2 × 128,078,912 float32-island parameters (4 bytes, not 2).
        Assert.Equal(12_565_975_296L, PlanOn(80, Square(1024)).Phase(PlanPhase.Denoise).PhaseWeightBytes);
        // Streamed bf16: two buffers of the largest block, a main block with its adaLN Linear in float32.
        var streamed = PlanOn(12, Square(1024));
        Assert.Equal(Placement.StreamedBf16, streamed.Transformer.Placement);
        Assert.Equal(2 * 369_715_712L, streamed.Phase(PlanPhase.Denoise).BufferBytes);
        // Streamed fp8: the computing block cast to bf16 and the next block's fp8 copy; the adaLN stays float32 in
        // the fp8 block too.
        var fp8 = PlanOn(6, Square(1024));
        Assert.Equal(Placement.StreamedFp8, fp8.Transformer.Placement);
        Assert.Equal(369_715_712L + 192_768_512L, fp8.Phase(PlanPhase.Denoise).BufferBytes);
    }

    [Theory]
    [InlineData(1536, false, 48, "Resident", "Resident", "Full")]
    [InlineData(1536, false, 16, "Resident", "StreamedBf16", "Full")]
    [InlineData(1536, false, 8, "StreamedBf16", "StreamedBf16", "Full")]
    [InlineData(1536, false, 4, "StreamedBf16", "StreamedBf16", "Tiled")]
    [InlineData(2048, false, 48, "Resident", "Resident", "Full")]
    [InlineData(2048, false, 24, "Resident", "StreamedBf16", "Full")]
    [InlineData(2048, false, 12, "Resident", "StreamedBf16", "Tiled")]
    [InlineData(2048, false, 4, "StreamedBf16", "StreamedBf16", "Tiled")]
    [InlineData(1024, true, 24, "Resident", "Resident", "Full")]
    [InlineData(1024, true, 16, "Resident", "StreamedBf16", "Full")]
    [InlineData(1024, true, 8, "StreamedBf16", "StreamedBf16", "Full")]
    [InlineData(1024, true, 4, "StreamedBf16", "StreamedBf16", "Tiled")]
    public void LargerSizesAndGuidance(int size, bool guidance, double freeGiB, string encoder, string transformer, string decode)
    {
        var plan = PlanOn(freeGiB, Square(size, guidance));

        Assert.True(plan.Fits, plan.Summary);
        Assert.Equal(Enum.Parse<Placement>(encoder), plan.TextEncoder.Placement);
        Assert.Equal(Enum.Parse<Placement>(transformer), plan.Transformer.Placement);
        Assert.Equal(Enum.Parse<VaeDecodeMode>(decode), plan.Vae.Mode);
    }

    [Fact]
    public void GuidanceDoublesTheTransformerBatchAndTheEncodedPrompts()
    {
        var off = PlanOn(80, Square(1024));
        var on = PlanOn(80, Square(1024, guidance: true));

        Assert.Equal(2 * off.Phase(PlanPhase.Denoise).ComputeTime.TotalSeconds, on.Phase(PlanPhase.Denoise).ComputeTime.TotalSeconds, 6);
        Assert.Equal(2 * off.Phase(PlanPhase.TextEncode).ComputeTime.TotalSeconds, on.Phase(PlanPhase.TextEncode).ComputeTime.TotalSeconds, 6);
        Assert.True(on.Phase(PlanPhase.Denoise).ActivationBytes > 1.9 * off.Phase(PlanPhase.Denoise).ActivationBytes - (64L << 20));
    }

    [Fact]
    public void ASlowHostLinkOnAConsumerCardHidesStreamingBehindCompute()
    {
        // A PCIe 4.0 x16 card (25 GB/s pinned) that computes four times slower than the H100: at 1024x1024 a
        // streamed bf16 block (0.36 GB, 14.5 ms to copy) takes less to copy than to compute (about 21 ms), so an 8 GiB card
        // streams bf16 weights at the resident speed.
        var reference = SpeedProfile.Reference;
        var consumer = reference with
        {
            Source = "test: PCIe 4.0 x16, 4x slower compute",
            HostToDeviceBytesPerSecond = 25e9,
            TransformerForwardSeconds = reference.TransformerForwardSeconds.Select(p => p with { Seconds = 4 * p.Seconds }).ToList(),
            TextEncodeSeconds = reference.TextEncodeSeconds.Select(p => p with { Seconds = 4 * p.Seconds }).ToList(),
        };
        var plan = Planner.Plan(Card(8, Square(1024), speed: consumer));
        var resident = Planner.Plan(Card(80, Square(1024), speed: consumer));

        Assert.Equal(Placement.StreamedBf16, plan.Transformer.Placement);
        Assert.Equal(resident.Phase(PlanPhase.Denoise).Time.TotalSeconds, plan.Phase(PlanPhase.Denoise).Time.TotalSeconds, 3);
    }

    [Fact]
    public void ImageToImageAddsAnImageEncodePhase()
    {
        var plan = PlanOn(8, Square(1024) with { EncodesImage = true });

        Assert.Equal([PlanPhase.TextEncode, PlanPhase.ImageEncode, PlanPhase.Denoise, PlanPhase.Decode], plan.Phases.Select(p => p.Phase));
        Assert.True(plan.Fits, plan.Summary);
        Assert.True(plan.Phase(PlanPhase.ImageEncode).PhaseWeightBytes >= 2L * (49_545_475 + 34_274_208));
    }

    [Fact]
    public void CpuTextEncoderIsTheLastResort()
    {
        // Streaming off: on 4 GiB even the fp8 text encoder (4.0 GiB) cannot be resident, so it runs on the CPU.
        var options = new Options.PlannerOptions { AllowStreamedTextEncoder = false };
        var planner = new MemoryPlanner(options);
        var plan = planner.Plan(Card(4, Square(1024), options));

        Assert.True(plan.Fits, plan.Summary);
        Assert.Equal(Placement.Cpu, plan.TextEncoder.Placement);
        Assert.Empty(plan.TextEncoder.ResidentBlocks);
        Assert.Equal(512 / SpeedProfile.Reference.CpuTextEncodeTokensPerSecond, plan.Phase(PlanPhase.TextEncode).Time.TotalSeconds, 6);
    }
}
