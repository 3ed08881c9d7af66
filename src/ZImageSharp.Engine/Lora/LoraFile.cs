using System.Security.Cryptography;
using TorchSharp;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Lora;

/// <summary>One change a LoRA file makes: <see cref="Delta"/> added to the weight of <see cref="Module"/>.</summary>
public sealed record LoraTarget(string Module, LoraDelta Delta)
{
    public string Parameter => Module + ".weight";
}

/// <summary>
/// A LoRA <c>.safetensors</c> parsed into one <see cref="LoraTarget"/> per Linear it changes. Formats (docs/lora.md):
/// PEFT/diffusers (<c>lora_A</c>/<c>lora_B</c>, prefixes <c>transformer.</c>, <c>base_model.model.</c>, none),
/// AI-Toolkit (<c>diffusion_model.</c>), kohya/musubi (<c>lora_unet_…</c>, <c>lora_down</c>/<c>lora_up</c>,
/// <c>alpha</c>), LyCORIS LoKr (<c>lokr_w1[_a,_b]</c>, <c>lokr_w2[_a,_b]</c>) and LoHa (<c>hada_w{1,2}_{a,b}</c>), each
/// on the diffusers names or the original fused <c>attention.qkv</c> / <c>attention.out</c> (a qkv delta's rows are
/// split over to_q, to_k, to_v). Every tensor must be understood: an unknown key is an error naming it.
/// </summary>
public sealed class LoraFile : IDisposable
{
    private static readonly string[] DottedPrefixes = ["base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer."];
    private static readonly string[] UnderscoredPrefixes = ["lora_unet_", "lycoris_", "lora_transformer_"];

    private static readonly string[] Suffixes =
    [
        "lora_A.weight", "lora_B.weight", "lora_down.weight", "lora_up.weight", "alpha",
        "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b",
        "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b",
    ];

    private LoraFile(string path, string format, IReadOnlyList<LoraTarget> targets, string hash)
    {
        Path = path;
        Format = format;
        Targets = targets;
        Hash = hash;
    }

    public string Path { get; }
    /// <summary>The name requests and the PNG parameters use: the file name without <c>.safetensors</c>.</summary>
    public string Name => System.IO.Path.GetFileNameWithoutExtension(Path);
    /// <summary>What was found, e.g. "kohya LoRA" or "PEFT LoRA on fused qkv".</summary>
    public string Format { get; }
    public IReadOnlyList<LoraTarget> Targets { get; }
    /// <summary>SHA-256 of the tensor data (everything after the header; A1111's "addnet" hash of a safetensors LoRA).</summary>
    public string Hash { get; }
    /// <summary>The first 12 hex digits of <see cref="Hash"/>, as A1111 writes them in "Lora hashes".</summary>
    public string ShortHash => Hash[..12];

