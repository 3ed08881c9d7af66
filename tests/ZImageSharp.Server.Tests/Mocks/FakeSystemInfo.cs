using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Tests.Mocks;

public sealed class FakeSystemInfo(IImageGenerator generator) : ISystemInfo
{
    public SystemReport Describe() => new(
        "cuda:0",
        "2.10.0+cu128 (fake)",
        [new GpuReport(0, "NVIDIA GeForce RTX 4090 (fake)", 24L << 30, 14L << 30, 6L << 30, 8L << 30, 9L << 30, 2L << 30, "570.86")],
        generator.Model,
        "text encoder evicted after encode; DiT resident bf16; VAE decode tiled");
}
