using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Imaging;

/// <summary>One decoded image: row-major RGB, 8 bits a channel, no padding (HWC).</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels);

/// <summary>Turns VAE output into 8-bit pixels exactly as the reference pipelines do.</summary>
public static class ImageConversion
{
    /// <summary>
    /// <paramref name="images"/> is the VAE decoder's output <c>[B, 3, H, W]</c> (roughly in [-1, 1]) of any floating
    /// dtype on any device. Per image: <c>clamp(x/2 + 0.5, 0, 1)</c> in the tensor's own dtype (diffusers'
    /// <c>VaeImageProcessor.denormalize</c>), then in float32 <c>× 255</c>, round half to even (numpy's
    /// <c>round</c>), uint8, HWC. Only the bytes cross to the CPU.
    /// </summary>
    public static IReadOnlyList<RgbImage> ToRgb(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException(
                $"Expected VAE output of shape [B, 3, H, W]; got [{string.Join(", ", images.shape)}].", nameof(images));
        if (!images.is_floating_point())
            throw new ArgumentException($"Expected a floating-point tensor; got {images.dtype}.", nameof(images));

        using var scope = NewDisposeScope();
        var unit = Denormalize(images.detach());
        using var bytes = unit.to(ScalarType.Float32).mul(Scalars.Of(255)).round_().to(ScalarType.Byte)
            .permute(0, 2, 3, 1) // [B, H, W, 3]
            .contiguous()
            .cpu()
            .MoveToOuterDisposeScope();

        int count = (int)images.shape[0], height = (int)images.shape[2], width = (int)images.shape[3];
        int imageBytes = height * width * 3;
        return Enumerable.Range(0, count)
            .Select(i => new RgbImage(width, height, TorchNative.CopyBytes(bytes, (long)i * imageBytes, imageBytes)))
            .ToList();
    }

    /// <summary>VAE output → [0, 1]: <c>clamp(x/2 + 0.5, 0, 1)</c> in the tensor's own dtype, as diffusers'
    /// <c>VaeImageProcessor.denormalize</c> (the reference parity's "pt" image is this).</summary>
    internal static Tensor Denormalize(Tensor images) =>
        images.div(Scalars.Of(2)).add_(Scalars.Of(0.5), alpha: Scalars.One).clamp_(Scalars.Zero, Scalars.One);
}