    /// <exception cref="LoraException">The file is unreadable, holds a key this reader does not know, or a delta
    /// that does not fit the model (each message names the key).</exception>
    public static LoraFile Load(string path, LoraTargets targets)
    {
        SafetensorsFile file;
        try { file = SafetensorsFile.Open(path); }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException)
        {
            throw new LoraException($"LoRA '{path}' cannot be read: {e.Message}", path, e);
        }
        using (file)
        {
            var groups = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
            bool underscored = false, fused = false;
            string? prefixSeen = null;
            foreach (var key in file.Names.OrderBy(n => n, StringComparer.Ordinal))
            {
                string? suffix = Suffixes.FirstOrDefault(s => key.EndsWith("." + s, StringComparison.Ordinal));
                if (suffix is null)
                    throw new LoraException(UnknownKey(path, key, key.EndsWith(".dora_scale", StringComparison.Ordinal)
                        ? "DoRA (dora_scale) is not supported"
                        : "it is not a LoRA, LoKr or LoHa factor (lora_A/B, lora_down/up, alpha, lokr_*, hada_*)"), path);
                string module = key[..^(suffix.Length + 1)];
                var (resolved, prefix, isUnderscored) = ResolveModule(module, targets);
                if (resolved is null)
                    throw new LoraException(UnknownKey(path, key, $"the model has no Linear '{module}' (after the prefix '{prefix}')"), path);
                prefixSeen ??= prefix;
                underscored |= isUnderscored;
                fused |= resolved.EndsWith(".attention.qkv", StringComparison.Ordinal);
                if (!groups.TryGetValue(resolved, out var parts)) groups[resolved] = parts = new(StringComparer.Ordinal);
                if (!parts.TryAdd(suffix, key))
                    throw new LoraException($"LoRA '{path}': keys '{parts[suffix]}' and '{key}' both name {suffix} of '{resolved}'.", path);
            }
            if (groups.Count == 0) throw new LoraException($"LoRA '{path}' holds no tensors.", path);

            var result = new List<LoraTarget>();
            var kinds = new HashSet<string>();
            try
            {
                foreach (var (module, parts) in groups)
                {
                    var (kind, made) = Build(path, file, module, parts, targets);
                    kinds.Add(kind);
                    result.AddRange(made);
                }
            }
            catch
            {
                foreach (var t in result) t.Delta.Dispose();
                throw;
            }
            var duplicate = result.GroupBy(t => t.Module).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                foreach (var t in result) t.Delta.Dispose();
                throw new LoraException($"LoRA '{path}' changes '{duplicate.Key}' twice (under two names: {string.Join(", ", duplicate.Select(t => $"'{t.Delta.SourceKey}'"))}).", path);
            }
            string style = underscored ? "kohya" : prefixSeen == "diffusion_model." ? "AI-Toolkit" : "PEFT/diffusers";
            string format = $"{style} {string.Join("+", kinds.Order())}{(fused ? " on fused qkv" : "")}";
            return new LoraFile(path, format, result, DataHash(path, file));
        }
    }

    private static string UnknownKey(string path, string key, string why) => $"LoRA '{path}': key '{key}' is not understood: {why}.";

    private static (string? Module, string Prefix, bool Underscored) ResolveModule(string module, LoraTargets targets)
    {
        foreach (var p in UnderscoredPrefixes)
            if (module.StartsWith(p, StringComparison.Ordinal))
                return (targets.FromUnderscored(module[p.Length..]), p, true);
        foreach (var p in DottedPrefixes)
            if (module.StartsWith(p, StringComparison.Ordinal))
                return (Known(module[p.Length..]), p, false);
        return (Known(module), "", false);

        string? Known(string dotted) => targets.Resolve(dotted) is null ? null : dotted;
    }

    private static (string Kind, IEnumerable<LoraTarget>) Build(string path, SafetensorsFile file, string module,
        Dictionary<string, string> parts, LoraTargets targets)
    {
        var split = targets.Resolve(module)!;
        long fullRows = split.Sum(s => s.Rows);
        long columns = targets.ShapeOf(split[0].Module)![1];
        double? alpha = parts.TryGetValue("alpha", out var alphaKey) ? ReadScalar(path, file, alphaKey) : null;
        string Key(string suffix) => parts.TryGetValue(suffix, out var k) ? k
            : throw new LoraException($"LoRA '{path}': '{module}' has {string.Join(", ", parts.Values.Select(v => $"'{v}'"))} but no '{suffix}'.", path);
        bool Has(string suffix) => parts.ContainsKey(suffix);
        Tensor Read(string suffix) => ReadFloat(file, Key(suffix));

        var families = new[] { Has("lora_A.weight") || Has("lora_B.weight"), Has("lora_down.weight") || Has("lora_up.weight"),
            parts.Keys.Any(k => k.StartsWith("lokr_", StringComparison.Ordinal)), parts.Keys.Any(k => k.StartsWith("hada_", StringComparison.Ordinal)) };
        if (families.Count(f => f) != 1)
            throw new LoraException($"LoRA '{path}': '{module}' mixes factor kinds ({string.Join(", ", parts.Values.Select(v => $"'{v}'"))}).", path);

        if (families[0] || families[1])
        {
            var down = Read(families[0] ? "lora_A.weight" : "lora_down.weight");
            var up = Read(families[0] ? "lora_B.weight" : "lora_up.weight");
            long rank = down.shape[0];
            Expect(path, Key(families[0] ? "lora_A.weight" : "lora_down.weight"), down, [rank, columns], [down, up]);
            Expect(path, Key(families[0] ? "lora_B.weight" : "lora_up.weight"), up, [fullRows, rank], [down, up]);
            double scale = alpha is { } a ? a / rank : 1.0;
            string upKey = Key(families[0] ? "lora_B.weight" : "lora_up.weight");
            var made = split.Select(s => new LoraTarget(s.Module,
                new LowRankDelta(upKey, up.narrow(0, s.RowStart, s.Rows).clone(), down.clone(), scale))).ToList();
            up.Dispose();
            down.Dispose();
            return ("LoRA", made);
        }
        if (families[2])
        {
            // LyCORIS / ComfyUI: a factor given as a·b sets the rank (its b's rows) and scale = alpha/rank; with both
            // factors full the scale is 1.
            long? rank = null;
            Tensor Factor(string name)
            {
                if (Has($"lokr_{name}")) return Read($"lokr_{name}");
                using var a = Read($"lokr_{name}_a");
                using var b = Read($"lokr_{name}_b");
                rank = b.shape[0];
                return matmul(a, b);
            }
            var w1 = Factor("w1");
            var w2 = Factor("w2");
            if (w1.shape[0] * w2.shape[0] != fullRows || w1.shape[1] * w2.shape[1] != columns)
            {
                string shapes = $"kron([{string.Join(", ", w1.shape)}], [{string.Join(", ", w2.shape)}])";
                w1.Dispose(); w2.Dispose();
                throw new LoraException($"LoRA '{path}': '{module}' LoKr factors make {shapes}, not the weight's [{fullRows}, {columns}].", path);
            }
            double scale = alpha is { } a && rank is { } r ? a / r : 1.0;
            string w1Key = Key(Has("lokr_w1") ? "lokr_w1" : "lokr_w1_a");
            var made = split.Select(s => new LoraTarget(s.Module, new KroneckerDelta(w1Key, w1.clone(), w2.clone(), scale, s.RowStart, s.Rows))).ToList();
            w1.Dispose();
            w2.Dispose();
            return ("LoKr", made);
        }
        {
            var w1a = Read("hada_w1_a");
            var w1b = Read("hada_w1_b");
            var w2a = Read("hada_w2_a");
            var w2b = Read("hada_w2_b");
            Tensor[] all = [w1a, w1b, w2a, w2b];
            long rank = w1b.shape[0];
            Expect(path, Key("hada_w1_a"), w1a, [fullRows, rank], all);
            Expect(path, Key("hada_w1_b"), w1b, [rank, columns], all);
            Expect(path, Key("hada_w2_a"), w2a, [fullRows, w2b.shape[0]], all);
            Expect(path, Key("hada_w2_b"), w2b, [w2b.shape[0], columns], all);
            double scale = alpha is { } a ? a / rank : 1.0;
            // Row r of (w1a·w1b) ⊙ (w2a·w2b) needs only row r of w1a and w2a, so a fused delta is split there.
            var made = split.Select(s => new LoraTarget(s.Module, new HadamardDelta(Key("hada_w1_a"),
                w1a.narrow(0, s.RowStart, s.Rows).contiguous(), w1b.clone(), w2a.narrow(0, s.RowStart, s.Rows).contiguous(), w2b.clone(),
                scale, 0, s.Rows))).ToList();
            foreach (var t in all) t.Dispose();
            return ("LoHa", made);
        }
    }

    private static void Expect(string path, string key, Tensor tensor, long[] shape, Tensor[] dispose)
    {
        if (tensor.shape.SequenceEqual(shape)) return;
        string got = string.Join(", ", tensor.shape);
        foreach (var t in dispose) t.Dispose();
        throw new LoraException($"LoRA '{path}': '{key}' is [{got}], but this model needs [{string.Join(", ", shape)}] there.", path);
    }

    private static Tensor ReadFloat(SafetensorsFile file, string key)
    {
        using var raw = file.Read(key);
        return raw.to(ScalarType.Float32).contiguous();
    }

    private static double ReadScalar(string path, SafetensorsFile file, string key)
    {
        using var t = ReadFloat(file, key);
        if (t.numel() != 1) throw new LoraException($"LoRA '{path}': '{key}' has {t.numel()} elements; an alpha is one number.", path);
        return t.item<float>();
    }

    private static string DataHash(string path, SafetensorsFile file)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        stream.ReadExactly(length);
        stream.Position = 8 + BitConverter.ToInt64(length);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public void Dispose()
    {
        foreach (var t in Targets) t.Delta.Dispose();
    }
}

/// <summary>A LoRA file that cannot be used; the message names the file and, where one is at fault, the key.</summary>
public sealed class LoraException(string message, string path, Exception? inner = null) : Exception(message, inner)
{
    public string Path { get; } = path;
}
