using System.Collections.Concurrent;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;

namespace ZImageSharp.Server.Tests.Mocks;

/// <summary>Stands in for the engine: makes real (small) PNGs, reports progress per step with a preview, honours
/// cancellation between steps, and can be slowed, held or made to fail. Counts starts and completions per prompt
/// so tests can prove a job ran exactly once.</summary>
public sealed class FakeImageGenerator : IImageGenerator
{
    private readonly ConcurrentDictionary<string, int> _started = new();
    private readonly ConcurrentDictionary<string, int> _completed = new();
    private int _cancelled;

    public ModelInfo Model { get; set; } = new("fake-tiny", IsDemo: true,
        "This is the tiny demo model: images are noise. Point ZImage:Engine:WeightsPath at the Z-Image-Turbo weights to draw for real.",
        RequestLimits.Default);

    /// <summary>Time per denoising step.</summary>
    public TimeSpan StepDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>When set, a job waits here after its first step until the task completes (or it is cancelled).</summary>
    public TaskCompletionSource? Hold { get; set; }

    /// <summary>Edge of the step previews; above 16 they are noise (seeded by the step), which no PNG compresses, so a
    /// 128-pixel one is as large as a real 1024² job's.</summary>
    public int PreviewSide { get; set; } = 16;

    /// <summary>When it returns an exception, that is thrown after the first denoising step.</summary>
    public Func<GenerationRequest, Exception?>? Failure { get; set; }

    public int Started(string prompt) => _started.GetValueOrDefault(prompt);

    public int Completed(string prompt) => _completed.GetValueOrDefault(prompt);

    public int TotalCompleted => _completed.Values.Sum();

    public int TotalStarted => _started.Values.Sum();

    public int Cancelled => Volatile.Read(ref _cancelled);

    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        _started.AddOrUpdate(request.Prompt, 1, (_, n) => n + 1);
        var started = DateTime.UtcNow;
        try
        {
            progress?.Report(new GenerationProgress(GenerationPhase.Tokenize, 1, 1, DateTime.UtcNow - started, null));
            progress?.Report(new GenerationProgress(GenerationPhase.Encode, 1, 1, DateTime.UtcNow - started, null));
            for (int step = 1; step <= request.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (StepDelay > TimeSpan.Zero) await Task.Delay(StepDelay, cancellationToken);
                var elapsed = DateTime.UtcNow - started;
                progress?.Report(new GenerationProgress(GenerationPhase.Denoise, step, request.Steps, elapsed,
                    elapsed / step * (request.Steps - step), Preview(step, request.Steps, PreviewSide)));
                if (Failure?.Invoke(request) is { } failure) throw failure;
                if (step == 1 && Hold is { } hold) await hold.Task.WaitAsync(cancellationToken);
            }
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new GenerationProgress(GenerationPhase.Decode, 1, 1, DateTime.UtcNow - started, TimeSpan.Zero));

            long seed = request.Seed ?? 0;
            var images = Enumerable.Range(0, request.Count)
                .Select(i => new GeneratedImage(Image(request.Width, request.Height, seed + i), seed + i, request.Width, request.Height))
                .ToArray();
            _completed.AddOrUpdate(request.Prompt, 1, (_, n) => n + 1);
            var phases = new[]
            {
                new PhaseTiming(GenerationPhase.Encode, TimeSpan.FromMilliseconds(1), 3L << 30),
                new PhaseTiming(GenerationPhase.Denoise, DateTime.UtcNow - started, 9L << 30),
                new PhaseTiming(GenerationPhase.Decode, TimeSpan.FromMilliseconds(1), 5L << 30),
            };
            return new GenerationResult(images, phases, DateTime.UtcNow - started, "resident bf16 (fake)", OomRecoveries: 0);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancelled);
            throw;
        }
    }

    /// <summary>A 16x16 preview that brightens with each step, or a larger one of noise.</summary>
    private static PreviewImage Preview(int step, int steps, int side)
    {
        if (side != 16)
        {
            var noise = new byte[side * side * 3];
            new Random(step).NextBytes(noise);
            return new PreviewImage(side, side, noise);
        }
        var rgb = new byte[16 * 16 * 3];
        byte level = (byte)(255 * step / Math.Max(1, steps));
        for (int i = 0; i < 16 * 16; i++)
        {
            rgb[i * 3] = level;
            rgb[i * 3 + 1] = (byte)(i % 16 * 16);
            rgb[i * 3 + 2] = (byte)(i / 16 * 16);
        }
        return new PreviewImage(16, 16, rgb);
    }

    /// <summary>A real PNG at 1/16 of the requested size, patterned by the seed.</summary>
    private static byte[] Image(int width, int height, long seed)
    {
        int w = Math.Max(1, width / 16), h = Math.Max(1, height / 16);
        var random = new Random((int)(seed % int.MaxValue));
        var rgb = new byte[w * h * 3];
        random.NextBytes(rgb);
        return PngEncoder.Encode(rgb, w, h, PngColorType.Rgb);
    }
}
