using TorchSharp;
using ZImageSharp.Engine.Imaging;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Imaging;

public class LatentPreviewTests
{
    [Fact]
    public void ZeroLatentShowsTheBiasColour()
    {
        var preview = LatentPreview.Render(zeros(16, 128, 128));

        Assert.Equal((128, 128), (preview.Width, preview.Height));
        Assert.Equal(128 * 128 * 3, preview.Rgb.Length);
        // ((bias + 1) / 2) · 255 for bias (-0.0329, -0.0718, -0.0851): 123.30, 118.35, 116.65.
        Assert.Equal(new byte[] { 123, 118, 117 }, preview.Rgb[..3]);
        Assert.Equal(preview.Rgb[..3], preview.Rgb[^3..]);
    }

    [Fact]
    public void EachChannelContributesItsFactors()
    {
        var latent = zeros(16, 8, 8);
        latent[4] = ones(8, 8); // factors (0.0859, 0.0721, 0.0329)
        var preview = LatentPreview.Render(latent);
        // (0.0859 - 0.0329 + 1) / 2 · 255 = 134.26, (0.0721 - 0.0718 + 1) / 2 · 255 = 127.54, (0.0329 - 0.0851 + 1) / 2 · 255 = 120.84
        Assert.Equal(new byte[] { 134, 128, 121 }, preview.Rgb[..3]);
    }

    [Theory]
    [InlineData(new long[] { 16, 256, 192 }, 96, 128)]
    [InlineData(new long[] { 1, 16, 64, 100 }, 100, 64)]
    [InlineData(new long[] { 16, 1, 300, 40 }, 17, 128)]
    [InlineData(new long[] { 16, 128, 128 }, 128, 128)]
    public void FitsTheLongSideIntoTheLimit(long[] shape, int width, int height)
    {
        manual_seed(1);
        var preview = LatentPreview.Render(randn(shape, dtype: ScalarType.BFloat16));
        Assert.Equal((width, height), (preview.Width, preview.Height));
        Assert.Equal(width * height * 3, preview.Rgb.Length);
        // Noise of unit variance spreads over the range without saturating it.
        double mean = preview.Rgb.Average(b => b);
        Assert.InRange(mean, 100, 140);
        Assert.True(preview.Rgb.Distinct().Count() > 20);
    }

    [Fact]
    public void DownscalingAveragesAreas()
    {
        var latent = zeros(16, 4, 256);
        latent[4, .., ..128] = full(4, 128, 2f);
        var preview = LatentPreview.Render(latent, maxSide: 64);

        Assert.Equal((64, 1), (preview.Width, preview.Height));
        // Left half: channel 4 = 2 → R (0.1718 - 0.0329 + 1)/2 · 255 = 145.2; right half: bias only → 123.
        Assert.Equal(145, preview.Rgb[0]);
        Assert.Equal(123, preview.Rgb[^3]);
    }

    [Fact]
    public void RejectsLatentsOfOtherChannelCounts() =>
        Assert.Throws<ArgumentException>(() => LatentPreview.Render(zeros(4, 64, 64)));
}
