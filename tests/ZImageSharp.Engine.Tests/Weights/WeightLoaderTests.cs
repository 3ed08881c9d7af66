using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Weights;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

public sealed class WeightLoaderTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

#pragma warning disable IDE1006 // parameter names are the checkpoint keys
    private sealed class Projections : torch.nn.Module
    {
        public readonly Linear to_q = torch.nn.Linear(4, 2, hasBias: false);
        public readonly Linear to_k = torch.nn.Linear(4, 2, hasBias: false);
        public readonly Linear to_v = torch.nn.Linear(4, 2, hasBias: false);

        public Projections() : base(nameof(Projections)) => RegisterComponents();
    }
#pragma warning restore IDE1006

    [Fact]
    public void LoadsSplitConvertedAndDequantizedTensorsIntoTheirParameters()
    {
        // q and k: rows of a fused f16 tensor (read straight into the staging buffer, converted by copy_);
        // v: an fp8 weight times its scale (dequantized on read).
        using var fused = (torch.arange(0, 16, torch.ScalarType.Float32).reshape(4, 4) / 4).to(torch.ScalarType.Float16);
        using var v = (torch.arange(0, 8, torch.ScalarType.Float32).reshape(2, 4) - 4).to(SafetensorsDType.Float8E4M3);
        using var vScale = torch.tensor(0.5f);
        string path = _dir.File("mixed.safetensors");
        SafetensorsWriter.Write(path, [new("qk", fused), new("v", v), new("v_scale", vScale)]);
        var recipes = new Dictionary<string, TensorRecipe>
        {
            ["to_q.weight"] = new("qk") { Rows = (0, 2) },
            ["to_k.weight"] = new("qk") { Rows = (2, 2) },
            ["to_v.weight"] = new("v") { Scale = "v_scale" },
        };
        using var source = new KeyMappedSource(SafetensorsFile.Open(path), recipes);
        using var model = new Projections();

        WeightLoader.LoadInto(model, source);

        using var q = fused.narrow(0, 0, 2).to(torch.ScalarType.Float32);
        using var k = fused.narrow(0, 2, 2).to(torch.ScalarType.Float32);
        using var vValue = v.to(torch.ScalarType.Float32) * 0.5f;
        AssertSameTensor(q, model.to_q.weight!, "to_q");
        AssertSameTensor(k, model.to_k.weight!, "to_k");
        AssertSameTensor(vValue, model.to_v.weight!, "to_v");
        Assert.Equal(-2f, model.to_v.weight![0, 0].item<float>());
    }

    [SkippableFact]
    public void ShardedIndexLoadsLikeTheSingleFile()
    {
        TestData.RequireReference("qwen3_weights.safetensors");
        using var single = SafetensorsFile.Open(TestData.Reference("qwen3_weights.safetensors"));
        var all = ReadAll(single);
        var names = all.Keys.Order().ToList();
        var first = names.Take(names.Count / 2).ToList();
        SafetensorsWriter.Write(_dir.File("model-00001-of-00002.safetensors"), first.Select(n => new KeyValuePair<string, torch.Tensor>(n, all[n])));
        SafetensorsWriter.Write(_dir.File("model-00002-of-00002.safetensors"), names.Skip(first.Count).Select(n => new KeyValuePair<string, torch.Tensor>(n, all[n])));
        File.WriteAllText(_dir.File("model.safetensors.index.json"), System.Text.Json.JsonSerializer.Serialize(new
        {
            metadata = new { total_size = 0 },
            weight_map = names.ToDictionary(n => n, n => first.Contains(n) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"),
        }));

        using var index = SafetensorsIndex.Open(_dir.File("model.safetensors.index.json"));
        Assert.Equal(2, index.ShardPaths.Count);
        Assert.Equal(names, index.Names.Order());
        foreach (var (name, tensor) in all)
        {
            Assert.Equal(single.Describe(name).Shape, index.Describe(name).Shape);
            using var read = index.Read(name);
            AssertSameTensor(tensor, read, name);
        }
        var staged = WeightReadBenchmark.Run(index);
        Assert.Equal(single.Entries.Values.Sum(e => e.ByteCount), staged.Bytes);
    }
}
