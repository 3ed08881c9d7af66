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
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one image is needed.");
        using var scope = NewDisposeScope();
        var samples = new Tensor[count];
        for (int i = 0; i < count; i++)
        {
            using var generator = new Generator((ulong)(seed + i));
            samples[i] = randn([1, channels, height, width], dtype: ScalarType.Float32, device: CPU, generator: generator);
        }
        return (count == 1 ? samples[0] : cat(samples, 0)).MoveToOuterDisposeScope();
    }
}
