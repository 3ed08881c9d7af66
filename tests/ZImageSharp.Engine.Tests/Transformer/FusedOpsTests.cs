using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Transformer;

/// <summary>The fewer-kernel forms of RMSNorm and RoPE against the reference formulas, and the per-op profile hook.</summary>
public class FusedOpsTests
{
    /// <summary>diffusers/Qwen3 RMSNorm written out: float32 statistics, cast back, times the gain.</summary>
    private static Tensor ReferenceRmsNorm(Tensor x, Tensor weight, double eps)
    {
        using var scope = NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var normed = xf * rsqrt(xf.pow(2).mean([-1L], keepdim: true) + eps);
        return (normed.to(x.dtype) * weight).MoveToOuterDisposeScope();
    }

    private static RmsNorm NormWithRandomGain(long dim, double eps, ScalarType dtype)
    {
        var norm = new RmsNorm(dim, eps);
        using (no_grad()) norm.weight.copy_(rand(dim) + 0.5);
        norm.to(dtype);
        return norm;
    }

    [Fact]
    public void RmsNormMatchesTheReferenceInFloat32()
    {
        manual_seed(1);
        using var norm = NormWithRandomGain(384, 1e-5, ScalarType.Float32);
        using var x = randn(8, 30, 384) * 3;
        using var expected = ReferenceRmsNorm(x, norm.weight, 1e-5);
        using var actual = norm.forward(x);
        Assert.True(TensorAssert.RelativeError(actual, expected) < 1e-6);
    }

    /// <summary>In bf16 the result is the reference's bit for bit except where the float32 sum of squares (taken as a
    /// squared norm) differs in its last bit and that moves a value across a bf16 rounding boundary: then by one ulp of the normalised value (at most two after the
    /// gain's own rounding).</summary>
    [Fact]
    public void RmsNormMatchesTheReferenceInBFloat16UpToRareUlpFlips()
    {
        manual_seed(2);
        using var norm = NormWithRandomGain(3840, 1e-5, ScalarType.BFloat16);
        using var x = (randn(64, 3840) * 0.7).to(ScalarType.BFloat16);
        using var expected = ReferenceRmsNorm(x, norm.weight, 1e-5);
        using var actual = norm.forward(x);
        using var e = expected.to(ScalarType.Float32);
        using var a = actual.to(ScalarType.Float32);
        using var differs = a.ne(e);
        long flips = differs.sum().item<long>();
        Assert.True(flips <= x.numel() / 1000, $"{flips} of {x.numel()} values differ");
        Console.WriteLine($"RmsNorm bf16: {flips} of {x.numel()} values differ from the reference");
        using var relative = ((a - e).abs() / e.abs().clamp_min(1e-30)).max();
        Assert.True(relative.item<float>() <= 2.0 / 128, $"largest relative difference {relative.item<float>()} ({flips} flips)");
    }

    [Fact]
    public void RmsNormForwardKeepsItsInputAndInPlaceGivesTheSameValues()
    {
        manual_seed(3);
        using var norm = NormWithRandomGain(64, 1e-6, ScalarType.BFloat16);
        using var x = randn(5, 64).to(ScalarType.BFloat16);
        using var copy = x.clone();
        using var outOfPlace = norm.forward(x);
        Assert.True(TensorAssert.Identical(x, copy));
        var inPlace = norm.ForwardInPlace(copy);
        Assert.True(TensorAssert.Identical(outOfPlace, inPlace));
        Assert.Equal(copy.Handle, inPlace.Handle);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void RopeInPlaceIsBitIdenticalToApply(ScalarType dtype)
    {
        manual_seed(4);
        using var rope = new RotaryEmbedding3D(256.0, [8, 12, 12], [64, 16, 16]);
        using var frequencies = rope.ImageFrequencies(3, 1, 4, 5, 0, CPU).unsqueeze(0);          // [1, 20, 16]
        using var x = randn(1, 20, 3, 32).to(dtype);
        using var expected = RotaryEmbedding3D.Apply(x, frequencies);
        using var target = x.clone();
        RotaryEmbedding3D.ApplyInPlace(target, frequencies);
        Assert.True(TensorAssert.Identical(expected, target));
    }

    private static readonly ZImageTransformerConfig Tiny = new()
    {
        Dim = 32, NLayers = 2, NRefinerLayers = 1, NHeads = 2, NKvHeads = 2, CapFeatDim = 16,
        AxesDims = [8, 4, 4], AxesLens = [256, 32, 32],
    };

    [Fact]
    public void ProfileTimesEveryOpOfEveryBlockAndDoesNotChangeTheOutput()
    {
        manual_seed(5);
        using var model = new ZImageTransformer(Tiny);
        using var latent = randn(16, 1, 4, 6);
        using var caption = randn(7, 16);
        using var t = tensor(new[] { 0.3f });
        var plain = model.forward([latent], t, [caption])[0];

        int synchronizations = 0;
        var timer = new SynchronizedOpTimer(() => synchronizations++);
        model.Profile = timer;
        var profiled = model.forward([latent], t, [caption])[0];
        model.Profile = null;

        Assert.True(TensorAssert.Identical(plain, profiled));
        var calls = timer.Results.ToDictionary(r => r.Name, r => r.Calls);
        // 4 blocks: 1 noise refiner + 2 layers are modulated, 1 context refiner is not.
        Assert.Equal(4, calls["attention sdpa"]);
        Assert.Equal(4, calls["attention q/k/v"]);
        Assert.Equal(4, calls["ffn w2"]);
        Assert.Equal(3, calls["adaLN"]);
        Assert.Equal(6, calls["gated residual"]);
        Assert.Equal(2, calls["residual"]);
        Assert.Equal(1, calls["final layer"]);
        Assert.Equal(2 * calls.Values.Sum(), synchronizations);
        Assert.Contains("attention sdpa", timer.Format());

        timer.Reset();
        var again = model.forward([latent], t, [caption])[0];
        Assert.Empty(timer.Results); // detached: nothing recorded
        foreach (var o in new[] { plain, profiled, again }) o.Dispose();
    }
}
