using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Planning;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (ZImageTransformer2DModel)

/// <summary>
/// The Z-Image S3-DiT (diffusers <c>ZImageTransformer2DModel</c>). Parameter names are the diffusers checkpoint keys.
/// It runs in the dtype of its weights, with float32 islands: where the reference has them (timestep sinusoid, RoPE,
/// RMSNorm statistics) and the small conditioning path whose weights stay float32 (<see cref="KeepsFloat32"/>).
/// Inputs are lists because every sample keeps its own image size and caption length.
/// </summary>
public sealed partial class ZImageTransformer : nn.Module<IReadOnlyList<Tensor>, Tensor, IReadOnlyList<Tensor>, Tensor[]>
{
    private readonly RotaryEmbedding3D _rope;
    private readonly StreamableBlock[] _streamableBlocks;
    private readonly string[] _precisionSensitivePrefixes;

#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly ModuleDict<Linear> all_x_embedder;
    private readonly ModuleDict<FinalLayer> all_final_layer;
    private readonly ModuleList<ZImageTransformerBlock> noise_refiner;
    private readonly ModuleList<ZImageTransformerBlock> context_refiner;
    private readonly TimestepEmbedder t_embedder;
    private readonly Sequential cap_embedder;
    private readonly Parameter x_pad_token;
    private readonly Parameter cap_pad_token;
    private readonly ModuleList<ZImageTransformerBlock> layers;
#pragma warning restore IDE1006

    /// <summary>
    /// Builds the model with uninitialised-for-inference weights (load them with <c>WeightLoader.LoadInto</c>).
    /// </summary>
    /// <param name="config">Validated here; an invalid config throws <see cref="Errors.CheckpointException"/>.</param>
    /// <param name="device">Where the parameters are created; the meta device builds names and shapes only.</param>
    /// <param name="dtype">Parameter dtype (float32 by default; bfloat16 for GPU inference).</param>
    public ZImageTransformer(ZImageTransformerConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(ZImageTransformer))
    {
        config.Validate();
        Config = config;
        int dim = config.Dim;

        var embedders = new List<(string, Linear)>();
        var finals = new List<(string, FinalLayer)>();
        for (int i = 0; i < config.AllPatchSize.Count; i++)
        {
            int p = config.AllPatchSize[i], f = config.AllFPatchSize[i];
            var key = ZImageTransformerConfig.PatchKey(p, f);
            int patchDim = f * p * p * config.InChannels;
            embedders.Add((key, nn.Linear(patchDim, dim, hasBias: true, device, dtype)));
            finals.Add((key, new FinalLayer(dim, p * p * f * config.OutChannels, config.AdaLnEmbedDim, device, ScalarType.Float32)));
        }
        all_x_embedder = nn.ModuleDict(embedders.ToArray());
        all_final_layer = nn.ModuleDict(finals.ToArray());
        noise_refiner = nn.ModuleList(Enumerable.Range(0, config.NRefinerLayers)
            .Select(_ => new ZImageTransformerBlock(config, modulated: true, device, dtype)).ToArray());
        context_refiner = nn.ModuleList(Enumerable.Range(0, config.NRefinerLayers)
            .Select(_ => new ZImageTransformerBlock(config, modulated: false, device, dtype)).ToArray());
        t_embedder = new TimestepEmbedder(config.AdaLnEmbedDim, device, ScalarType.Float32);
        cap_embedder = nn.Sequential(
            ("0", PlacedNorm.Create(config.CapFeatDim, config.NormEps, device, dtype)),
            ("1", nn.Linear(config.CapFeatDim, dim, hasBias: true, device, dtype)));
        // Zeros like diffusers (the official code leaves them uninitialised); the checkpoint overwrites both.
        x_pad_token = new Parameter(zeros(1, dim, dtype: dtype, device: device));
        cap_pad_token = new Parameter(zeros(1, dim, dtype: dtype, device: device));
        layers = nn.ModuleList(Enumerable.Range(0, config.NLayers)
            .Select(_ => new ZImageTransformerBlock(config, modulated: true, device, dtype)).ToArray());
        _rope = new RotaryEmbedding3D(config.RopeTheta, config.AxesDims, config.AxesLens);

        RegisterComponents();

        _streamableBlocks = [
            .. noise_refiner.Select((b, i) => new StreamableBlock($"noise_refiner.{i}", b)),
            .. context_refiner.Select((b, i) => new StreamableBlock($"context_refiner.{i}", b)),
            .. layers.Select((b, i) => new StreamableBlock($"layers.{i}", b)),
        ];
        _precisionSensitivePrefixes = PrecisionSensitive(config, _streamableBlocks).ToArray();
    }

