using TorchSharp;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// How one tensor of a <see cref="KeyMappedSource"/> is made from a tensor of the source beneath it: optionally a row
/// range of dimension 0 (one part of a fused weight), then a reshape (same element count), then a per-tensor or
/// per-row scale (scaled fp8: the stored value times the scale, rounded once to bf16).
/// </summary>
public sealed record TensorRecipe(string Source)
{
    /// <summary>Rows [First, First + Count) of dimension 0 of the source tensor; null for all of it.</summary>
    public (long First, long Count)? Rows { get; init; }

    /// <summary>The shape to present (same element count as the rows taken); null to keep the stored shape.</summary>
    public long[]? Shape { get; init; }

    /// <summary>A scale tensor of the source (one value, or one per row of the source tensor); null when unscaled.</summary>
    public string? Scale { get; init; }

    /// <summary>The dtype a scaled tensor is presented in: the dequantized value, rounded once.</summary>
    public const string ScaledDType = "BF16";
}

/// <summary>
/// An <see cref="IWeightSource"/> that presents another source under other names, splitting fused tensors, reshaping
/// and dequantizing lazily: nothing is read until a tensor is asked for, and each read touches only the bytes that
/// tensor needs. Owns (and disposes) the source beneath it.
/// </summary>
public sealed class KeyMappedSource : IWeightSource, IDirectReadSource
{
    private readonly IWeightSource _inner;
    private readonly Dictionary<string, TensorRecipe> _recipes;
    private readonly Dictionary<string, SafetensorsEntry> _entries;

    public KeyMappedSource(IWeightSource inner, IReadOnlyDictionary<string, TensorRecipe> recipes)
    {
        _inner = inner;
        _recipes = new Dictionary<string, TensorRecipe>(recipes, StringComparer.Ordinal);
        _entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        foreach (var (name, recipe) in _recipes)
            _entries[name] = DescribeRecipe(name, recipe);
    }

    /// <summary>The source beneath, in its own names.</summary>
    public IWeightSource Inner => _inner;

    /// <summary>Recipes of every presented tensor (presented name → how it is made).</summary>
    public IReadOnlyDictionary<string, TensorRecipe> Recipes => _recipes;

    public string Origin => _inner.Origin;
    public IReadOnlyCollection<string> Names => _recipes.Keys;
    public bool Contains(string name) => _recipes.ContainsKey(name);

    public SafetensorsEntry Describe(string name) =>
        _entries.TryGetValue(name, out var entry)
            ? entry
            : throw new CheckpointException($"'{Origin}' has no tensor that maps to '{name}'.", Origin, name);

    public torch.Tensor Read(string name)
    {
        var recipe = Recipe(name);
        var entry = _entries[name];
        using var scope = torch.NewDisposeScope();
        var tensor = ReadRows(recipe);
        if (recipe.Shape is not null) tensor = tensor.reshape(recipe.Shape); // rows already taken, so the count matches
        if (recipe.Scale is not null) tensor = Dequantize(tensor, recipe, entry.Shape);
        return tensor.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>True for a renamed, reshaped or split tensor the source beneath can read directly; false for a dequantized one.</summary>
    public bool CanReadInto(string name)
    {
        var recipe = Recipe(name);
        if (recipe.Scale is not null) return false;
        return recipe.Rows is null
            ? _inner is IDirectReadSource direct && direct.CanReadInto(recipe.Source)
            : _inner is IRowSliceSource;
    }

    public void ReadInto(string name, torch.Tensor destination)
    {
        if (!CanReadInto(name))
            throw new InvalidOperationException($"Tensor '{name}' of '{Origin}' is converted on reading; read it with Read.");
        var recipe = Recipe(name);
        if (recipe.Rows is { } rows) ((IRowSliceSource)_inner).ReadRowsInto(recipe.Source, rows.First, rows.Count, destination);
        else ((IDirectReadSource)_inner).ReadInto(recipe.Source, destination);
    }

    private TensorRecipe Recipe(string name) =>
        _recipes.TryGetValue(name, out var recipe)
            ? recipe
            : throw new CheckpointException($"'{Origin}' has no tensor that maps to '{name}'.", Origin, name);

    private torch.Tensor ReadRows(TensorRecipe recipe)
    {
        if (recipe.Rows is not { } rows) return _inner.Read(recipe.Source);
        if (_inner is IRowSliceSource slicer) return slicer.ReadRows(recipe.Source, rows.First, rows.Count);
        using var whole = _inner.Read(recipe.Source);
        return whole.narrow(0, rows.First, rows.Count).clone();
    }

    private torch.Tensor Dequantize(torch.Tensor stored, TensorRecipe recipe, long[] shape)
    {
        var scale = _inner.Read(recipe.Scale!).to(torch.ScalarType.Float32);
        if (scale.numel() != 1)
        {
            // One scale per row of the source tensor: keep the rows this tensor took, broadcast over the rest.
            scale = scale.reshape(scale.numel());
            if (recipe.Rows is { } rows) scale = scale.narrow(0, rows.First, rows.Count);
            var broadcast = new long[shape.Length];
            Array.Fill(broadcast, 1L);
            broadcast[0] = scale.numel();
            scale = scale.reshape(broadcast); // [rows, 1, ...]
        }
        // Multiply in float32 and round once: fp8 × scale is then exact up to the final bf16 rounding.
        return (stored.to(torch.ScalarType.Float32) * scale).to(SafetensorsDType.ToScalarType(TensorRecipe.ScaledDType));
    }

    private SafetensorsEntry DescribeRecipe(string name, TensorRecipe recipe)
    {
        var source = _inner.Describe(recipe.Source);
        var shape = (long[])source.Shape.Clone();
        if (recipe.Rows is { } rows)
        {
            if (shape.Length == 0 || rows.First < 0 || rows.Count < 0 || rows.First + rows.Count > shape[0])
                throw new CheckpointException(
                    $"'{Origin}': tensor '{recipe.Source}' of shape [{string.Join(", ", source.Shape)}] has no rows [{rows.First}, {rows.First + rows.Count}) to make '{name}' from.",
                    Origin, recipe.Source);
            shape[0] = rows.Count;
        }
        if (recipe.Shape is not null)
        {
            long have = shape.Aggregate(1L, (n, d) => n * d);
            long want = recipe.Shape.Aggregate(1L, (n, d) => n * d);
            if (have != want)
                throw new CheckpointException(
                    $"'{Origin}': tensor '{recipe.Source}' of shape [{string.Join(", ", shape)}] cannot become '{name}' of shape [{string.Join(", ", recipe.Shape)}].",
                    Origin, recipe.Source);
            shape = recipe.Shape;
        }
        string dtype = source.DType;
        if (recipe.Scale is not null)
        {
            var scale = _inner.Describe(recipe.Scale);
            long scaleCount = scale.ElementCount;
            if (!(scale.DType is "F32" or "BF16" or "F16") || (scaleCount != 1 && (source.Shape.Length == 0 || scaleCount != source.Shape[0])))
                throw new CheckpointException(
                    $"'{Origin}': scale '{recipe.Scale}' ({scale.DType} [{string.Join(", ", scale.Shape)}]) for '{recipe.Source}' is not supported: " +
                    "a scale must be one float, or one float per output row.", Origin, recipe.Scale);
            dtype = TensorRecipe.ScaledDType;
        }
        long elements = shape.Aggregate(1L, (n, d) => n * d);
        return new SafetensorsEntry(name, dtype, shape, 0, SafetensorsDType.ByteCount(dtype, elements));
    }

    public void Dispose() => _inner.Dispose();
}
