using System.Text.Json;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (ZImageTransformer2DModel.__init__)

/// <summary>
/// The S3-DiT hyper-parameters, named like the keys of diffusers' <c>transformer/config.json</c>. Defaults are the
/// released Z-Image-Turbo values (note: diffusers' class default <c>axes_lens</c> is [1024,512,512]; the released
/// config file says [1536,512,512]).
/// </summary>
public sealed record ZImageTransformerConfig
{
    /// <summary>Spatial patch sizes; one <c>all_x_embedder</c>/<c>all_final_layer</c> entry per (patch, f-patch) pair.</summary>
    public IReadOnlyList<int> AllPatchSize { get; init; } = [2];
    public IReadOnlyList<int> AllFPatchSize { get; init; } = [1];
    public int InChannels { get; init; } = 16;
    public int Dim { get; init; } = 3840;
    public int NLayers { get; init; } = 30;
    public int NRefinerLayers { get; init; } = 2;
    public int NHeads { get; init; } = 30;
    public int NKvHeads { get; init; } = 30;
    public double NormEps { get; init; } = 1e-5;
    public bool QkNorm { get; init; } = true;
    public int CapFeatDim { get; init; } = 2560;
    public double RopeTheta { get; init; } = 256.0;
    public double TScale { get; init; } = 1000.0;
    /// <summary>RoPE width per position axis (caption index/frame, row, column); sums to the head dimension.</summary>
    public IReadOnlyList<int> AxesDims { get; init; } = [32, 48, 48];
    /// <summary>RoPE table rows per axis: the largest position id + 1 each axis accepts.</summary>
    public IReadOnlyList<int> AxesLens { get; init; } = [1536, 512, 512];

    /// <summary>The released Z-Image-Turbo transformer (6,154,908,736 parameters).</summary>
    public static ZImageTransformerConfig Released { get; } = new();

    /// <summary>Width of the timestep embedding that drives adaLN (diffusers ADALN_EMBED_DIM, capped by dim).</summary>
    public int AdaLnEmbedDim => Math.Min(Dim, 256);

    public int HeadDim => Dim / NHeads;

    /// <summary>SwiGLU hidden width: Python's <c>int(dim / 3 * 8)</c>, no rounding to a multiple.</summary>
    public int FeedForwardDim => (int)(Dim / 3.0 * 8.0);

    public int OutChannels => InChannels;

    /// <summary>The patch the forward pass uses: the first configured pair (the release has only "2-1").</summary>
    public int PatchSize => AllPatchSize[0];
    public int FPatchSize => AllFPatchSize[0];

    /// <summary>The ModuleDict key of a (patch, f-patch) pair, e.g. "2-1".</summary>
    public static string PatchKey(int patchSize, int fPatchSize) => $"{patchSize}-{fPatchSize}";

    /// <summary>
    /// Reads diffusers' <c>transformer/config.json</c> (or a fixture's <c>{"config": {...}}</c>). Every architecture key
    /// must be present: a silently defaulted width would only surface later as a checkpoint shape mismatch.
    /// </summary>
    public static ZImageTransformerConfig FromJson(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read the transformer config '{path}': {e.Message}", path, inner: e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses config JSON text; <paramref name="origin"/> names its source in error messages.</summary>
    public static ZImageTransformerConfig Parse(string json, string origin)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw new CheckpointException($"The transformer config '{origin}' is not valid JSON: {e.Message}", origin, inner: e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("config", out var inner)
                && inner.ValueKind == JsonValueKind.Object)
                root = inner;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"The transformer config '{origin}' must hold a JSON object.", origin);

