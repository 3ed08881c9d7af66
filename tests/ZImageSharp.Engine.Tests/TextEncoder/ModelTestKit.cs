using System.Text.Json;
using TorchSharp;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests;

/// <summary>Shared helpers of the text-encoder and VAE tests: fixture reading, relative error, manifest comparison.</summary>
internal static class ModelTestKit
{
    /// <summary>‖actual − expected‖ / ‖expected‖ in float64.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var a = actual.to(ScalarType.Float64);
        using var e = expected.to(ScalarType.Float64);
        using var diff = a - e;
        return diff.norm().item<double>() / e.norm().item<double>();
    }

    public static Tensor ReadTensor(string fixtureFile, string name)
    {
        using var file = SafetensorsFile.Open(TestData.Reference(fixtureFile));
        return file.Read(name);
    }

    /// <summary>The "config" object of a fixture's JSON (or another top-level key) as JSON text.</summary>
    public static string ConfigJson(string fixtureJson, string key = "config")
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(fixtureJson)));
        return doc.RootElement.GetProperty(key).GetRawText();
    }

    /// <summary>Name → shape of one model in real_manifests.json, with any <c>model.</c> prefix removed.</summary>
    public static Dictionary<string, long[]> RealManifest(string component)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference("real_manifests.json")));
        return doc.RootElement.GetProperty(component).EnumerateObject().ToDictionary(
            p => p.Name.StartsWith("model.", StringComparison.Ordinal) ? p.Name["model.".Length..] : p.Name,
            p => p.Value.EnumerateArray().Select(d => d.GetInt64()).ToArray());
    }

    public static long RealParamCount(string component)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference("real_manifests.json")));
        return doc.RootElement.GetProperty(component + "_param_count").GetInt64();
    }

    /// <summary>Fails listing every missing, unexpected and misshaped name at once.</summary>
    public static void AssertManifest(IReadOnlyDictionary<string, long[]> expected, nn.Module module)
    {
        var actual = module.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var missing = expected.Keys.Where(k => !actual.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = actual.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var misshaped = expected.Where(e => actual.TryGetValue(e.Key, out var s) && !s.SequenceEqual(e.Value))
            .Select(e => $"{e.Key}: expected [{string.Join(", ", e.Value)}], model [{string.Join(", ", actual[e.Key])}]")
            .ToList();
        if (missing.Count + unexpected.Count + misshaped.Count == 0) return;
        Assert.Fail($"Model parameters differ from the manifest.\nMissing ({missing.Count}): {string.Join(", ", missing)}\n"
            + $"Unexpected ({unexpected.Count}): {string.Join(", ", unexpected)}\nMisshaped ({misshaped.Count}): {string.Join("; ", misshaped)}");
    }

    public static long ParamCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}

/// <summary>Tensors held in memory as a weight source (renamed or synthetic weights in tests).</summary>
internal sealed class InMemoryWeightSource(string origin, IReadOnlyDictionary<string, Tensor> tensors) : IWeightSource
{
    public string Origin { get; } = origin;
    public IReadOnlyCollection<string> Names => tensors.Keys.ToList();
    public bool Contains(string name) => tensors.ContainsKey(name);
    public SafetensorsEntry Describe(string name) => new(name, "F32", tensors[name].shape, 0, 0);
    public Tensor Read(string name) => tensors[name].clone();

    /// <summary>Every tensor of a safetensors file whose key starts with <paramref name="prefix"/>, prefix removed.</summary>
    public static InMemoryWeightSource FromFile(string path, string prefix = "")
    {
        using var file = SafetensorsFile.Open(path);
        var tensors = file.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], file.Read);
        return new InMemoryWeightSource(path, tensors);
    }

    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
