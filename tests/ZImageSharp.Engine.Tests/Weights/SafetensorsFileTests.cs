using TorchSharp;
using ZImageSharp.Engine.Weights;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

public class SafetensorsFileTests
{
    public static TheoryData<string> DTypes => new(SafetensorsDType.Known);

    [Theory]
    [MemberData(nameof(DTypes))]
    public void EveryDTypeRoundTripsThroughWriterAndReader(string dtype)
    {
        using var dir = new TempFolder();
        var type = SafetensorsDType.ToScalarType(dtype);
        // Values every dtype holds exactly (bool: 0/1; fp8: small integers), so equality is exact.
        using var values = (torch.arange(0, 24, torch.ScalarType.Float32).reshape(2, 3, 4) % 7 - 3).to(type);
        using var scalar = torch.tensor(5.0f).to(type);
        string path = dir.File("all.safetensors");
        SafetensorsWriter.Write(path, [new("values", values), new("scalar", scalar)], new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        var entry = file.Describe("values");
        Assert.Equal(dtype, entry.DType);
        Assert.Equal(new long[] { 2, 3, 4 }, entry.Shape);
        Assert.Equal(24L * SafetensorsDType.ElementSize(dtype), entry.ByteCount);
        using var read = file.Read("values");
        AssertSameTensor(values, read, "values");
        using var readScalar = file.Read("scalar");
        AssertSameTensor(scalar, readScalar, "scalar");
    }

    [Fact]
    public void WriterAlignsTheDataSectionTo8Bytes()
    {
        using var dir = new TempFolder();
        string path = dir.File("a.safetensors");
        using var t = torch.ones(3, torch.ScalarType.Int8);
        SafetensorsWriter.Write(path, [new("odd_name_x", t)]);
        long headerLength = BitConverter.ToInt64(File.ReadAllBytes(path), 0);
        Assert.Equal(0, headerLength % 8);
    }

    [Fact]
    public void ReadRowsReadsOnlyThoseRows()
    {
        using var dir = new TempFolder();
        string path = dir.File("rows.safetensors");
        using var fused = torch.arange(0, 36, torch.ScalarType.Float32).reshape(6, 2, 3);
        SafetensorsWriter.Write(path, [new("fused", fused)]);
        using var file = SafetensorsFile.Open(path);
        using var rows = file.ReadRows("fused", 2, 3);
        using var expected = fused.narrow(0, 2, 3);
        AssertSameTensor(expected, rows, "fused[2:5]");
    }

    [Fact]
    public void LargeTensorsAreReadInParallelChunksExactly()
    {
        // 40 MB: above the parallel-read threshold, with a length that does not divide evenly into the chunks.
        using var dir = new TempFolder();
        string path = dir.File("large.safetensors");
        using var large = torch.arange(0, 10_000_003, torch.ScalarType.Int32);
        SafetensorsWriter.Write(path, [new("large", large)]);
        using var file = SafetensorsFile.Open(path);
        using var read = file.Read("large");
        Assert.Equal(10_000_003L, read.numel());
        Assert.True(large.eq(read).all().item<bool>());
    }

    [SkippableFact]
    public void ReadsTheReferenceFixture()
    {
        TestData.RequireReference("dit_weights.safetensors");
        using var file = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"));
        Assert.Equal(73, file.Names.Count);
        var entry = file.Describe("layers.0.attention.to_q.weight");
        Assert.Equal("F32", entry.DType);
        Assert.Equal(new long[] { 32, 32 }, entry.Shape);
        using var t = file.Read("layers.0.attention.to_q.weight");
        Assert.True(float.IsFinite(t.abs().sum().item<float>()));
    }

    [Fact]
    public void BenchmarkCountsEveryByteOfEveryTensor()
    {
        using var dir = new TempFolder();
        string path = dir.File("bench.safetensors");
        using var a = torch.zeros(1000, torch.ScalarType.BFloat16);
        using var b = torch.zeros(10, 10, torch.ScalarType.Float32);
        SafetensorsWriter.Write(path, [new("a", a), new("b", b)]);
        using var file = SafetensorsFile.Open(path);
        var result = WeightReadBenchmark.Run(file, passes: 2);
        Assert.Equal(2, result.Tensors);
        Assert.Equal(2000L + 400L, result.Bytes);
        Assert.Equal(2, result.PassTimes.Count);
    }
}
