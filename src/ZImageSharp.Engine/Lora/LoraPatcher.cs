using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Lora;

/// <summary>
/// Keeps one model's weights showing one <see cref="LoraSet"/> (or none), with every placement: a weight that holds its
/// own copy (resident bf16/fp32) gets W += Σ strength·ΔW, computed in float32 and rounded once; every other targeted
/// Linear (streamed, fp8 cast per use, aliases of host masters) gets a runtime adapter that adds
/// strength·x·ΔWᵀ to its output (low rank: (x·downᵀ)·upᵀ). Undo is exact: the placer reloads the unit from its masters
/// or file, or, for a plain module, the patcher copies back the original it saved. Call <see cref="Apply"/> each time
/// the weights may have moved (before each denoise phase): merges lost to a reload are redone, a changed set is undone
/// first.
/// </summary>
public sealed class LoraPatcher(nn.Module model) : IDisposable
{
    private readonly Dictionary<string, Linear> _linears = model.named_modules()
        .Where(m => m.module is Linear).ToDictionary(m => m.name + ".weight", m => (Linear)m.module, StringComparer.Ordinal);
    private readonly Dictionary<string, Merge> _merged = new(StringComparer.Ordinal);
    private readonly HashSet<string> _adapted = new(StringComparer.Ordinal);
    private LoraSet? _current;

    /// <summary>The set the weights show now.</summary>
    public LoraSet? Current => _current;

    /// <summary>Parameters merged into / Linears adapted at runtime now.</summary>
    public IReadOnlyCollection<string> Merged => _merged.Keys;
    public IReadOnlyCollection<string> Adapted => _adapted;

    public void Apply(LoraSet? set, IMergeableWeights weights)
    {
        using var noGrad = no_grad();
        // A reload put the original weights back: nothing left to undo there.
        foreach (var name in _merged.Where(m => !weights.IsCurrent(m.Key, m.Value.Stamp)).Select(m => m.Key).ToList())
            Drop(name);
        if (set?.Key != _current?.Key) Clear(weights);
        _current = set;
        if (set is null) return;

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        foreach (var (name, deltas) in set.ByParameter)
        {
            if (_merged.ContainsKey(name)) continue;
            if (!_linears.TryGetValue(name, out var linear))
                throw new InvalidOperationException($"LoRA target '{name}' is not the weight of a Linear of this model.");
            if (weights.CanMerge(name, out long stamp))
            {
                RemoveAdapter(name, linear);
                _merged[name] = MergeInto(parameters[name], deltas, stamp, backup: !weights.RestoresOriginals);
            }
            else if (_adapted.Add(name))
            {
                LinearAdapters.Set(linear, new RuntimeLora(deltas));
            }
        }
    }

    /// <summary>Undoes every merge exactly and removes every adapter.</summary>
    public void Clear(IMergeableWeights weights)
    {
        using var noGrad = no_grad();
        if (weights.RestoresOriginals)
        {
            if (_merged.Count > 0) weights.Restore(_merged.Keys.ToList());
        }
        else
        {
            var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            foreach (var (name, merge) in _merged) parameters[name].copy_(merge.Backup!);
        }
        foreach (var name in _merged.Keys.ToList()) Drop(name);
        foreach (var name in _adapted.ToList()) RemoveAdapter(name, _linears[name]);
        foreach (var lora in _current?.Loras ?? [])
            foreach (var t in lora.File.Targets) t.Delta.ReleaseDeviceCopies();
        _current = null;
    }

    private static Merge MergeInto(Parameter weight, IReadOnlyList<(LoraDelta Delta, float Strength)> deltas, long stamp, bool backup)
    {
        using var scope = NewDisposeScope();
        var saved = backup ? weight.detach().to(CPU).clone().DetachFromDisposeScope() : null;
        var sum = weight.to(ScalarType.Float32).clone();
        foreach (var (delta, strength) in deltas)
        {
            if (delta.Rows != weight.shape[0] || delta.Columns != weight.shape[1])
                throw new InvalidOperationException($"LoRA delta '{delta.SourceKey}' is [{delta.Rows}, {delta.Columns}], the weight [{string.Join(", ", weight.shape)}].");
            using var dense = delta.Dense(weight.device, ScalarType.Float32);
            using var s = ((double)strength).ToScalar();
            sum.add_(dense, s);
        }
        weight.copy_(sum); // rounded once to the weight's dtype
        return new Merge(stamp, saved);
    }

    private void Drop(string name)
    {
        if (_merged.Remove(name, out var merge)) merge.Backup?.Dispose();
    }

    private void RemoveAdapter(string name, Linear linear)
    {
        if (_adapted.Remove(name)) LinearAdapters.Set(linear, null);
    }

    public void Dispose()
    {
        foreach (var name in _adapted.ToList()) RemoveAdapter(name, _linears[name]);
        foreach (var name in _merged.Keys.ToList()) Drop(name);
    }

    private sealed record Merge(long Stamp, Tensor? Backup);

    private sealed class RuntimeLora(IReadOnlyList<(LoraDelta Delta, float Strength)> deltas) : ILinearAdapter
    {
        public void AddTo(Tensor output, Tensor input)
        {
            foreach (var (delta, strength) in deltas) delta.AddTo(output, input, strength);
        }
    }
}
