using System.Diagnostics;
using Xunit.Abstractions;
using ZImageSharp.Engine.Imaging;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Scheduling;
using ZImageSharp.Engine.Tests.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Lifetime;

/// <summary>Runs alone: its collector threads would slow every test beside it, and others' allocations would change
/// how often it collects.</summary>
[CollectionDefinition(nameof(FinalizerRaceTests), DisableParallelization = true)]
public sealed class FinalizerRaceCollection;

/// <summary>
/// Issue #10's failure on demand: the hot path of a generation (text encoder, DiT forward, Euler step, VAE decode,
/// pixel conversion) in a loop while two threads collect and run finalizers without pause, which is what heavy
/// allocation elsewhere in the process (SSE watchers) does now and then. A Scalar that only a finalizer owns is freed
/// while libtorch still reads it; before the fix this loop failed within 0.1–6 s in three of four 20-second runs
/// with "Expected false to be true … toFloat/toDouble at c10/core/Scalar.h:140", from addcmul in RmsNorm.InverseRms
/// and from linalg.vector_norm's own order Scalar. Every iteration must also give bit-identical outputs: a freed
/// Scalar whose memory still reads as a number is a silently wrong value rather than an exception.
/// </summary>
[Collection(nameof(FinalizerRaceTests))]
public sealed class FinalizerRaceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(8);

    [Fact]
    public void The_hot_path_gives_the_same_numbers_while_finalizers_run_without_pause()
    {
        using var models = ModelFactory.Demo(CPU, ScalarType.Float32, ScalarType.Float32);
        using var noGrad = no_grad();
        // Tokenized once: the tokenizer is managed code, which the collectors would only slow down.
        using var ids = tensor(models.Tokenizer.EncodePromptIds("a red fox in the snow").Select(i => (long)i).ToArray());
        HotPath(models, ids).Dispose();                                    // warm: JIT, RoPE tables
        var alone = Stopwatch.StartNew();
        using var expected = HotPath(models, ids);
        alone.Stop();

        using var stop = new CancellationTokenSource();
        long collections = 0;
        var collectors = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Gen-0 collections are what allocation pressure brings, and they find the young Scalars: full ones
                // would spend the time scanning the tokenizer's vocabulary instead.
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true, Name = "finalizer storm" }).ToArray();
        foreach (var thread in collectors) thread.Start();

        int iterations = 0, different = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < Duration)
            {
                using var actual = HotPath(models, ids);
                if (!TensorAssert.Identical(actual, expected)) different++;
                iterations++;
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var thread in collectors) thread.Join();
        }
        output.WriteLine($"one iteration alone: {alone.Elapsed.TotalMilliseconds:0} ms");
        output.WriteLine($"{iterations} iterations in {clock.Elapsed.TotalSeconds:0.0} s under {collections} collections; {different} differed");
        Assert.True(iterations >= 5, $"only {iterations} iterations ran: the collectors starved the loop, so it proves little");
        Assert.Equal(0, different);
    }

    /// <summary>One small generation's worth of every model's forward, ending in the bytes of the image.</summary>
    private static Tensor HotPath(ZImageModels models, Tensor ids)
    {
        using var scope = NewDisposeScope();
        var caption = models.TextEncoder.EncodeForZImage(ids);
        manual_seed(5);
        var latents = randn(models.Transformer.Config.InChannels, 4, 4);                       // [C, h, w]
        var sigmas = new FlowMatchEulerScheduler(models.Shift).Sigmas(4);
        for (int step = 0; step < 4; step++)
        {
            using var time = tensor(new[] { 1f - sigmas[step] });
            var velocity = models.Transformer.forward([latents.unsqueeze(1)], time, [caption])[0].squeeze(1);
            latents = FlowMatchEulerScheduler.Step(latents, velocity, sigmas[step], sigmas[step + 1]);
        }
        var image = models.Vae.Decode(models.Vae.FromDiffusionLatents(latents.unsqueeze(0)));
        var rgb = ImageConversion.ToRgb(image).Single();
        return cat([latents.flatten(), tensor(rgb.Pixels).to(ScalarType.Float32)]).MoveToOuterDisposeScope();
    }
}
