using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Models;

/// <summary>
/// The model's memory description for the planner (<see cref="ModelFootprint"/>), made from the model code: the units
/// that stream are the modules' streamable blocks (<see cref="ZImageTransformer.TryParseBlock"/>,
/// <see cref="Qwen3Model.TryParseLayer"/>), the tensors that stay float32 are the transformer's islands
/// (<see cref="ZImageTransformer.KeepsFloat32"/>), and <see cref="StoresAsFp8"/> says which may be stored as fp8. The
/// placer stores weights by the same rules, so what the planner counts is what the engine holds.
/// </summary>
public static class ModelMemoryDescription
{
    private const int Float32Bytes = 4, Bf16Bytes = 2, Fp8Bytes = 1;

    private static readonly Lazy<ModelFootprint> ReleasedBf16 = new(() => BuildReleased(Bf16Bytes));
    private static readonly Lazy<ModelFootprint> ReleasedFloat32 = new(() => BuildReleased(Float32Bytes));

    /// <summary>True for the transformer's float32 islands (timestep embedder, adaLN modulation, final layer), which
    /// keep four bytes an element under every placement.</summary>
    public static bool KeepsFloat32(Component component, string key) =>
        component == Component.Transformer && ZImageTransformer.KeepsFloat32(key);

    /// <summary>
    /// True when <paramref name="key"/> is stored as fp8 e4m3 under an fp8 placement: only the big matrices inside
    /// streamable blocks. Embedders, the final layer, norms and the adaLN modulation never become fp8, as in diffusers'
    /// layerwise casting and SDNQ (the modulation scales every activation of a block, so its error would be
    /// multiplied); the VAE is never fp8.
    /// </summary>
    public static bool StoresAsFp8(Component component, string key, int rank) =>
        component != Component.Vae
        && rank == 2
        && key.EndsWith(".weight", StringComparison.Ordinal)
        && TryParseBlock(component, key, out _, out _, out _)
        && !KeepsFloat32(component, key)
        && !key.Contains("norm", StringComparison.Ordinal);

    /// <summary>The streamable block a key belongs to, what it reads and its place in execution order.</summary>
    public static bool TryParseBlock(Component component, string key, out string name, out BlockInput input, out int order)
    {
        input = BlockInput.AllTokens;
        switch (component)
        {
            case Component.Transformer:
                return ZImageTransformer.TryParseBlock(key, out name, out input, out order);
            case Component.TextEncoder:
                return Qwen3Model.TryParseLayer(key, out name, out order);
            default:
                name = "";
                order = -1;
                return false;
        }
    }

    /// <summary>Bytes of one tensor as the engine holds it: float32 for the islands, fp8 only where allowed, the
    /// compute dtype otherwise (<paramref name="computeElementBytes"/>: 2 for bf16, 4 under <c>--dtype fp32</c>).</summary>
    public static (long Bytes, long Fp8Bytes) Size(Component component, string key, IReadOnlyList<long> shape, int computeElementBytes)
    {
        long elements = shape.Aggregate(1L, (product, dimension) => product * dimension);
        if (KeepsFloat32(component, key)) return (elements * Float32Bytes, elements * Float32Bytes);
        bool fp8 = StoresAsFp8(component, key, shape.Count);
        return (elements * computeElementBytes, elements * (fp8 ? Fp8Bytes : computeElementBytes));
    }

    /// <summary>Groups a component's tensors (checkpoint keys or module parameter names, with shapes) into its rest
    /// and its blocks in execution order.</summary>
    public static ComponentFootprint Describe(Component component, IEnumerable<(string Key, long[] Shape)> tensors, int computeElementBytes)
    {
        long restBytes = 0, restFp8 = 0;
        var blocks = new Dictionary<string, (long Bytes, long Fp8, BlockInput Input, int Order)>();
        foreach (var (key, shape) in tensors)
        {
            var (bytes, fp8) = Size(component, key, shape, computeElementBytes);
            if (TryParseBlock(component, key, out var name, out var input, out int order))
            {
                var sum = blocks.GetValueOrDefault(name, (0, 0, input, order));
                blocks[name] = (sum.Bytes + bytes, sum.Fp8 + fp8, input, order);
            }
            else
            {
                restBytes += bytes;
                restFp8 += fp8;
            }
        }
        var ordered = blocks.OrderBy(pair => pair.Value.Order)
            .Select(pair => new BlockFootprint(pair.Key, pair.Value.Bytes, pair.Value.Fp8, pair.Value.Input))
            .ToList();
        return new(component, restBytes, restFp8, ordered);
    }

    /// <summary>
    /// From the tensors the engine will load (a checkpoint's headers): only what is built (Qwen3's last layer and final
    /// norm are not), VAE keys starting with <c>decoder.</c> or <c>encoder.</c>. The VAE is sized at two bytes an
    /// element whatever the compute dtype: the planner widens it itself for a float32 VAE.
    /// </summary>
    public static ModelFootprint FromTensors(IEnumerable<(string Key, long[] Shape)> textEncoder,
        IEnumerable<(string Key, long[] Shape)> transformer, IEnumerable<(string Key, long[] Shape)> vae, int computeElementBytes)
    {
        var vaeTensors = vae.ToList();
        return new(
            Describe(Planning.Component.TextEncoder, textEncoder, computeElementBytes),
            Describe(Planning.Component.Transformer, transformer, computeElementBytes),
            Describe(Planning.Component.Vae, vaeTensors.Where(t => t.Key.StartsWith("decoder.", StringComparison.Ordinal)), Bf16Bytes),
            Describe(Planning.Component.Vae, vaeTensors.Where(t => t.Key.StartsWith("encoder.", StringComparison.Ordinal)), Bf16Bytes));
    }

    /// <summary>The released Z-Image-Turbo model (the random-weight case and <c>zimage plan</c> without weights):
    /// the three modules as the engine builds them, on the meta device, so no byte is allocated.</summary>
    public static ModelFootprint Released(int computeElementBytes = Bf16Bytes) => computeElementBytes switch
    {
        Bf16Bytes => ReleasedBf16.Value,
        Float32Bytes => ReleasedFloat32.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(computeElementBytes), computeElementBytes, "2 (bf16) or 4 (float32)."),
    };

    /// <summary>The parameters of a module as (name, shape).</summary>
    public static IEnumerable<(string Key, long[] Shape)> Tensors(torch.nn.Module module) =>
        module.named_parameters().Select(p => (p.name, p.parameter.shape));

    private static ModelFootprint BuildReleased(int computeElementBytes)
    {
        var meta = new BuildTarget(torch.META, torch.ScalarType.BFloat16);
        using var textEncoder = Qwen3Model.CreateForZImage(Qwen3Config.Released, meta);
        using var transformer = new ZImageTransformer(ZImageTransformerConfig.Released, torch.META, torch.ScalarType.BFloat16);
        using var vae = AutoencoderKL.Create(AutoencoderKLConfig.Released, AutoencoderParts.EncoderAndDecoder, meta);
        return FromTensors(Tensors(textEncoder), Tensors(transformer), Tensors(vae), computeElementBytes);
    }
}
