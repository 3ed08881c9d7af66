using TorchSharp;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;

namespace ZImageSharp.Engine.Tests.Pipeline;

public class LatentNoiseTests
{
    [Fact]
    public void SeededNoiseEqualsPyTorchCpuRandn()
    {
        // PyTorch: torch.randn(1, 1, 1, 5, generator=torch.Generator().manual_seed(42))
        using var noise = LatentNoise.Sample(seed: 42, count: 1, channels: 1, height: 1, width: 5);
        Assert.Equal([1L, 1, 1, 5], noise.shape);
        Assert.Equal(torch.ScalarType.Float32, noise.dtype);
        Assert.Equal(DeviceType.CPU, noise.device_type);
        Assert.Equal([0.3367f, 0.1288f, 0.2345f, 0.2303f, -1.1229f], noise.data<float>().ToArray().Select(v => MathF.Round(v, 4)));
    }

    [Fact]
    public void ImageIUsesSeedPlusI()
    {
        using var batch = LatentNoise.Sample(seed: 7, count: 3, channels: 16, height: 4, width: 6);
        Assert.Equal([3L, 16, 4, 6], batch.shape);
        for (int i = 0; i < 3; i++)
        {
            using var alone = LatentNoise.Sample(seed: 7 + i, count: 1, channels: 16, height: 4, width: 6);
            using var row = batch[i].unsqueeze(0);
            Assert.True(TensorAssert.Identical(row, alone));
        }
    }

    [Fact]
    public void SeedsAreIndependentOfTheGlobalGenerator()
    {
        torch.manual_seed(1);
        using var first = LatentNoise.Sample(5, 1, 16, 2, 2);
        torch.manual_seed(2);
        using var second = LatentNoise.Sample(5, 1, 16, 2, 2);
        Assert.True(TensorAssert.Identical(first, second));
    }

    [Theory]
    [InlineData(1024, 1024, 128, 128)]
    [InlineData(768, 1344, 96, 168)]
    public void LatentSizeIsAnEighthOfTheImage(int height, int width, long latentHeight, long latentWidth) =>
        Assert.Equal((latentHeight, latentWidth), LatentNoise.LatentSize(height, width));

    [Theory]
    [InlineData(1000, 1024)]
    [InlineData(1024, 0)]
    public void LatentSizeRejectsSidesThatAreNotMultiplesOf16(int height, int width) =>
        Assert.Throws<ArgumentException>(() => LatentNoise.LatentSize(height, width));
}
