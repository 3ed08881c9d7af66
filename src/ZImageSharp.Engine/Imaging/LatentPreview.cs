using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Imaging;

/// <summary>
/// A cheap progress picture of a Flux-VAE latent: each latent pixel's 16 channels go through a fixed linear map to
/// RGB (no VAE decode), so one 8x-downscaled preview costs a 3×16 matrix product.
/// </summary>
/// <remarks>
/// Reference: ComfyUI comfy/latent_formats.py, class Flux (latent_rgb_factors, latent_rgb_factors_bias, commit
/// 75399d78), applied as in comfy/latent_preview.py: <c>linear(latent, factors, bias)</c>, then
/// <c>((rgb + 1) / 2).clamp(0, 1) × 255</c>. The factors act on the sampler's latent (before the VAE's
/// scale/shift), which for Z-Image is the same space as Flux's since both use the Flux VAE with 0.3611/0.1159.
/// </remarks>
public static class LatentPreview
{
    /// <summary>Longest side of a preview when the caller does not choose one.</summary>
    public const int DefaultMaxSide = 128;

    private const int LatentChannels = 16;

    // [16 latent channels][R, G, B]
    private static readonly float[,] RgbFactors =
    {
        { -0.0346f, 0.0244f, 0.0681f },
        { 0.0034f, 0.0210f, 0.0687f },
        { 0.0275f, -0.0668f, -0.0433f },
        { -0.0174f, 0.0160f, 0.0617f },
        { 0.0859f, 0.0721f, 0.0329f },
        { 0.0004f, 0.0383f, 0.0115f },
        { 0.0405f, 0.0861f, 0.0915f },
        { -0.0236f, -0.0185f, -0.0259f },
        { -0.0245f, 0.0250f, 0.1180f },
        { 0.1008f, 0.0755f, -0.0421f },
        { -0.0515f, 0.0201f, 0.0011f },
        { 0.0428f, -0.0012f, -0.0036f },
        { 0.0817f, 0.0765f, 0.0749f },
        { -0.1264f, -0.0522f, -0.1103f },
        { -0.0280f, -0.0881f, -0.0499f },
        { -0.1262f, -0.0982f, -0.0778f },
    };

    private static readonly float[] RgbBias = [-0.0329f, -0.0718f, -0.0851f];

    /// <summary>
    /// Renders <paramref name="latent"/> (<c>[16, h, w]</c>, or <c>[1, 16, h, w]</c> / <c>[16, 1, h, w]</c> as the
    /// pipeline holds one sample) of any floating dtype on any device. Larger latents are area-averaged down so the
    /// long side is at most <paramref name="maxSide"/> pixels (a 1024² image's 128² latent stays 128²).
    /// </summary>
    public static PreviewImage Render(Tensor latent, int maxSide = DefaultMaxSide)
    {
        ArgumentNullException.ThrowIfNull(latent);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        long[] shape = latent.shape;
        bool supported = shape switch
        {
            [LatentChannels, _, _] => true,
            [1, LatentChannels, _, _] or [LatentChannels, 1, _, _] => true,
            _ => false,
        };
        if (!supported)
            throw new ArgumentException(
                $"Expected a 16-channel latent [16, h, w] (or [1, 16, h, w] / [16, 1, h, w]); got [{string.Join(", ", shape)}].", nameof(latent));

        using var scope = NewDisposeScope();
        long height = shape[^2], width = shape[^1];
        var x = latent.detach().reshape(LatentChannels, height * width).to(ScalarType.Float32); // [16, h*w]

        var factors = tensor(Transpose(RgbFactors), [3, LatentChannels], device: x.device); // [3, 16]
        var bias = tensor(RgbBias, [3, 1], device: x.device);
        var rgb = mm(factors, x).add_(bias, Scalars.One).reshape(1, 3, height, width); // [1, 3, h, w]

        (long outHeight, long outWidth) = FitInside(height, width, maxSide);
        if (outHeight != height || outWidth != width)
            rgb = nn.functional.adaptive_avg_pool2d(rgb, [outHeight, outWidth]);

        using var bytes = rgb.add(Scalars.One, alpha: Scalars.One).div_(Scalars.Of(2)).clamp_(Scalars.Zero, Scalars.One)
            .mul_(Scalars.Of(255)).round_().to(ScalarType.Byte)
            .reshape(3, outHeight, outWidth)
            .permute(1, 2, 0) // [h, w, 3]
            .contiguous()
            .cpu()
            .MoveToOuterDisposeScope();
        return new PreviewImage((int)outWidth, (int)outHeight, TorchNative.CopyBytes(bytes, 0, (int)bytes.numel()));
    }

    private static (long Height, long Width) FitInside(long height, long width, int maxSide)
    {
        long longSide = Math.Max(height, width);
        if (longSide <= maxSide)
            return (height, width);
        double scale = (double)maxSide / longSide;
        return (Math.Max(1, (long)Math.Round(height * scale)), Math.Max(1, (long)Math.Round(width * scale)));
    }

    private static float[] Transpose(float[,] matrix)
    {
        int rows = matrix.GetLength(0), columns = matrix.GetLength(1);
        var transposed = new float[rows * columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                transposed[c * rows + r] = matrix[r, c];
        return transposed;
    }
}
