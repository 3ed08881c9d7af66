using TorchSharp;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Loads a module's parameters and buffers from a weight source, strictly: every parameter must be found with its
/// exact shape, and every tensor in the source must be used (unless <c>ignore</c> says otherwise). All problems are
/// reported at once, so a wrong checkpoint is diagnosed in one run. Tensors are converted one at a time to the
/// parameter's dtype and device through one reused staging buffer (or read straight into a CPU parameter of the stored
/// dtype), so peak host memory stays at one tensor and the buffer is faulted in once.
/// </summary>
public static class WeightLoader
{
    public static void LoadInto(torch.nn.Module module, IWeightSource source, Func<string, bool>? ignore = null)
    {
        var targets = Check(module, source, ignore);
        using var noGrad = torch.no_grad();
        using var staging = new StagingBuffers();
        foreach (var (name, target) in targets)
            WeightReads.CopyInto(source, name, target, staging);
    }

    /// <summary>
    /// Checks, from the headers alone, that <paramref name="source"/> holds exactly the module's tensors with their
    /// shapes (the module may be on the meta device): the same strict check as <see cref="LoadInto"/>, without reading.
    /// </summary>
    /// <returns>The module's tensors by name.</returns>
    public static Dictionary<string, torch.Tensor> Check(torch.nn.Module module, IWeightSource source, Func<string, bool>? ignore = null)
    {
        var targets = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in module.named_parameters()) targets[name] = p;
        foreach (var (name, b) in module.named_buffers()) targets.TryAdd(name, b);

        var missing = targets.Keys.Where(k => !source.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = source.Names.Where(k => !targets.ContainsKey(k) && !(ignore?.Invoke(k) ?? false))
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        var mismatched = new List<string>();
        foreach (var (name, target) in targets.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (!source.Contains(name)) continue;
            var entry = source.Describe(name);
            if (!entry.Shape.SequenceEqual(target.shape))
                mismatched.Add($"{name}: checkpoint [{string.Join(", ", entry.Shape)}], model [{string.Join(", ", target.shape)}]");
        }
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
            throw new CheckpointException(Describe(source.Origin, missing, unexpected, mismatched), source.Origin,
                missing.Concat(unexpected).FirstOrDefault() ?? mismatched[0][..mismatched[0].IndexOf(':')]);
        return targets;
    }

    private static string Describe(string origin, List<string> missing, List<string> unexpected, List<string> mismatched)
    {
        var parts = new List<string> { $"The weights in '{origin}' do not match the model:" };
        if (missing.Count > 0)
            parts.Add($"{missing.Count} parameter(s) the model needs are in no weight file (missing: {Preview(missing)}).");
        if (unexpected.Count > 0)
            parts.Add($"{unexpected.Count} tensor(s) in the file belong to no parameter of the model (unexpected: {Preview(unexpected)}).");
        if (mismatched.Count > 0)
            parts.Add($"{mismatched.Count} tensor(s) have the wrong shape ({Preview(mismatched)}).");
        return string.Join(" ", parts);
    }

    private static string Preview(List<string> names) =>
        names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(12)) + $", … and {names.Count - 12} more";
}
