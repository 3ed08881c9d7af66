using System.Text.RegularExpressions;

namespace ZImageSharp.Engine.Weights;

/// <summary>The tensors of one group (a block such as <c>layers.7</c>, or everything else): exact sizes from the headers.</summary>
/// <param name="StoredBytes">Bytes in the dtype the source presents (the file's dtype; bf16 for dequantized scaled fp8).</param>
/// <param name="Elements">Parameter count, to price the group in any other dtype.</param>
public sealed record TensorGroupSize(string Group, int Tensors, long Elements, long StoredBytes)
{
    public long BytesAt(int bytesPerElement) => Elements * bytesPerElement;
}

/// <summary>One component's weights, in total and per group, for the memory planner.</summary>
public sealed record ComponentInventory(ModelComponent Component, string Origin, IReadOnlyList<TensorGroupSize> Groups,
    IReadOnlyDictionary<string, long> StoredBytesByDType)
{
    public int Tensors => Groups.Sum(g => g.Tensors);
    public long Elements => Groups.Sum(g => g.Elements);
    public long StoredBytes => Groups.Sum(g => g.StoredBytes);
    public long BytesAt(int bytesPerElement) => Elements * bytesPerElement;

    /// <summary>The group named <paramref name="group"/> (e.g. <c>layers.0</c>, <c>rest</c>), or an empty one.</summary>
    public TensorGroupSize Group(string group) => Groups.FirstOrDefault(g => g.Group == group) ?? new TensorGroupSize(group, 0, 0, 0);
}

/// <summary>The inventory of a whole checkpoint.</summary>
public sealed record CheckpointInventoryReport(ComponentInventory Transformer, ComponentInventory TextEncoder, ComponentInventory Vae);

/// <summary>
/// Exact sizes of a checkpoint from its headers alone (no tensor data is read). Tensors are grouped by the repeated
/// blocks a planner may place or stream one by one — <c>layers.N</c>, <c>noise_refiner.N</c>, <c>context_refiner.N</c>
/// (DiT and text encoder), <c>encoder</c>/<c>decoder</c> (VAE) — and <c>rest</c> for everything else.
/// </summary>
public static partial class CheckpointInventory
{
    public const string Rest = "rest";

    [GeneratedRegex(@"^((?:layers|noise_refiner|context_refiner)\.\d+)\.")]
    private static partial Regex NumberedBlock();

    /// <summary>Measures a source in diffusers names (e.g. from <see cref="ComponentCheckpoint.OpenWeights"/>).</summary>
    public static ComponentInventory Measure(ModelComponent component, IWeightSource source)
    {
        var groups = new Dictionary<string, (int Tensors, long Elements, long Bytes)>(StringComparer.Ordinal);
        var byDType = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in source.Names)
        {
            var entry = source.Describe(name);
            string group = GroupOf(component, name);
            var g = groups.GetValueOrDefault(group);
            groups[group] = (g.Tensors + 1, g.Elements + entry.ElementCount, g.Bytes + entry.ByteCount);
            byDType[entry.DType] = byDType.GetValueOrDefault(entry.DType) + entry.ByteCount;
        }
        var ordered = groups.OrderBy(g => GroupOrder(g.Key)).ThenBy(g => GroupNumber(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new TensorGroupSize(g.Key, g.Value.Tensors, g.Value.Elements, g.Value.Bytes)).ToList();
        return new ComponentInventory(component, source.Origin, ordered, byDType);
    }

    /// <summary>Opens each component's weights (headers only) and measures them.</summary>
    public static CheckpointInventoryReport Measure(CheckpointLayout layout)
    {
        ComponentInventory MeasureOne(ComponentCheckpoint c)
        {
            using var source = c.OpenWeights();
            return Measure(c.Component, source);
        }
        return new CheckpointInventoryReport(MeasureOne(layout.Transformer), MeasureOne(layout.TextEncoder), MeasureOne(layout.Vae));
    }

    /// <summary>The group a tensor belongs to.</summary>
    public static string GroupOf(ModelComponent component, string name)
    {
        if (NumberedBlock().Match(name) is { Success: true } m) return m.Groups[1].Value;
        if (component == ModelComponent.Vae)
        {
            if (name.StartsWith("encoder.", StringComparison.Ordinal)) return "encoder";
            if (name.StartsWith("decoder.", StringComparison.Ordinal)) return "decoder";
        }
        return Rest;
    }

    private static int GroupOrder(string group) => group switch
    {
        _ when group.StartsWith("noise_refiner.", StringComparison.Ordinal) => 0,
        _ when group.StartsWith("context_refiner.", StringComparison.Ordinal) => 1,
        _ when group.StartsWith("layers.", StringComparison.Ordinal) => 2,
        "encoder" => 3,
        "decoder" => 4,
        _ => 5,
    };

    private static int GroupNumber(string group) =>
        group.LastIndexOf('.') is var dot and > 0 && int.TryParse(group.AsSpan(dot + 1), out int n) ? n : -1;
}
