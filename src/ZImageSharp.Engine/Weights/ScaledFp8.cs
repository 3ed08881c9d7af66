using System.Text;
using System.Text.Json;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// ComfyUI's "scaled fp8" checkpoints: an fp8 <c>L.weight</c> whose real value is <c>weight × scale</c>, with the scale
/// in <c>L.scale_weight</c> (older files, marked by a <c>scaled_fp8</c> tensor) or <c>L.weight_scale</c> (newer files, with a
/// <c>L.comfy_quant</c> JSON tensor or a <c>_quantization_metadata</c> header entry naming the format). Activation scales
/// (<c>scale_input</c>/<c>input_scale</c>) only matter to fp8 matmuls, which this engine does not run, so they are dropped.
/// Formats other than per-tensor (or per-row) fp8 — nvfp4, int8 blockwise — are rejected with a clear message.
/// </summary>
internal sealed class ScaledFp8
{
    private static readonly string[] WeightScaleSuffixes = [".scale_weight", ".weight_scale"];
    private static readonly string[] DroppedSuffixes = [".scale_input", ".input_scale", ".comfy_quant"];
    private static readonly string[] UnsupportedSuffixes = [".weight_scale_2", ".pre_quant_scale"];
    private static readonly HashSet<string> SupportedFormats = new(StringComparer.Ordinal) { "float8_e4m3fn", "float8_e5m2" };

    /// <summary>Weight name → the name of its scale tensor.</summary>
    public Dictionary<string, string> Scales { get; } = new(StringComparer.Ordinal);

    /// <summary>Every tensor that describes quantization rather than being a weight itself.</summary>
    public HashSet<string> SideTensors { get; } = new(StringComparer.Ordinal);

    public static ScaledFp8 Find(IWeightSource source)
    {
        var found = new ScaledFp8();
        string origin = source.Origin;
        if (source is SafetensorsFile file && file.Metadata.TryGetValue("_quantization_metadata", out var json))
            CheckFormats(origin, "_quantization_metadata", ParseLayerFormats(origin, json));
        foreach (var name in source.Names)
        {
            if (name == "scaled_fp8" || name.EndsWith(".scaled_fp8", StringComparison.Ordinal))
            {
                found.SideTensors.Add(name);
                continue;
            }
            if (UnsupportedSuffixes.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal)) is { } unsupported)
                throw new CheckpointException(
                    $"'{origin}': tensor '{name}' belongs to a block-scaled quantization (nvfp4 or similar, '{unsupported}') that this engine does not read; " +
                    "use a bf16, fp8 (e4m3fn) or scaled fp8 file.", origin, name);
            if (DroppedSuffixes.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal)) is { } dropped)
            {
                found.SideTensors.Add(name);
                if (dropped == ".comfy_quant") CheckFormats(origin, name, [ReadLayerFormat(source, name)]);
                continue;
            }
            if (WeightScaleSuffixes.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal)) is { } suffix)
            {
                found.SideTensors.Add(name);
                string weight = name[..^suffix.Length] + ".weight";
                if (!source.Contains(weight))
                    throw new CheckpointException(
                        $"'{origin}': scale '{name}' has no weight '{weight}' to scale.", origin, name);
                var stored = source.Describe(weight);
                if (!SafetensorsDType.IsFloat8(stored.DType))
                    throw new CheckpointException(
                        $"'{origin}': weight '{weight}' has a scale '{name}' but is stored as {stored.DType}; only fp8 weights " +
                        "(F8_E4M3, F8_E5M2) with per-tensor scales are supported.", origin, weight);
                if (!found.Scales.TryAdd(weight, name))
                    throw new CheckpointException(
                        $"'{origin}': weight '{weight}' has two scales ('{found.Scales[weight]}' and '{name}').", origin, weight);
            }
        }
        return found;
    }

    private static string ReadLayerFormat(IWeightSource source, string name)
    {
        using var tensor = source.Read(name);
        byte[] bytes = tensor.to(TorchSharp.torch.ScalarType.Byte).data<byte>().ToArray();
        try
        {
            using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes));
            return doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : "(none)";
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"'{source.Origin}': quantization descriptor '{name}' is not valid JSON ({e.Message}).",
                source.Origin, name, e);
        }
    }

    private static List<string> ParseLayerFormats(string origin, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Object) return [];
            return layers.EnumerateObject().Select(l => l.Value.ValueKind switch
            {
                JsonValueKind.String => l.Value.GetString()!,
                JsonValueKind.Object when l.Value.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String => f.GetString()!,
                _ => "(none)",
            }).ToList();
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"'{origin}': header metadata '_quantization_metadata' is not valid JSON ({e.Message}).", origin, inner: e);
        }
    }

    private static void CheckFormats(string origin, string where, IEnumerable<string> formats)
    {
        var unsupported = formats.Where(f => !SupportedFormats.Contains(f)).Distinct().ToList();
        if (unsupported.Count > 0)
            throw new CheckpointException(
                $"'{origin}': '{where}' declares quantization format(s) {string.Join(", ", unsupported.Select(f => $"'{f}'"))}, which this engine does not read " +
                $"(supported: {string.Join(", ", SupportedFormats)}); use a bf16, fp8 or scaled fp8 file.", origin, where);
    }
}
