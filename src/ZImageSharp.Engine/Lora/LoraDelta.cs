using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Lora;

/// <summary>
/// The weight change ΔW [Rows, Columns] one LoRA file makes to one Linear weight, with its file's scale (alpha/rank
/// and the like) already in it; the strength a request gives is applied by the caller. Factors are float32 CPU
/// tensors owned by the delta; device copies in the compute dtype are made on first runtime use and kept until
/// <see cref="ReleaseDeviceCopies"/>.
/// </summary>
public abstract class LoraDelta : IDisposable
{
    private readonly Tensor[] _factors;
    private readonly Dictionary<(DeviceType, int, ScalarType), Tensor[]> _deviceCopies = [];

    protected LoraDelta(string sourceKey, long rows, long columns, double scale, Tensor[] factors)
    {
        SourceKey = sourceKey;
        Rows = rows;
        Columns = columns;
        Scale = scale;
        _factors = factors;
    }

    /// <summary>The module key in the file (for messages).</summary>
    public string SourceKey { get; }
    public long Rows { get; }
    public long Columns { get; }
    /// <summary>The file's own multiplier: alpha/rank for LoRA and LoHa, as LyCORIS defines it for LoKr.</summary>
    public double Scale { get; }

    /// <summary>Elements of the factors (what a runtime application keeps on the device, per compute dtype).</summary>
    public long FactorElements => _factors.Sum(f => f.numel());

    /// <summary>ΔW·Scale as a new [Rows, Columns] tensor of <paramref name="dtype"/> on <paramref name="device"/>, computed
    /// in float32.</summary>
    public Tensor Dense(Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var factors = _factors.Select(f => f.to(ScalarType.Float32, device)).ToArray();
        var dense = Compose(factors);
        using var scale = Scale.ToScalar();
        dense.mul_(scale);
        return dense.to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>output += strength · input·ΔWᵀ·Scale, in the output's dtype (the runtime path).</summary>
    public virtual void AddTo(Tensor output, Tensor input, double strength)
    {
        using var scope = NewDisposeScope();
        var factors = DeviceFactors(output.device, output.dtype);
        using var dense = Compose(factors.Select(f => f.alias()).ToArray());
        using var product = nn.functional.linear(input, dense);
        using var alpha = (strength * Scale).ToScalar();
        output.add_(product, alpha);
    }

    /// <summary>ΔW (without Scale) from the factors given in the order this delta holds them.</summary>
    protected abstract Tensor Compose(Tensor[] factors);

    protected Tensor[] DeviceFactors(Device device, ScalarType dtype)
    {
        var key = (device.type, device.index, dtype);
        lock (_deviceCopies)
        {
            if (!_deviceCopies.TryGetValue(key, out var copies))
                _deviceCopies[key] = copies = _factors.Select(f => f.to(dtype, device).DetachFromDisposeScope()).ToArray();
            return copies;
        }
    }

    public void ReleaseDeviceCopies()
    {
        lock (_deviceCopies)
        {
            foreach (var copies in _deviceCopies.Values)
                foreach (var c in copies) c.Dispose();
            _deviceCopies.Clear();
        }
    }

    public void Dispose()
    {
        ReleaseDeviceCopies();
        foreach (var f in _factors) f.Dispose();
    }
}

/// <summary>LoRA: ΔW = up·down, up [Rows, r], down [r, Columns]; computed at runtime as (x·downᵀ)·upᵀ, never dense.</summary>
public sealed class LowRankDelta(string sourceKey, Tensor up, Tensor down, double scale)
    : LoraDelta(sourceKey, up.shape[0], down.shape[1], scale, [up, down])
{
    public long Rank { get; } = down.shape[0];

    protected override Tensor Compose(Tensor[] f) => matmul(f[0], f[1]);

    public override void AddTo(Tensor output, Tensor input, double strength)
    {
        var f = DeviceFactors(output.device, output.dtype);
        using var hidden = nn.functional.linear(input, f[1]);    // [.., r]
        using var product = nn.functional.linear(hidden, f[0]);  // [.., Rows]
        using var alpha = (strength * Scale).ToScalar();
        output.add_(product, alpha);
    }
}

/// <summary>LoKr: ΔW = kron(w1, w2), each factor full or a product a·b; <see cref="RowStart"/>/Rows select the rows
/// of a fused qkv delta that belong to one of q, k, v.</summary>
public sealed class KroneckerDelta(string sourceKey, Tensor w1, Tensor w2, double scale, long rowStart, long rows)
    : LoraDelta(sourceKey, rows, w1.shape[1] * w2.shape[1], scale, [w1, w2])
{
    public long RowStart { get; } = rowStart;
    protected override Tensor Compose(Tensor[] f)
    {
        using var full = kron(f[0], f[1]);
        return full.narrow(0, RowStart, Rows).contiguous();
    }
}

/// <summary>LoHa: ΔW = (w1a·w1b) ⊙ (w2a·w2b); rows as for <see cref="KroneckerDelta"/>.</summary>
public sealed class HadamardDelta(string sourceKey, Tensor w1a, Tensor w1b, Tensor w2a, Tensor w2b, double scale, long rowStart, long rows)
    : LoraDelta(sourceKey, rows, w1b.shape[1], scale, [w1a, w1b, w2a, w2b])
{
    public long RowStart { get; } = rowStart;
    protected override Tensor Compose(Tensor[] f)
    {
        using var first = matmul(f[0], f[1]);
        using var second = matmul(f[2], f[3]);
        using var full = first.mul(second);
        return full.narrow(0, RowStart, Rows).contiguous();
    }
}
