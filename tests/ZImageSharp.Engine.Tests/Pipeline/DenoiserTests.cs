using TorchSharp;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Scheduling;
using ZImageSharp.Engine.Tests.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>Loop behaviour on a tiny randomly initialised transformer (no fixtures needed).</summary>
public class DenoiserTests
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

    [Fact]
    public void CallsBackOncePerStepAndReturnsTheLastLatents()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 1, 16, 8, 8);
        using var caption = randn(5, 16);
        var steps = new List<int>();
        Tensor? lastSeen = null;
        using var final = new Denoiser(model).Run(noise, [caption], new DenoiseOptions { Steps = 3 }, onStep: (i, latents) =>
        {
            steps.Add(i);
            lastSeen?.Dispose();
            lastSeen = latents.clone();
        });
        Assert.Equal([0, 1, 2], steps);
        Assert.True(TensorAssert.Identical(final, lastSeen!));
        Assert.Equal(ScalarType.Float32, final.dtype);
        Assert.Equal(noise.shape, final.shape);
        Assert.False(TensorAssert.Identical(final, noise));
        lastSeen!.Dispose();
    }

    [Fact]
    public void LeavesTheCallersTensorsAlive()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 2, 16, 4, 4);
        using var caption = randn(5, 16); // the same tensor for both images, already in the model dtype and device
        using var before = caption.clone();
        using var final = new Denoiser(model).Run(noise, [caption, caption], new DenoiseOptions { Steps = 1 });
        Assert.True(TensorAssert.Identical(caption, before));
        Assert.Equal([2L, 16, 4, 4], noise.shape);
        Assert.False(TensorAssert.Identical(final, noise));
    }

    [Fact]
    public void LoopLeavesOnlyTheResultAlive()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 2, 16, 4, 4);
        using var positive = randn(5, 16);
        using var negative = randn(40, 16);
        var options = new DenoiseOptions { Steps = 2, GuidanceScale = 1.5f, CfgNormalization = 1f };
        new Denoiser(model).Run(noise, [positive, positive], options, [negative, negative]).Dispose(); // RoPE tables

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (new Denoiser(model).Run(noise, [positive, positive], options, [negative, negative]))
            Assert.Equal(before + 1, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void CancellationStopsBetweenSteps()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 1, 16, 8, 8);
        using var caption = randn(5, 16);
        using var cancellation = new CancellationTokenSource();
        var steps = new List<int>();
        Assert.Throws<OperationCanceledException>(() => new Denoiser(model).Run(noise, [caption], new DenoiseOptions { Steps = 4 },
            onStep: (i, _) => { steps.Add(i); if (i == 1) cancellation.Cancel(); }, cancellationToken: cancellation.Token));
        Assert.Equal([0, 1], steps);
    }

    [Fact]
    public void GuidanceNeedsNegativeCaptions()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(0, 1, 16, 8, 8);
        using var caption = randn(5, 16);
        var error = Assert.Throws<ArgumentException>(() =>
            new Denoiser(model).Run(noise, [caption], new DenoiseOptions { GuidanceScale = 2f }));
        Assert.Contains("negative", error.Message);
    }

    [Theory]
    [InlineData(0f, 1f, 0.4f, 0f)]   // guidance off
    [InlineData(3f, 1f, 0.7f, 3f)]   // on, no truncation
    [InlineData(3f, 0.5f, 0.4f, 3f)] // before the truncation point
    [InlineData(3f, 0.5f, 0.6f, 0f)] // past it: positive branch only
    [InlineData(3f, 1.5f, 0.9f, 3f)] // truncation above 1 never applies
    public void GuidanceFollowsCfgTruncation(float scale, float truncation, float modelTime, float expected) =>
        Assert.Equal(expected, Denoiser.GuidanceAt(new DenoiseOptions { GuidanceScale = scale, CfgTruncation = truncation }, modelTime));

    /// <summary>One CFG step equals pos + g·(pos − neg), renormalised to ‖pos‖, computed by hand from two forwards.</summary>
    [Fact]
    public void GuidedStepCombinesBranchesAsDiffusers()
    {
        using var model = TinyModel();
        using var noise = LatentNoise.Sample(3, 1, 16, 8, 8);
        using var positive = randn(5, 16);
        using var negative = randn(40, 16);
        var options = new DenoiseOptions { Steps = 1, GuidanceScale = 2f, CfgNormalization = 1f };

        using var actual = new Denoiser(model).Run(noise, [positive], options, [negative]);

        var sigmas = FlowMatchEulerScheduler.Sigmas(1, options.Shift);
        using var time = tensor(new[] { FlowMatchEulerScheduler.ZImageTurbo.ModelTime(sigmas[0] * 1000f) });
        using var input = noise[0].unsqueeze(1);
        using var pos = model.forward([input], time, [positive])[0];
        using var neg = model.forward([input], time, [negative])[0];
        using var combined = pos + (pos - neg) * 2f;
        float scale = MathF.Min(1f, pos.norm().item<float>() / combined.norm().item<float>());
        using var guided = (combined * scale).squeeze(1).unsqueeze(0);
        using var expected = FlowMatchEulerScheduler.Step(noise, guided, sigmas[0], sigmas[1]);
        Assert.True(TensorAssert.RelativeError(actual, expected) < 1e-5);
    }
}
