using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>A temporary folder removed with the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("zimage-weights-").FullName;

    public string File(string name)
    {
        string full = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A source of names and shapes only (a checkpoint manifest); reading data is not possible.</summary>
internal sealed class ManifestSource(string origin, IReadOnlyDictionary<string, (string DType, long[] Shape)> tensors) : IWeightSource
{
    public string Origin => origin;
    public IReadOnlyCollection<string> Names => tensors.Keys.ToList();
    public bool Contains(string name) => tensors.ContainsKey(name);

    public SafetensorsEntry Describe(string name)
    {
        var (dtype, shape) = tensors[name];
        long elements = shape.Aggregate(1L, (n, d) => n * d);
        return new SafetensorsEntry(name, dtype, shape, 0, SafetensorsDType.ByteCount(dtype, elements));
    }

    public torch.Tensor Read(string name) => throw new InvalidOperationException("A manifest has no tensor data.");
    public void Dispose() { }
}

internal static class WeightTestKit
{
    public static Dictionary<string, torch.Tensor> ReadAll(IWeightSource source) =>
        source.Names.ToDictionary(n => n, source.Read, StringComparer.Ordinal);

    public static void AssertSameTensor(torch.Tensor expected, torch.Tensor actual, string name)
    {
        Assert.True(expected.dtype == actual.dtype, $"{name}: dtype {actual.dtype}, expected {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{name}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var a = expected.to(torch.ScalarType.Float64);
        using var b = actual.to(torch.ScalarType.Float64);
        double maxDiff = expected.numel() == 0 ? 0 : (a - b).abs().max().item<double>();
        Assert.True(maxDiff == 0, $"{name}: differs by up to {maxDiff}");
    }

    /// <summary>The real models' names and shapes (tests/data/reference/real_manifests.json), all as <paramref name="dtype"/>.</summary>
    public static Dictionary<string, long[]> RealManifest(string component)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(TestData.Reference("real_manifests.json")));
        return doc.RootElement.GetProperty(component).EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(d => d.GetInt64()).ToArray(), StringComparer.Ordinal);
    }

    /// <summary>Copies a valid file with an edited JSON header (the data section is kept byte for byte).</summary>
    public static string WithHeader(string source, string target, Action<JsonObject> edit)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(source);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))!.AsObject();
        edit(header);
        return WithRawHeader(target, Encoding.UTF8.GetBytes(header.ToJsonString()), bytes.AsSpan(8 + (int)headerLength));
    }

    public static string WithRawHeader(string target, byte[] header, ReadOnlySpan<byte> data)
    {
        using var stream = System.IO.File.Create(target);
        stream.Write(BitConverter.GetBytes((long)header.Length));
        stream.Write(header);
        stream.Write(data);
        return target;
    }
}
