using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Lora;

/// <summary>
/// The Linear weights of a transformer a LoRA may change, by module name (diffusers naming, as the model's
/// parameters), with their [out, in] shapes, and the names LoRA files use for them: dotted (PEFT, diffusers, AI-Toolkit,
/// the original Z-Image <c>attention.qkv</c>/<c>attention.out</c>) or kohya's underscored form.
/// </summary>
public sealed class LoraTargets
{
    private readonly Dictionary<string, long[]> _shapes;
    private readonly Dictionary<string, string> _underscored;

    /// <param name="parameters">Parameter names and shapes (read before a placer empties the parameters).</param>
    public LoraTargets(IEnumerable<(string Name, long[] Shape)> parameters)
    {
        _shapes = parameters.Where(p => p.Shape.Length == 2 && p.Name.EndsWith(".weight", StringComparison.Ordinal))
            .ToDictionary(p => p.Name[..^".weight".Length], p => p.Shape, StringComparer.Ordinal);
        _underscored = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var module in _shapes.Keys)
        {
            _underscored[Underscore(module)] = module;
            // The original names kohya-style trainers see on the native checkpoint.
            if (module.EndsWith(".attention.to_q", StringComparison.Ordinal))
                _underscored[Underscore(module[..^"to_q".Length] + "qkv")] = module[..^"to_q".Length] + "qkv";
            if (module.EndsWith(".attention.to_out.0", StringComparison.Ordinal))
                _underscored[Underscore(module[..^"to_out.0".Length] + "out")] = module[..^"to_out.0".Length] + "out";
            if (module.StartsWith("all_x_embedder.", StringComparison.Ordinal)) _underscored["x_embedder"] = "x_embedder";
            if (module.StartsWith("all_final_layer.", StringComparison.Ordinal))
                _underscored[Underscore("final_layer." + module[(module.IndexOf('.', "all_final_layer.".Length) + 1)..])] =
                    "final_layer." + module[(module.IndexOf('.', "all_final_layer.".Length) + 1)..];
        }
    }

    public static LoraTargets Of(TorchSharp.torch.nn.Module model) =>
        new(model.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList());

    public IReadOnlyCollection<string> Modules => _shapes.Keys;

    public long[]? ShapeOf(string module) => _shapes.TryGetValue(module, out var s) ? s : null;

    /// <summary>A module name as the file spells it (dotted, without the file's prefix) → the model's module names it
    /// covers and the rows of its delta each one takes: one whole target, or q, k, v for a fused qkv. Null when the
    /// model has no such Linear.</summary>
    public IReadOnlyList<(string Module, long RowStart, long Rows)>? Resolve(string dotted)
    {
        string module = CheckpointKeyMap.TransformerName(dotted + ".weight")[..^".weight".Length];
        if (module.EndsWith(".attention.qkv", StringComparison.Ordinal))
        {
            string block = module[..^"qkv".Length];
            var parts = new[] { "to_q", "to_k", "to_v" }.Select(p => block + p).ToArray();
            if (parts.Any(p => !_shapes.ContainsKey(p))) return null;
            long rows = _shapes[parts[0]][0];
            return parts.Select((p, i) => (p, i * rows, rows)).ToList();
        }
        return _shapes.TryGetValue(module, out var shape) ? [(module, 0L, shape[0])] : null;
    }

    /// <summary>kohya's <c>layers_0_attention_to_q</c> → <c>layers.0.attention.to_q</c> (a name the model knows), or null.</summary>
    public string? FromUnderscored(string underscored) => _underscored.TryGetValue(underscored, out var m) ? m : null;

    private static string Underscore(string module) => module.Replace('.', '_');
}