    public ZImageTransformerConfig Config { get; }

    /// <summary>Called around each streamable block during <see cref="forward"/>; null (the default) for none.</summary>
    public IBlockHook? BlockHook { get; set; }

    /// <summary>
    /// Per-op timing of the forward pass: while set, every block op (norms, projections, RoPE, SDPA, SwiGLU, gated
    /// residuals, adaLN) and the forward's own stages (embedding, block hooks, final layer) call
    /// <see cref="IOpTimer.Begin"/>/<see cref="IOpTimer.End"/> with their name; names repeat across blocks, so the
    /// timer aggregates. Null (the default) costs one null test per op. Use <see cref="SynchronizedOpTimer"/> for GPU
    /// times.
    /// </summary>
    public IOpTimer? Profile
    {
        get => _profile;
        set
        {
            _profile = value;
            foreach (var block in _streamableBlocks) ((ZImageTransformerBlock)block.Module).Timer = value;
        }
    }
    private IOpTimer? _profile;

    /// <summary>
    /// The repeated blocks, in execution order: noise refiner, context refiner, then the main layers. They hold
    /// almost all the weights (30 main layers ≈ 5.4 G of 6.15 G parameters) and each can be streamed as a unit.
    /// </summary>
    public IReadOnlyList<StreamableBlock> StreamableBlocks => _streamableBlocks;

    /// <summary>
    /// Checkpoint key prefixes a planner should keep in bf16 (never fp8): pad tokens, embedders, the final layer,
    /// and inside every block the adaLN Linear and the RMSNorm gains (diffusers' _skip_layerwise_casting_patterns,
    /// extended to the small tensors whose rounding reaches every token).
    /// </summary>
    public IReadOnlyList<string> PrecisionSensitivePrefixes => _precisionSensitivePrefixes;

    /// <summary>
    /// True for the checkpoint keys whose weights stay float32 in every model dtype (and are computed in float32): the
    /// timestep embedder, the adaLN modulation Linear of every modulated block and the whole final layer. Together
    /// they produce the conditioning vector, every block's scales and gates (tanh turns the relative error of a large
    /// gate logit into an absolute error of the gate, which multiplies a whole branch) and the output projection.
    /// On the reference fixtures they carry over half of the bf16 error (docs/model.md, "Precision"), and at the
    /// released size they are 128 M of 6.15 G parameters: 2.1 % of the weights, +256 MB over bf16.
    /// A placement that stores weights in bf16 or fp8 must keep these in float32. The rule lives in Core
    /// (<see cref="WeightPrecisionPolicy.KeepsFloat32"/>) so the memory planner sizes them at four bytes.
    /// </summary>
    public static bool KeepsFloat32(string key) => WeightPrecisionPolicy.KeepsFloat32(Component.Transformer, key);

    /// <summary>The dtype the model computes in (that of its weights outside the float32 islands).</summary>
    public ScalarType DType => x_pad_token.dtype;

    /// <summary>Where the resident (non-streamed) weights live and where the forward pass computes.</summary>
    public Device Device => x_pad_token.device;

    private static IEnumerable<string> PrecisionSensitive(ZImageTransformerConfig config, IEnumerable<StreamableBlock> blocks)
    {
        yield return "x_pad_token";
        yield return "cap_pad_token";
        yield return "all_x_embedder.";
        yield return "t_embedder.";
        yield return "cap_embedder.";
        yield return "all_final_layer.";
        foreach (var block in blocks)
        {
            foreach (var norm in new[] { "attention_norm1", "attention_norm2", "ffn_norm1", "ffn_norm2" })
                yield return $"{block.Prefix}.{norm}.";
            if (config.QkNorm)
            {
                yield return $"{block.Prefix}.attention.norm_q.";
                yield return $"{block.Prefix}.attention.norm_k.";
            }
            if (((ZImageTransformerBlock)block.Module).IsModulated)
                yield return $"{block.Prefix}.adaLN_modulation.";
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rope.Dispose();
        base.Dispose(disposing);
    }
}
