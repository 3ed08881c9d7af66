using System.Text;
using System.Text.Json.Nodes;
using TorchSharp;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>One test per kind of damage: each message must name the file, the tensor (where one is to blame) and the problem.</summary>
public sealed class MalformedInputTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly string _valid;

    public MalformedInputTests()
    {
        // first: F32 [2,3] at [0,24); second: BF16 [4] at [24,32); third: I64 [3] at [32,56).
        _valid = _dir.File("valid.safetensors");
        using var first = torch.arange(0, 6, torch.ScalarType.Float32).reshape(2, 3);
        using var second = torch.ones(4, torch.ScalarType.BFloat16);
        using var third = torch.arange(0, 3, torch.ScalarType.Int64);
        SafetensorsWriter.Write(_valid, [new("first", first), new("second", second), new("third", third)]);
    }

    public void Dispose() => _dir.Dispose();

    private static CheckpointException Fails(Action open) => Assert.Throws<CheckpointException>(open);

    private static CheckpointException FailsToOpen(string path) => Fails(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void TruncatedFile()
    {
        string path = _dir.File("truncated.safetensors");
        var bytes = File.ReadAllBytes(_valid);
        File.WriteAllBytes(path, bytes[..^4]);
        var e = FailsToOpen(path);
        Assert.Contains("is truncated", e.Message);
        Assert.Contains("'third' is cut off", e.Message);
        Assert.Equal(path, e.File);
        Assert.Equal("third", e.Tensor);
    }

    [Fact]
    public void FileShorterThanTheLengthField()
    {
        string path = _dir.File("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        var e = FailsToOpen(path);
        Assert.Contains("is truncated: it has 5 bytes", e.Message);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        string path = _dir.File("long-header.safetensors");
        var bytes = File.ReadAllBytes(_valid);
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), 1_000_000L);
        File.WriteAllBytes(path, bytes);
        var e = FailsToOpen(path);
        Assert.Contains("declares a 1000000-byte JSON header", e.Message);
        Assert.Contains("beyond the end of the file", e.Message);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void HeaderThatIsNotJson()
    {
        string path = WithRawHeader(_dir.File("bad-json.safetensors"), Encoding.UTF8.GetBytes("{\"first\": {\"dtype\": "), new byte[56]);
        var e = FailsToOpen(path);
        Assert.Contains("header that is not valid JSON", e.Message);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void HeaderThatIsNotAnObject()
    {
        string path = WithRawHeader(_dir.File("array.safetensors"), Encoding.UTF8.GetBytes("[1, 2, 3]"), new byte[8]);
        var e = FailsToOpen(path);
        Assert.Contains("is a JSON Array, not an object of tensor entries", e.Message);
    }

    [Fact]
    public void EntryWithoutDataOffsets()
    {
        string path = WithHeader(_valid, _dir.File("no-offsets.safetensors"), h => h["second"]!.AsObject().Remove("data_offsets"));
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'second' needs \"dtype\"", e.Message);
        Assert.Equal("second", e.Tensor);
    }

    [Fact]
    public void OffsetsOutOfRange()
    {
        string path = WithHeader(_valid, _dir.File("out-of-range.safetensors"), h => h["second"]!["data_offsets"] = new JsonArray(1000, 1008));
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'second' has data_offsets [1000, 1008) beyond the 56-byte data section (offsets out of range)", e.Message);
        Assert.Equal("second", e.Tensor);
    }

    [Fact]
    public void NegativeOrReversedOffsets()
    {
        string path = WithHeader(_valid, _dir.File("reversed.safetensors"), h => h["second"]!["data_offsets"] = new JsonArray(32, 24));
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'second' has invalid data_offsets [32,24]", e.Message);
    }

    [Fact]
    public void OverlappingOffsets()
    {
        string path = WithHeader(_valid, _dir.File("overlap.safetensors"), h => h["second"]!["data_offsets"] = new JsonArray(16, 24));
        var e = FailsToOpen(path);
        Assert.Contains("tensors 'first' [0, 24) and 'second' [16, 24) overlap", e.Message);
        Assert.Equal("second", e.Tensor);
    }

    [Fact]
    public void UnknownDType()
    {
        string path = WithHeader(_valid, _dir.File("dtype.safetensors"), h => h["first"]!["dtype"] = "C64");
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'first' has unknown dtype 'C64' (supported: F64, F32, F16, BF16, F8_E4M3, F8_E5M2", e.Message);
        Assert.Equal("first", e.Tensor);
    }

    [Fact]
    public void ShapeThatDoesNotMatchTheByteCount()
    {
        string path = WithHeader(_valid, _dir.File("shape.safetensors"), h => h["first"]!["shape"] = new JsonArray(3, 3));
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'first' has shape [3, 3] of F32 = 36 bytes, but its data_offsets [0, 24) span 24 bytes", e.Message);
        Assert.Equal("first", e.Tensor);
    }

    [Fact]
    public void NegativeDimension()
    {
        string path = WithHeader(_valid, _dir.File("negative.safetensors"), h => h["third"]!["shape"] = new JsonArray(-3));
        var e = FailsToOpen(path);
        Assert.Contains("tensor 'third' has an invalid shape [-3]", e.Message);
    }

    [Fact]
    public void TensorListedTwice()
    {
        const string header = """{"dup":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"dup":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""";
        string path = WithRawHeader(_dir.File("dup.safetensors"), Encoding.UTF8.GetBytes(header), new byte[8]);
        var e = FailsToOpen(path);
        Assert.Contains("lists tensor 'dup' twice", e.Message);
        Assert.Equal("dup", e.Tensor);
    }

    [Fact]
    public void MissingFile()
    {
        string path = _dir.File("absent.safetensors");
        var e = FailsToOpen(path);
        Assert.Contains("Cannot open weight file", e.Message);
        Assert.Equal(path, e.File);
    }

    // ------------------------------------------------------------------ sharded indexes

    private string WriteIndex(string name, string json)
    {
        string path = _dir.File(name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ShardNamedInTheIndexIsMissing()
    {
        File.Copy(_valid, _dir.File("model-00001-of-00002.safetensors"));
        string index = WriteIndex("model.safetensors.index.json", """
            {"metadata": {"total_size": 56}, "weight_map": {"first": "model-00001-of-00002.safetensors",
             "second": "model-00002-of-00002.safetensors", "third": "model-00002-of-00002.safetensors"}}
            """);
        var e = Fails(() => SafetensorsIndex.Open(index).Dispose());
        Assert.Contains("names shard 'model-00002-of-00002.safetensors' for 2 tensors (e.g. 'second')", e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Equal(_dir.File("model-00002-of-00002.safetensors"), e.File);
        Assert.Equal("second", e.Tensor);
    }

    [Fact]
    public void TensorTheIndexNamesIsNotInItsShard()
    {
        File.Copy(_valid, _dir.File("shard.safetensors"));
        string index = WriteIndex("model.safetensors.index.json",
            """{"weight_map": {"first": "shard.safetensors", "fourth": "shard.safetensors"}}""");
        using var source = SafetensorsIndex.Open(index);
        var e = Fails(() => source.Describe("fourth"));
        Assert.Contains("places tensor 'fourth' in 'shard.safetensors', but that shard has no such tensor", e.Message);
        Assert.Equal(_dir.File("shard.safetensors"), e.File);
        Assert.Equal("fourth", e.Tensor);
    }

    [Fact]
    public void IndexWithoutWeightMap()
    {
        string index = WriteIndex("x.safetensors.index.json", """{"metadata": {}}""");
        var e = Fails(() => SafetensorsIndex.Open(index).Dispose());
        Assert.Contains("has no \"weight_map\" object", e.Message);
        Assert.Equal(index, e.File);
    }

    [Fact]
    public void IndexThatIsNotJson()
    {
        string index = WriteIndex("y.safetensors.index.json", """{"weight_map": {"first": """);
        var e = Fails(() => SafetensorsIndex.Open(index).Dispose());
        Assert.Contains("is not valid JSON", e.Message);
    }

    [Fact]
    public void IndexPointingOutsideItsFolder()
    {
        string index = WriteIndex("z.safetensors.index.json", """{"weight_map": {"first": "../elsewhere.safetensors"}}""");
        var e = Fails(() => SafetensorsIndex.Open(index).Dispose());
        Assert.Contains("not to a file name beside the index", e.Message);
        Assert.Equal("first", e.Tensor);
    }

    // ------------------------------------------------------------------ loading into a model

    private string LinearWeights(string name, params (string Name, long[] Shape)[] tensors)
    {
        string path = _dir.File(name);
        var list = tensors.Select(t => new KeyValuePair<string, torch.Tensor>(t.Name, torch.ones(t.Shape))).ToList();
        SafetensorsWriter.Write(path, list);
        foreach (var t in list) t.Value.Dispose();
        return path;
    }

    [Fact]
    public void ParameterTheModelNeedsThatNoFileHas()
    {
        string path = LinearWeights("missing.safetensors", ("weight", [2, 3]));
        using var model = torch.nn.Linear(3, 2);
        using var source = SafetensorsFile.Open(path);
        var e = Fails(() => WeightLoader.LoadInto(model, source));
        Assert.Contains("1 parameter(s) the model needs are in no weight file (missing: bias)", e.Message);
        Assert.Equal(path, e.File);
        Assert.Equal("bias", e.Tensor);
    }

    [Fact]
    public void UnexpectedExtraTensor()
    {
        string path = LinearWeights("extra.safetensors", ("weight", [2, 3]), ("bias", [2]), ("lm_head.weight", [4, 3]));
        using var model = torch.nn.Linear(3, 2);
        using var source = SafetensorsFile.Open(path);
        var e = Fails(() => WeightLoader.LoadInto(model, source));
        Assert.Contains("1 tensor(s) in the file belong to no parameter of the model (unexpected: lm_head.weight)", e.Message);
        Assert.Equal("lm_head.weight", e.Tensor);
        WeightLoader.LoadInto(model, source, ignore: name => name == "lm_head.weight"); // an explicit ignore lets it load
        Assert.Equal(3f, model.weight!.sum().item<float>() / 2);
    }

    [Fact]
    public void TensorWithTheWrongShape()
    {
        string path = LinearWeights("shape.safetensors", ("weight", [3, 2]), ("bias", [2]));
        using var model = torch.nn.Linear(3, 2);
        using var source = SafetensorsFile.Open(path);
        var e = Fails(() => WeightLoader.LoadInto(model, source));
        Assert.Contains("1 tensor(s) have the wrong shape (weight: checkpoint [3, 2], model [2, 3])", e.Message);
        Assert.Equal("weight", e.Tensor);
    }
}
