using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Errors;
using ZImageSharp.Options;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// Issue #10: the demo model's weights are the same on every build (TorchSharp's GroupNorm leaves its parameters as
/// torch.empty memory, which the VAE now initialises), and a generation whose numbers go NaN or infinite ends with an
/// error that names the phase instead of a black PNG.
/// </summary>
public class DemoModelTests
{
    private static readonly GenerationRequest Small = new() { Prompt = "a red fox in the snow", Width = 64, Height = 64, Steps = 2, Seed = 42 };

    [Fact]
    public void Every_build_of_the_demo_has_the_same_finite_weights_and_group_norms_start_at_one_and_zero()
    {
        using var first = ModelFactory.Demo(CPU, ScalarType.Float32, ScalarType.Float32);
        // Freed NaNs of the parameters' sizes for the allocator to hand back: an uninitialised parameter of the second
        // build would pick them up.
        using (var nan = float.NaN.ToScalar())
            for (int i = 0; i < 2000; i++)
                full([32L << (i % 4)], nan).Dispose();
        using var second = ModelFactory.Demo(CPU, ScalarType.Float32, ScalarType.Float32);

        var pairs = new (nn.Module A, nn.Module B)[] { (first.TextEncoder, second.TextEncoder), (first.Transformer, second.Transformer), (first.Vae, second.Vae) };
        int compared = 0;
        foreach (var (a, b) in pairs)
        {
            var other = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in a.named_parameters())
            {
                Assert.True(parameter.isfinite().all().item<bool>(), $"{name} holds NaN or infinity");
                Assert.True(parameter.eq(other[name]).all().item<bool>(), $"{name} differs between two builds of the demo");
                compared++;
            }
        }
        Assert.True(compared > 100, $"only {compared} parameters compared");

        var norms = first.Vae.modules().OfType<GroupNorm>().ToList();
        // Encoder: 4 blocks × 1 resnet × 2, the mid block's 2 resnets × 2 + its attention, conv_norm_out = 14; decoder:
        // 4 blocks × 2 resnets × 2 + 5 + 1 = 22. Their 72 tensors are the "56 zero, others garbage".
        Assert.Equal(36, norms.Count);
        Assert.All(norms, n =>
        {
            Assert.True(n.weight.eq(1).all().item<bool>());
            Assert.True(n.bias!.eq(0).all().item<bool>());
        });
    }

    [Fact]
    public async Task A_vae_that_makes_nan_fails_the_decode_phase_with_a_clear_error_and_writes_no_image()
    {
        using var engine = ZImageEngine.Create(new EngineOptions { Device = "cpu" });
        var bias = engine.Models.Vae.named_parameters().Single(p => p.name == "decoder.conv_out.bias").parameter;
        using (no_grad()) bias[0] = float.NaN;

        var error = await Assert.ThrowsAsync<NonFiniteOutputException>(() => engine.GenerateAsync(Small, null, CancellationToken.None));
        Assert.Equal("decode", error.Phase);
        Assert.Equal(ErrorCode.Internal, error.Code);
        Assert.StartsWith("The decode phase produced non-finite values (NaN in the decoded image), so no image was written.", error.Message);
        Assert.Contains("try --dtype fp32", error.Message);

        // The engine stays usable: with the weight repaired the same request draws.
        using (no_grad()) bias[0] = 0f;
        var result = await engine.GenerateAsync(Small, null, CancellationToken.None);
        Assert.Single(result.Images);
    }

    [Fact]
    public async Task A_transformer_that_makes_infinity_fails_the_denoise_phase_before_anything_is_decoded()
    {
        using var engine = ZImageEngine.Create(new EngineOptions { Device = "cpu" });
        var bias = engine.Models.Transformer.named_parameters().First(p => p.name.EndsWith("linear.bias", StringComparison.Ordinal)).parameter;
        using (no_grad()) bias[0] = float.PositiveInfinity;
        var phases = new List<GenerationPhase>();

        var error = await Assert.ThrowsAsync<NonFiniteOutputException>(() =>
            engine.GenerateAsync(Small, new Progress(phases), CancellationToken.None));
        Assert.Equal("denoise", error.Phase);
        Assert.StartsWith("The denoise phase produced non-finite values (", error.Message);
        Assert.Contains("in the latents), so no image was written.", error.Message);
        Assert.DoesNotContain(GenerationPhase.Decode, phases);
    }

    private sealed class Progress(List<GenerationPhase> phases) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            lock (phases) phases.Add(value.Phase);
        }
    }
}
