namespace ZImageSharp.Planning;

/// <summary>Bytes of one checkpoint tensor in each storage the planner considers. "Bf16" and "Fp8" name the
/// placement's storage; a tensor the placement keeps wider (a float32 island) counts at its real width in both.</summary>
public sealed record TensorSize(string Key, long Bf16Bytes, long Fp8Bytes)
{
    private const int Float32ElementBytes = 4, Bf16ElementBytes = 2, Fp8ElementBytes = 1;

    /// <summary>Sizes of a tensor of this shape as the engine holds it (<see cref="WeightPrecisionPolicy"/>): float32
    /// for the transformer's float32 islands, fp8 only where allowed, bf16 otherwise.</summary>
    /// <param name="computeElementBytes">Bytes of one element in the compute dtype: 2 for bf16, 4 when the engine
    /// computes in float32 (<c>--dtype fp32</c>); the "Bf16" size is the compute-dtype size.</param>
    public static TensorSize FromShape(Component component, string key, IReadOnlyList<long> shape, int computeElementBytes = Bf16ElementBytes)
    {
        long elements = shape.Aggregate(1L, (product, dimension) => product * dimension);
        if (WeightPrecisionPolicy.KeepsFloat32(component, key))
            return new(key, elements * Float32ElementBytes, elements * Float32ElementBytes);
        bool fp8 = WeightPrecisionPolicy.StoresAsFp8(component, key, shape.Count);
        return new(key, elements * computeElementBytes, elements * (fp8 ? Fp8ElementBytes : computeElementBytes));
    }
}

/// <summary>One repeated block (a transformer block, a Qwen3 layer): the unit that is streamed or kept resident.</summary>
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

    /// <summary>Groups tensors into blocks by key (see <see cref="BlockKey"/>); everything else is rest.</summary>
    public static ComponentFootprint FromTensors(Component component, IEnumerable<TensorSize> tensors)
    {
        long restBf16 = 0, restFp8 = 0;
        var blocks = new Dictionary<string, (long Bf16, long Fp8, BlockInput Input)>();
        foreach (var tensor in tensors)
        {
            if (BlockKey.TryParse(component, tensor.Key, out var name, out var input))
            {
                var sum = blocks.GetValueOrDefault(name, (0, 0, input));
                blocks[name] = (sum.Bf16 + tensor.Bf16Bytes, sum.Fp8 + tensor.Fp8Bytes, input);
            }
            else
            {
                restBf16 += tensor.Bf16Bytes;
                restFp8 += tensor.Fp8Bytes;
            }
        }
        var ordered = blocks
            .OrderBy(pair => BlockKey.Order(pair.Key))
            .Select(pair => new BlockFootprint(pair.Key, pair.Value.Bf16, pair.Value.Fp8, pair.Value.Input))
            .ToList();
        return new(component, restBf16, restFp8, ordered);
    }
}

/// <summary>Exact weight bytes of every component, for bf16 and fp8 storage.</summary>
public sealed record ModelFootprint(
    ComponentFootprint TextEncoder,
    ComponentFootprint Transformer,
    ComponentFootprint VaeDecoder,
    ComponentFootprint VaeEncoder)
{
    /// <summary>From the tensors the engine will load, read from the checkpoint headers. Pass only what is loaded
    /// (Qwen3's last layer and final norm are not needed); VAE keys start with <c>decoder.</c> or <c>encoder.</c>.</summary>
    public static ModelFootprint FromTensors(IEnumerable<TensorSize> textEncoder, IEnumerable<TensorSize> transformer,
        IEnumerable<TensorSize> vae)
    {
        var vaeTensors = vae.ToList();
        return new(
            ComponentFootprint.FromTensors(Component.TextEncoder, textEncoder),
            ComponentFootprint.FromTensors(Component.Transformer, transformer),
            ComponentFootprint.FromTensors(Component.Vae, vaeTensors.Where(t => t.Key.StartsWith("decoder.", StringComparison.Ordinal))),
            ComponentFootprint.FromTensors(Component.Vae, vaeTensors.Where(t => t.Key.StartsWith("encoder.", StringComparison.Ordinal))));
    }

    /// <summary>The released Z-Image-Turbo model (the random-weight case), from the config numbers of the spec.</summary>
    public static ModelFootprint FromReleasedConfig(int computeElementBytes = 2) => FromTensors(
        ReleasedModelConfig.TextEncoderTensors().Select(t => TensorSize.FromShape(Component.TextEncoder, t.Key, t.Shape, computeElementBytes)),
        ReleasedModelConfig.TransformerTensors().Select(t => TensorSize.FromShape(Component.Transformer, t.Key, t.Shape, computeElementBytes)),
        ReleasedModelConfig.VaeTensors().Select(t => TensorSize.FromShape(Component.Vae, t.Key, t.Shape, computeElementBytes)));
}
