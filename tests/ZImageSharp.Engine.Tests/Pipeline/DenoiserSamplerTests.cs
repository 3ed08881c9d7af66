using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>The loop with each sampler and schedule on a tiny randomly initialised transformer: what runs, what it
/// leaves alive, and that re-noising samplers reproduce from the seed alone.</summary>
public class DenoiserSamplerTests
{
    private static readonly ZImageTransformerConfig Tiny = new()
    {
        Dim = 32, NLayers = 2, NRefinerLayers = 1, NHeads = 2, NKvHeads = 2, CapFeatDim = 16,
        AxesDims = [8, 4, 4], AxesLens = [256, 32, 32],
    };

    private static ZImageTransformer TinyModel()
    {
        manual_seed(1234);
        return new ZImageTransformer(Tiny);
    }

    public static TheoryData<string, string> EveryCombination()
    {
        var data = new TheoryData<string, string>();
        foreach (var sampler in SamplerNames.All)
            foreach (var scheduler in SchedulerNames.All)
                data.Add(sampler, scheduler);
        return data;
    }

    /// <summary>Every sampler on every schedule: one call back per step, a finite result, and nothing left alive but
    /// the result (a multistep sampler's kept prediction is released with the run).</summary>
    [Theory]
    [MemberData(nameof(EveryCombination))]
    public void EverySamplerRunsAndLeavesOnlyTheResultAlive(string sampler, string scheduler)
    {
        using var model = TinyModel();
        using var positive = randn(5, 16);
        var options = new DenoiseOptions { Steps = 3, Sampler = sampler, Scheduler = scheduler };
        using (var warm = new SeededNoise(1, 2))
        using (var latents = warm.Draw(16, 4, 4))
            new Denoiser(model).Run(latents, [positive, positive], options, stepNoise: warm).Dispose(); // RoPE tables

        using var seeded = new SeededNoise(7, 2);
        using var noise = seeded.Draw(16, 4, 4);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        int calls = 0;
        using (var final = new Denoiser(model).Run(noise, [positive, positive], options, onStep: (_, _) => calls++, stepNoise: seeded))
        {
            Assert.Equal(before + 1, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            Assert.Equal(3, calls);
            using var isFinite = final.isfinite();
            using var allFinite = isFinite.all();
            Assert.True(allFinite.item<bool>());
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Theory]
    [InlineData("euler_ancestral")]
    [InlineData("lcm")]
    public void ReNoisingSamplersReproduceFromTheSeedAndKeepImagesIndependentOfTheBatch(string sampler)
    {
        using var model = TinyModel();
        using var caption = randn(5, 16);
        var options = new DenoiseOptions { Steps = 3, Sampler = sampler };

        Tensor Run(long seed, int count)
        {
            using var seeded = new SeededNoise(seed, count);
            using var noise = seeded.Draw(16, 8, 8);
            return new Denoiser(model).Run(noise, Enumerable.Repeat(caption, count).ToList(), options, stepNoise: seeded);
        }

        using var first = Run(5, 2);
        using var again = Run(5, 2);
        using var alone = Run(6, 1);
        using var euler = new Denoiser(model).Run(LatentNoise.Sample(5, 2, 16, 8, 8), [caption, caption], options with { Sampler = "euler" });
        Assert.True(TensorAssert.Identical(first, again));
        using var second = first.narrow(0, 1, 1);
        // Batched and single transformer calls agree to rounding, not bit for bit; different step noise would not.
        Assert.True(TensorAssert.RelativeError(second, alone) < 1e-5, "image 1 of seed 5 is image 0 of seed 6, step noise included");
        Assert.False(TensorAssert.Identical(first, euler));
    }

    [Fact]
    public void AReNoisingSamplerWithoutStepNoiseIsRefused()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 1, 16, 8, 8);
        using var caption = randn(5, 16);
        var error = Assert.Throws<ArgumentException>(() =>
            new Denoiser(model).Run(noise, [caption], new DenoiseOptions { Steps = 2, Sampler = "lcm" }));
        Assert.Contains("re-noises", error.Message);
    }

    /// <summary>The default (euler on simple) is the loop diffusers runs: its result equals an explicit
    /// FlowMatchEulerScheduler loop over the same velocities bit for bit.</summary>
    [Fact]
    public void TheDefaultSamplerIsTheUnchangedEulerLoop()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(3, 1, 16, 8, 8);
        using var caption = randn(5, 16);
        using var viaDefault = new Denoiser(model).Run(noise, [caption], new DenoiseOptions { Steps = 2 });
        using var viaNames = new Denoiser(model).Run(noise, [caption], new DenoiseOptions { Steps = 2, Sampler = "EULER", Scheduler = "Simple" });
        Assert.True(TensorAssert.Identical(viaDefault, viaNames));
    }
}