            var reader = new Reader(root);
            var config = new ZImageTransformerConfig
            {
                AllPatchSize = reader.IntArray("all_patch_size"),
                AllFPatchSize = reader.IntArray("all_f_patch_size"),
                InChannels = reader.Int("in_channels"),
                Dim = reader.Int("dim"),
                NLayers = reader.Int("n_layers"),
                NRefinerLayers = reader.Int("n_refiner_layers"),
                NHeads = reader.Int("n_heads"),
                NKvHeads = reader.Int("n_kv_heads"),
                NormEps = reader.Double("norm_eps"),
                QkNorm = reader.Bool("qk_norm"),
                CapFeatDim = reader.Int("cap_feat_dim"),
                RopeTheta = reader.Double("rope_theta"),
                TScale = reader.Double("t_scale"),
                AxesDims = reader.IntArray("axes_dims"),
                AxesLens = reader.IntArray("axes_lens"),
            };
            // Placeholders stand in for unreadable keys, so range checks only run on a fully read config.
            var problems = reader.Problems.Count > 0 ? reader.Problems : config.Problems().ToList();
            if (problems.Count > 0)
                throw new CheckpointException(
                    $"The transformer config '{origin}' cannot be used: {string.Join(" ", problems)}", origin);
            return config;
        }
    }

    /// <summary>Throws when the values cannot describe a working model, listing every problem at once.</summary>
    public void Validate()
    {
        var problems = Problems().ToList();
        if (problems.Count > 0)
            throw new CheckpointException($"The transformer config cannot be used: {string.Join(" ", problems)}");
    }

    private IEnumerable<string> Problems()
    {
        if (AllPatchSize.Count == 0 || AllPatchSize.Count != AllFPatchSize.Count)
            yield return $"all_patch_size ({AllPatchSize.Count} entries) and all_f_patch_size ({AllFPatchSize.Count}) must be non-empty and of equal length.";
        if (AllPatchSize.Any(p => p <= 0) || AllFPatchSize.Any(p => p <= 0))
            yield return "Patch sizes must be positive.";
        foreach (var (name, value) in new[] { ("in_channels", InChannels), ("dim", Dim), ("n_heads", NHeads), ("cap_feat_dim", CapFeatDim) })
            if (value <= 0) yield return $"{name} must be positive (it is {value}).";
        if (NLayers < 0 || NRefinerLayers < 0)
            yield return $"n_layers ({NLayers}) and n_refiner_layers ({NRefinerLayers}) must not be negative.";
        if (NHeads > 0 && Dim % NHeads != 0)
            yield return $"dim ({Dim}) must be divisible by n_heads ({NHeads}).";
        if (NKvHeads != NHeads)
            yield return $"n_kv_heads ({NKvHeads}) must equal n_heads ({NHeads}): the checkpoint's to_k/to_v are full width (diffusers ignores n_kv_heads).";
        if (!(NormEps > 0)) yield return $"norm_eps must be positive (it is {NormEps}).";
        if (!(RopeTheta > 0)) yield return $"rope_theta must be positive (it is {RopeTheta}).";
        if (!(TScale > 0)) yield return $"t_scale must be positive (it is {TScale}).";
        if (AxesDims.Count != 3 || AxesLens.Count != 3)
            yield return $"axes_dims ({AxesDims.Count} entries) and axes_lens ({AxesLens.Count}) must have 3 entries each (frame/caption, row, column).";
        if (AxesDims.Any(d => d <= 0 || d % 2 != 0))
            yield return $"axes_dims [{string.Join(", ", AxesDims)}] must be positive and even (RoPE rotates pairs).";
        if (AxesLens.Any(l => l <= 0))
            yield return $"axes_lens [{string.Join(", ", AxesLens)}] must be positive.";
        if (NHeads > 0 && Dim % NHeads == 0 && AxesDims.Sum() != HeadDim)
            yield return $"The head dimension dim/n_heads = {HeadDim} must equal sum(axes_dims) = {AxesDims.Sum()}.";
    }

    /// <summary>Collects type errors and missing keys instead of stopping at the first.</summary>
    private sealed class Reader(JsonElement root)
    {
        public List<string> Problems { get; } = [];

        public int Int(string key) =>
            Read(key, "an integer", e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : null, 0);

        public double Double(string key) =>
            Read(key, "a number", e => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : null, 0.0);

        public bool Bool(string key) =>
            Read(key, "true or false", e => e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : null, false);

        public IReadOnlyList<int> IntArray(string key) =>
            Read<IReadOnlyList<int>>(key, "an array of integers", e =>
                e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _))
                    ? e.EnumerateArray().Select(x => x.GetInt32()).ToArray()
                    : null, []);

        private T Read<T>(string key, string expected, Func<JsonElement, object?> convert, T placeholder)
        {
            if (!root.TryGetProperty(key, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                Problems.Add($"\"{key}\" is missing.");
                return placeholder;
            }
            if (convert(element) is T value) return value;
            Problems.Add($"\"{key}\" must be {expected}, but it is {element.GetRawText()}.");
            return placeholder;
        }
    }
}
