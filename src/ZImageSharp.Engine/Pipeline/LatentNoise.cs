using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>
/// The seeded initial latents: float32 standard normal drawn on the CPU, so a seed gives the same numbers as
/// PyTorch's <c>torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))</c> on any device we later
/// run on. Image i of a request uses seed + i, like diffusers given one CPU generator per image
/// (<c>[Generator().manual_seed(seed + i) for i …]</c>): one randn of [1, C, h, w] per image, so an image does not
/// change when the batch size does.
/// </summary>
public static class LatentNoise
{
    /// <summary>The latent size of an image: VAE factor 8 and 2×2 patches make both sides multiples of 16 pixels.</summary>
    public static (long Height, long Width) LatentSize(int imageHeight, int imageWidth, int vaeScaleFactor = 8)
    {
        int multiple = vaeScaleFactor * 2;
        if (imageHeight <= 0 || imageWidth <= 0 || imageHeight % multiple != 0 || imageWidth % multiple != 0)
            throw new ArgumentException(
                $"Image size {imageWidth}×{imageHeight} must be positive multiples of {multiple} pixels.");
        return (imageHeight / vaeScaleFactor, imageWidth / vaeScaleFactor);
    }

    /// <returns>[count, channels, height, width] float32 on the CPU.</returns>
    public static Tensor Sample(long seed, int count, long channels, long height, long width)
    {
        using var noise = new SeededNoise(seed, count);
        return noise.Draw(channels, height, width);
    }
}

/// <summary>
/// The request's noise, image by image: generator i is seeded with seed + i, its first draw is image i's initial
/// latents (<see cref="LatentNoise"/>) and its later draws are the noise of a sampler that re-noises at every step
/// (euler_ancestral, lcm). Continuing each image's own stream keeps a seed reproducible and an image independent of
/// the batch size, with no second seed that could collide with image i + 1's.
/// </summary>
public sealed class SeededNoise : Scheduling.IStepNoise, IDisposable
{
    private readonly Generator[] generators;

    public SeededNoise(long seed, int count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one image is needed.");
        generators = Enumerable.Range(0, count).Select(i => new Generator((ulong)(seed + i))).ToArray();
    }

    /// <summary>The next draw of every image: [count, channels, height, width] float32 on the CPU.</summary>
    public Tensor Draw(long channels, long height, long width)
    {
        using var scope = NewDisposeScope();
        var samples = generators
            .Select(g => randn([1, channels, height, width], dtype: ScalarType.Float32, device: CPU, generator: g))
            .ToArray();
        return (samples.Length == 1 ? samples[0] : cat(samples, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>A step's noise shaped like <paramref name="like"/> [count, C, h, w], drawn on the CPU and moved to its
    /// device, so the numbers do not depend on the device.</summary>
    public Tensor Next(Tensor like)
    {
        if (like.dim() != 4 || like.shape[0] != generators.Length)
            throw new ArgumentException($"Step noise is drawn for [{generators.Length}, C, h, w] latents, got [{string.Join(", ", like.shape)}].", nameof(like));
        using var scope = NewDisposeScope();
        return Draw(like.shape[1], like.shape[2], like.shape[3]).to(like.device).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var g in generators) g.Dispose();
    }
}
