using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZImageSharp.Planning;

/// <summary>What part of the transformer's sequence a block reads: its compute grows with that many tokens.</summary>
public enum BlockInput { ImageTokens, CaptionTokens, AllTokens }

/// <summary>One repeated block (a transformer block, a Qwen3 layer): the unit that is streamed or kept resident.
/// "Bf16" is the size in the compute dtype (four bytes an element under <c>--dtype fp32</c>); "Fp8" the size when the
/// block's matrices are stored as fp8 e4m3. A tensor kept wider (a float32 island) counts at its real width in both.</summary>
public sealed record BlockFootprint(string Name, long Bf16Bytes, long Fp8Bytes, BlockInput Input)
{
    public long Bytes(WeightStorage storage) => storage == WeightStorage.Fp8 ? Fp8Bytes : Bf16Bytes;
}

/// <summary>The weights of one component: the tensors outside blocks ("rest", always resident while the component is
/// on the device) and its blocks in execution order.</summary>
public sealed record ComponentFootprint(Component Component, long RestBf16Bytes, long RestFp8Bytes,
    IReadOnlyList<BlockFootprint> Blocks)
{
    public long RestBytes(WeightStorage storage) => storage == WeightStorage.Fp8 ? RestFp8Bytes : RestBf16Bytes;

    public long TotalBytes(WeightStorage storage) => RestBytes(storage) + Blocks.Sum(block => block.Bytes(storage));

    /// <summary>The largest block: streaming buffers are sized to it.</summary>
    public long LargestBlockBytes(WeightStorage storage) => Blocks.Count == 0 ? 0 : Blocks.Max(block => block.Bytes(storage));

    /// <summary>Position of a block in execution order (the order of <see cref="Blocks"/>).</summary>
    public int ExecutionIndex(string blockName)
    {
        for (int i = 0; i < Blocks.Count; i++)
            if (Blocks[i].Name == blockName) return i;
        throw new ArgumentException($"{Component} has no block named '{blockName}'.", nameof(blockName));
    }
}

/// <summary>
/// Exact weight bytes of every component, for bf16 (compute dtype) and fp8 storage: the model's memory description
/// as the planner reads it. The planner never derives it: the engine builds it from the model code
/// (<c>Engine/Models/ModelMemoryDescription</c>: which blocks stream, which tensors stay float32, which may be fp8),
/// from a checkpoint's headers or from the modules themselves. It is plain data and reads and writes as JSON, so the
/// planner's tests run on the released model's description without the engine.
/// </summary>
public sealed record ModelFootprint(
    ComponentFootprint TextEncoder,
    ComponentFootprint Transformer,
    ComponentFootprint VaeDecoder,
    ComponentFootprint VaeEncoder)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/>'s output; <paramref name="origin"/> names the source in errors.</summary>
    public static ModelFootprint FromJson(string json, string origin) =>
        (JsonSerializer.Deserialize<ModelFootprint>(json, Json) is { TextEncoder: not null, Transformer: not null, VaeDecoder: not null, VaeEncoder: not null } footprint
            ? footprint
            : null) ?? throw new FormatException($"{origin}: not a model footprint (textEncoder, transformer, vaeDecoder and vaeEncoder are required).");
}
