using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.TextEncoder;

// Reference: transformers src/transformers/models/qwen3/modeling_qwen3.py (Qwen3Model)

/// <summary>
/// Qwen3 decoder stack without an LM head, as Z-Image uses it: token embeddings, <see cref="BuiltLayerCount"/>
/// decoder layers and (only when every layer is built) the final RMSNorm. Parameter names equal the checkpoint keys
/// without the <c>model.</c> prefix (<c>embed_tokens.weight</c>, <c>layers.N.self_attn.q_proj.weight</c>,
/// <c>norm.weight</c>). Z-Image reads <c>hidden_states[-2]</c>, the output of the second-to-last layer before the
/// final norm, so <see cref="CreateForZImage"/> builds one layer less and no norm (spec §4.2: 3.92 B instead of 4.02 B).
/// </summary>
public sealed partial class Qwen3Model : nn.Module
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly TokenEmbedding embed_tokens;
    private readonly ModuleList<Qwen3DecoderLayer> layers;
    private readonly RmsNorm? norm;
#pragma warning restore IDE1006

    public Qwen3Config Config { get; }

    /// <summary>Called around each decoder layer during <see cref="Forward"/> (weight streaming); null for none.</summary>
    public IBlockHook? LayerHook { get; set; }

    /// <summary>The decoder layers in execution order, as units a weight streamer can move ("layers.N").</summary>
    public IReadOnlyList<StreamableBlock> StreamableBlocks => layers.Select((l, i) => new StreamableBlock($"layers.{i}", l)).ToList();

    /// <summary>The decoder layer ("layers.N", a <see cref="StreamableBlocks"/> prefix) a checkpoint key belongs to and
    /// its index, or false for a tensor outside layers. Qwen3 checkpoints name layers "model.layers.N."; some exports
    /// drop the "model." prefix.</summary>
    public static bool TryParseLayer(string key, out string name, out int index)
    {
        var match = LayerKey().Match(key);
        name = match.Success ? match.Groups["name"].Value : "";
        index = match.Success ? int.Parse(match.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
        return match.Success;
    }

    [GeneratedRegex(@"^(model\.)?(?<name>layers\.(?<index>[0-9]+))\.")]
    private static partial Regex LayerKey();

    /// <summary>
    /// Per-op timing of the layers (norms, projections, RoPE, GQA, SDPA, MLP, residuals), aggregated by name like the
    /// DiT's <see cref="ZImageTransformer.Profile"/>. Null (the default) costs one null test per op.
    /// </summary>
    public IOpTimer? Profile
    {
        get => _profile;
        set
        {
            _profile = value;
            foreach (var layer in layers) layer.Timer = value;
        }
    }
    private IOpTimer? _profile;

    /// <summary>Decoder layers present (0 … BuiltLayerCount − 1).</summary>
    public int BuiltLayerCount { get; }

    /// <summary>Whether <c>norm.weight</c> exists, i.e. every layer was built.</summary>
    public bool HasFinalNorm => norm is not null;

    /// <summary>The hidden-state index Z-Image uses: <c>hidden_states[-2]</c> = the output of layer L − 2.</summary>
    public int ZImageHiddenIndex => Config.NumHiddenLayers - 1;

    private Qwen3Model(Qwen3Config config, int layerCount, BuildTarget placement) : base(nameof(Qwen3Model))
    {
        Config = config;
        BuiltLayerCount = layerCount;
        embed_tokens = new TokenEmbedding(config.VocabSize, config.HiddenSize, placement.Device, placement.DType);
        layers = new ModuleList<Qwen3DecoderLayer>();
        for (int i = 0; i < layerCount; i++) layers.Add(new Qwen3DecoderLayer(config, placement));
        norm = layerCount == config.NumHiddenLayers ? placement.Apply(new RmsNorm(config.HiddenSize, config.RmsNormEps)) : null;
        RegisterComponents();
    }

    /// <summary>Builds the first <paramref name="layerCount"/> layers (all by default; the final norm only with all).</summary>
    public static Qwen3Model Create(Qwen3Config config, int? layerCount = null, BuildTarget? placement = null)
    {
        int count = layerCount ?? config.NumHiddenLayers;
        if (count < 0 || count > config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(layerCount), count,
                $"The layer count must be between 0 and num_hidden_layers ({config.NumHiddenLayers}).");
        return new Qwen3Model(config, count, placement ?? BuildTarget.Default);
    }

    /// <summary>Builds only what Z-Image needs: embeddings and layers 0 … L − 2 (no last layer, no final norm).</summary>
    public static Qwen3Model CreateForZImage(Qwen3Config config, BuildTarget? placement = null) =>
        Create(config, config.NumHiddenLayers - 1, placement);

    /// <summary>
    /// True for a checkpoint key of a part this model did not build (later layers, the final norm, an LM head), so a
    /// strict loader can skip exactly those and still reject anything else. Keys are without the <c>model.</c> prefix.
    /// </summary>
    public bool IsUnbuiltCheckpointKey(string key)
    {
        if (key == "norm.weight") return norm is null;
        if (key.StartsWith("lm_head.", StringComparison.Ordinal)) return true;
        return TryParseLayer(key, out _, out int index) && index >= BuiltLayerCount && index < Config.NumHiddenLayers;
    }


    /// <summary>
    /// Runs the stack and returns <c>hidden_states[outputHiddenIndex]</c> in transformers' numbering: 0 = embeddings,
    /// i = output of layer i − 1, L = final norm of the last layer's output; negative indices count from the end
    /// (−2 is what Z-Image uses). Only the layers up to the requested one run.
    /// </summary>
    /// <param name="ids">Token ids [B, S] (int64).</param>
    /// <param name="mask">Key-padding mask [B, S], 1/true = real token, or null when no row is padded (then the
    /// fused causal SDPA path runs). Rows at padded positions are garbage, as in the reference.</param>
    /// <param name="outputHiddenIndex">Which hidden state to return.</param>
    /// <returns>[B, S, hidden] in the model's dtype.</returns>
    public Tensor Forward(Tensor ids, Tensor? mask, int outputHiddenIndex)
    {
        int total = Config.NumHiddenLayers + 1;
        int index = outputHiddenIndex < 0 ? outputHiddenIndex + total : outputHiddenIndex;
        int available = norm is null ? BuiltLayerCount : total - 1;
        if (index < 0 || index > available)
            throw new ArgumentOutOfRangeException(nameof(outputHiddenIndex), outputHiddenIndex,
                $"Hidden state {outputHiddenIndex} is not available: this model built {BuiltLayerCount} of "
                + $"{Config.NumHiddenLayers} layers{(norm is null ? " and no final norm" : "")}, so indices 0 … {available} can be asked for.");
        if (ids.dim() != 2)
            throw new ArgumentException($"Token ids must be [batch, sequence]; got [{string.Join(", ", ids.shape)}].", nameof(ids));

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var kernels = AttentionKernels.Use(ids.device, AttentionKernels.TextEncoder);
        long b = ids.shape[0], s = ids.shape[1];
        var h = embed_tokens.forward(ids);                                                            // [B, S, hidden]
        var (cos, sin) = Qwen3RotaryEmbedding.Tables(s, Config.HeadDim, Config.RopeTheta, h.dtype, h.device);
        sin = Qwen3RotaryEmbedding.SignedSin(sin);                                                    // once, not per layer
        var attnMask = mask is null ? null : CausalPaddingMask(mask, b, s, h.device);
        int layersToRun = Math.Min(index, BuiltLayerCount);
        for (int i = 0; i < layersToRun; i++)
        {
            LayerHook?.BeforeBlock(i, layers[i]);
            h = layers[i].Forward(h, cos, sin, attnMask);
            LayerHook?.AfterBlock(i, layers[i]);
        }
        if (index == Config.NumHiddenLayers) h = norm!.forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Z-Image's prompt encoding for one prompt's real tokens (no padding): because padding is on the right and
    /// attention is causal, these rows equal the padded batch's kept rows (spec §1.4), and the fused causal SDPA runs.
    /// </summary>
    /// <param name="ids">The prompt's token ids [L] or [1, L] (int64, template included).</param>
    /// <returns>Caption features [L, hidden] = <c>hidden_states[-2]</c>.</returns>
    public Tensor EncodeForZImage(Tensor ids)
    {
        if (!(ids.dim() == 1 || (ids.dim() == 2 && ids.shape[0] == 1)))
            throw new ArgumentException(
                $"EncodeForZImage takes one prompt's ids as [L] or [1, L]; got [{string.Join(", ", ids.shape)}].", nameof(ids));
        using var scope = NewDisposeScope();
        var hidden = Forward(ids.view(1, -1), null, ZImageHiddenIndex);                              // [1, L, hidden]
        return hidden[0].MoveToOuterDisposeScope();
    }

    /// <summary>Boolean [B, 1, S, S]: query i sees key j iff j ≤ i and key j is a real token.</summary>
    private static Tensor CausalPaddingMask(Tensor mask, long b, long s, Device device)
    {
        using var scope = NewDisposeScope();
        var positions = Scalars.Arange(s, ScalarType.Int64, device);
        var causal = positions.unsqueeze(1) >= positions.unsqueeze(0);                                // [S, S]
        var keep = mask.to(ScalarType.Bool, device).view(b, 1, 1, s);
        // A padded query row on the diagonal keeps at least one key, so no row is all −inf (NaN in softmax);
        // those rows are discarded anyway.
        var diagonal = positions.unsqueeze(1) == positions.unsqueeze(0);
        return ((causal & keep) | diagonal).MoveToOuterDisposeScope();                               // [B, 1, S, S]
    }
}
