using TorchSharp;

namespace ZImageSharp.Engine.Tests;

public class SmokeTests
{
    [Fact]
    public void SeededCpuNoiseEqualsPyTorch()
    {
        // PyTorch: torch.manual_seed(42); torch.randn(5)
        torch.manual_seed(42);
        var values = torch.randn(5).data<float>().ToArray();
        Assert.Equal(new[] { 0.3367f, 0.1288f, 0.2345f, 0.2303f, -1.1229f }, values.Select(v => MathF.Round(v, 4)));
    }
}
