using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models;
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
    /// True for the checkpoint keys whose weights stay float32 in every model dtype (and are computed in float32): the
    /// timestep embedder, the adaLN modulation Linear of every modulated block and the whole final layer. Together
    /// they produce the conditioning vector, every block's scales and gates (tanh turns the relative error of a large
    /// gate logit into an absolute error of the gate, which multiplies a whole branch) and the output projection.
    /// On the reference fixtures they carry over half of the bf16 error (docs/model.md, "Precision"), and at the
    /// released size they are 128 M of 6.15 G parameters: 2.1 % of the weights, +256 MB over bf16.
    /// A placement that stores weights in bf16 or fp8 must keep these in float32, and the memory planner sizes them at
    /// four bytes (<see cref="ModelMemoryDescription"/>).
    /// </summary>
    public static bool KeepsFloat32(string key) =>
        key.StartsWith("t_embedder.", StringComparison.Ordinal)
        || key.StartsWith("all_final_layer.", StringComparison.Ordinal)
        || key.Contains(".adaLN_modulation.", StringComparison.Ordinal);

    /// <summary>
    /// The streamable block a checkpoint key belongs to (<see cref="StreamableBlocks"/>' prefixes: "noise_refiner.0",
    /// "context_refiner.1", "layers.12") and which tokens it reads, or false for a tensor outside blocks.
    /// </summary>
    public static bool TryParseBlock(string key, out string name, out BlockInput input, out int order)
    {
        var match = BlockKey().Match(key);
        name = match.Success ? match.Groups["name"].Value : "";
        int stage;
        (input, stage) = match.Groups["kind"].Value switch
        {
            "noise_refiner" => (BlockInput.ImageTokens, 0),
            "context_refiner" => (BlockInput.CaptionTokens, 1),
            _ => (BlockInput.AllTokens, 2),
        };
        // Execution order: noise refiner, context refiner, main layers, each by index (no config has 10,000 layers).
        order = match.Success ? stage * 10_000 + int.Parse(match.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
        return match.Success;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(?<name>(?<kind>layers|noise_refiner|context_refiner)\.(?<index>[0-9]+))\.")]
    private static partial System.Text.RegularExpressions.Regex BlockKey();

    /// <summary>The dtype the model computes in (that of its weights outside the float32 islands).</summary>
    public ScalarType DType => x_pad_token.dtype;

    /// <summary>Where the resident (non-streamed) weights live and where the forward pass computes.</summary>
    public Device Device => x_pad_token.device;

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rope.Dispose();
        base.Dispose(disposing);
    }
}
