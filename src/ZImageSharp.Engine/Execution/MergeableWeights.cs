using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Where a model's weights live, as a LoRA merge (Engine/Lora) needs to know it: which parameters hold their own copy
/// that may be changed in place and stays until the weights are loaded again, and how the originals come back.
/// </summary>
public interface IMergeableWeights
{
    /// <summary>True when <paramref name="parameter"/> may be changed in place now; <paramref name="stamp"/> tells a
    /// later <see cref="IsCurrent"/> whether the copy changed was replaced since.</summary>
    bool CanMerge(string parameter, out long stamp);

    /// <summary>True while the copy merged at <paramref name="stamp"/> is still the parameter's.</summary>
    bool IsCurrent(string parameter, long stamp);

    /// <summary>True when <see cref="Restore"/> puts back the exact original weights (then no backup is kept).</summary>
    bool RestoresOriginals { get; }

    /// <summary>Loads the exact original weights of these parameters again (their masters or their file).</summary>
    void Restore(IReadOnlyCollection<string> parameters);
}

/// <summary>A module whose parameters simply hold its weights (no placer): merged in place, undone from backups.</summary>
public sealed class ModuleWeights : IMergeableWeights
{
    public bool CanMerge(string parameter, out long stamp)
    {
        stamp = 0;
        return true;
    }

    public bool IsCurrent(string parameter, long stamp) => true;
    public bool RestoresOriginals => false;
    public void Restore(IReadOnlyCollection<string> parameters) => throw new NotSupportedException("A plain module keeps no originals: the patcher restores its backups.");
}

/// <summary>A placed component's weights: a parameter merges when its unit is resident, loaded, and owns its device
/// copy (not an alias of a master: changing that would change every later load); undo reloads the unit.</summary>
internal sealed class PlacedWeights(IReadOnlyList<(ModuleResidency Unit, bool Resident)> units) : IMergeableWeights
{
    private readonly Dictionary<string, (ModuleResidency Unit, bool Resident)> _byName =
        units.SelectMany(u => u.Unit.ParameterNames.Select(n => (n, u))).ToDictionary(x => x.n, x => x.u, StringComparer.Ordinal);

    public bool CanMerge(string parameter, out long stamp)
    {
        stamp = -1;
        if (!_byName.TryGetValue(parameter, out var u)) return false;
        var unit = u.Unit;
        if (!u.Resident || !unit.IsLoaded || unit.MastersOnDevice || !unit.OwnsLoadedCopy(parameter)) return false;
        stamp = unit.LoadCount;
        return true;
    }

    public bool IsCurrent(string parameter, long stamp) =>
        _byName.TryGetValue(parameter, out var u) && u.Unit.IsLoaded && u.Unit.LoadCount == stamp;

    public bool RestoresOriginals => true;

    public void Restore(IReadOnlyCollection<string> parameters)
    {
        foreach (var unit in parameters.Where(_byName.ContainsKey).Select(p => _byName[p].Unit).Distinct())
        {
            if (!unit.IsLoaded) continue;
            unit.Release();
            unit.Load();
        }
    }
}
