using System.Globalization;

namespace ZImageSharp.Engine.Lora;

/// <summary>One LoRA of a request with its strength.</summary>
public sealed record AppliedLora(LoraFile File, float Strength);

/// <summary>
/// The LoRAs one request applies, in order, grouped per changed parameter. Two sets with the same files (by hash) and
/// strengths have the same <see cref="Key"/>: the patcher keeps weights merged between such requests. The files are
/// owned by whoever loaded them (a <see cref="LoraLibrary"/>), not by the set.
/// </summary>
public sealed class LoraSet
{
    public LoraSet(IReadOnlyList<AppliedLora> loras)
    {
        Loras = loras;
        Key = string.Join(";", loras.Select(l => $"{l.File.Hash}@{l.Strength.ToString("R", CultureInfo.InvariantCulture)}"));
        ByParameter = loras.SelectMany(l => l.File.Targets.Select(t => (t, l.Strength)))
            .GroupBy(x => x.t.Parameter, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<(LoraDelta Delta, float Strength)>)g.Select(x => (x.t.Delta, x.Strength)).ToList(), StringComparer.Ordinal);
    }

    public IReadOnlyList<AppliedLora> Loras { get; }
    public string Key { get; }
    public IReadOnlyDictionary<string, IReadOnlyList<(LoraDelta Delta, float Strength)>> ByParameter { get; }

    /// <summary>Bytes the runtime path keeps on the device: every factor in the compute dtype (LoKr and LoHa also
    /// make a dense ΔW per call, transiently).</summary>
    public long RuntimeBytes(int computeElementBytes) =>
        Loras.SelectMany(l => l.File.Targets).Sum(t => t.Delta.FactorElements) * computeElementBytes;

    /// <summary>What the planner counts: <see cref="RuntimeBytes"/> (any target may be applied at runtime) plus the
    /// float32 sum and ΔW a merge holds for its largest weight.</summary>
    public long DeviceBytes(int computeElementBytes) => RuntimeBytes(computeElementBytes)
        + 2 * 4 * Loras.SelectMany(l => l.File.Targets).Select(t => t.Delta.Rows * t.Delta.Columns).DefaultIfEmpty(0).Max();

    /// <summary>"name: hash, …" as A1111 writes "Lora hashes".</summary>
    public string HashesText => string.Join(", ", Loras.Select(l => $"{l.File.Name}: {l.File.ShortHash}"));
}
