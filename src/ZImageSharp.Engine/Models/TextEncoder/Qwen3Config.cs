using ZImageSharp.Engine.Models.Common;

namespace ZImageSharp.Engine.Models.TextEncoder;

// Reference: transformers src/transformers/models/qwen3/configuration_qwen3.py (Qwen3Config)

/// <summary>
/// The fields of a transformers Qwen3 <c>config.json</c> that the encoder uses. Property names follow the JSON keys;
/// a key absent from the file takes Qwen3Config's default, and <see cref="Released"/> is Z-Image-Turbo's
/// <c>text_encoder/config.json</c> (Qwen3-4B).
/// </summary>
public sealed record Qwen3Config
{
    public int HiddenSize { get; init; } = 4096;
    public int IntermediateSize { get; init; } = 22016;
    public int NumHiddenLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    public int NumKeyValueHeads { get; init; } = 32;
    /// <summary>Per-head width. Qwen3 sets it explicitly (128), independent of hidden_size / heads.</summary>
    public int HeadDim { get; init; } = 128;
    public int VocabSize { get; init; } = 151936;
    public int MaxPositionEmbeddings { get; init; } = 32768;
    public double RopeTheta { get; init; } = 10000.0;
    public double RmsNormEps { get; init; } = 1e-6;
    public bool AttentionBias { get; init; }
    public bool TieWordEmbeddings { get; init; }

    /// <summary>Z-Image-Turbo's text encoder: Qwen3-4B (spec §4.1).</summary>
    public static Qwen3Config Released { get; } = new()
    {
        HiddenSize = 2560,
        IntermediateSize = 9728,
        NumHiddenLayers = 36,
        NumAttentionHeads = 32,
        NumKeyValueHeads = 8,
        HeadDim = 128,
        VocabSize = 151936,
        MaxPositionEmbeddings = 40960,
        RopeTheta = 1_000_000.0,
        RmsNormEps = 1e-6,
        AttentionBias = false,
        TieWordEmbeddings = true,
    };

    /// <summary>Query heads served by one key/value head (grouped-query attention).</summary>
    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>Reads a transformers <c>config.json</c> (or a fixture's {"config": {...}} wrapper).</summary>
    /// <param name="json">The file's text.</param>
    /// <param name="origin">The file's path, for error messages.</param>
    public static Qwen3Config FromJson(string json, string origin = "text_encoder/config.json") =>
        JsonConfigReader.Parse(json, origin, Read);

    public static Qwen3Config FromFile(string path) => FromJson(File.ReadAllText(path), path);

    private static Qwen3Config Read(JsonConfigReader r)
    {
        var defaults = new Qwen3Config();
        // transformers ≥ 4.56 may move rope_theta into "rope_parameters"; both spellings are accepted.
        var ropeParameters = r.Object("rope_parameters");
        double ropeTheta = r.Double("rope_theta", ropeParameters?.Double("rope_theta", defaults.RopeTheta) ?? defaults.RopeTheta);
        string ropeType = ropeParameters?.String("rope_type", "default") ?? "default";
        if (r.Object("rope_scaling") is { } scaling)
            ropeType = scaling.String("rope_type", scaling.String("type", "default"));
        if (ropeType != "default")
            throw r.Unsupported("rope_scaling", $"selects RoPE type '{ropeType}'; only the default RoPE (no scaling) is supported.");
        string act = r.String("hidden_act", "silu");
        if (act != "silu")
            throw r.Unsupported("hidden_act", $"is '{act}'; only 'silu' is supported.");

        var config = new Qwen3Config
        {
            HiddenSize = r.Int("hidden_size", defaults.HiddenSize),
            IntermediateSize = r.Int("intermediate_size", defaults.IntermediateSize),
            NumHiddenLayers = r.Int("num_hidden_layers", defaults.NumHiddenLayers),
            NumAttentionHeads = r.Int("num_attention_heads", defaults.NumAttentionHeads),
            NumKeyValueHeads = r.Int("num_key_value_heads", r.Int("num_attention_heads", defaults.NumKeyValueHeads)),
            HeadDim = r.Int("head_dim", defaults.HeadDim),
            VocabSize = r.Int("vocab_size", defaults.VocabSize),
            MaxPositionEmbeddings = r.Int("max_position_embeddings", defaults.MaxPositionEmbeddings),
            RopeTheta = ropeTheta,
            RmsNormEps = r.Double("rms_norm_eps", defaults.RmsNormEps),
            AttentionBias = r.Bool("attention_bias", defaults.AttentionBias),
            TieWordEmbeddings = r.Bool("tie_word_embeddings", defaults.TieWordEmbeddings),
        };
        if (config.NumKeyValueHeads <= 0 || config.NumAttentionHeads % config.NumKeyValueHeads != 0)
            throw r.Unsupported("num_key_value_heads",
                $"is {config.NumKeyValueHeads}, which must be positive and divide num_attention_heads ({config.NumAttentionHeads}).");
        if (config.HeadDim % 2 != 0)
            throw r.Unsupported("head_dim", $"is {config.HeadDim}; rotate-half RoPE needs an even head width.");
        foreach (var (key, value) in new[] { ("hidden_size", config.HiddenSize), ("intermediate_size", config.IntermediateSize),
                     ("num_hidden_layers", config.NumHiddenLayers), ("vocab_size", config.VocabSize), ("head_dim", config.HeadDim) })
            if (value <= 0) throw r.Unsupported(key, $"is {value}; it must be positive.");
        return config;
    }
}
