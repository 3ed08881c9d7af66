using System.Text.Json;
using TorchSharp;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// A sharded checkpoint: a <c>*.safetensors.index.json</c> whose <c>weight_map</c> names the shard of every tensor.
/// All shards must exist when the index is opened; each is opened (header only) the first time one of its tensors is
/// described or read, and all are closed with the index.
/// </summary>
public sealed class SafetensorsIndex : IWeightSource, IDirectReadSource, IRowSliceSource
{
    private readonly Dictionary<string, string> _weightMap;
    private readonly Dictionary<string, SafetensorsFile> _openShards = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>The index file.</summary>
    public string Path { get; }

    /// <summary>Tensor name → shard file name (relative to the index's folder), as the index lists it.</summary>
    public IReadOnlyDictionary<string, string> WeightMap => _weightMap;

    /// <summary>Full paths of the distinct shards, in order of first appearance in the index.</summary>
    public IReadOnlyList<string> ShardPaths { get; }

    private SafetensorsIndex(string path, Dictionary<string, string> weightMap, IReadOnlyList<string> shardPaths)
    {
        Path = path;
        _weightMap = weightMap;
        ShardPaths = shardPaths;
    }

    /// <exception cref="CheckpointException">The index is malformed or names a shard that does not exist.</exception>
    public static SafetensorsIndex Open(string indexPath)
    {
        string text;
        try { text = File.ReadAllText(indexPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read the shard index '{indexPath}': {e.Message}", indexPath, inner: e);
        }
        var weightMap = ParseWeightMap(indexPath, text);
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var shards = new List<string>();
        foreach (var group in weightMap.GroupBy(kv => kv.Value, StringComparer.Ordinal))
        {
            string shardPath = System.IO.Path.Combine(folder, group.Key);
            if (!File.Exists(shardPath))
                throw new CheckpointException(
                    $"The shard index '{indexPath}' names shard '{group.Key}' for {group.Count()} tensors (e.g. '{group.First().Key}'), " +
                    $"but '{shardPath}' does not exist: the download is incomplete.", shardPath, group.First().Key);
            shards.Add(shardPath);
        }
        return new SafetensorsIndex(indexPath, weightMap, shards);
    }

    private static Dictionary<string, string> ParseWeightMap(string indexPath, string text)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e)
        {
            throw new CheckpointException($"The shard index '{indexPath}' is not valid JSON ({e.Message}).", indexPath, inner: e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(
                    $"The shard index '{indexPath}' has no \"weight_map\" object (tensor name → shard file).", indexPath);
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString() is not { Length: > 0 } shard
                    || System.IO.Path.IsPathRooted(shard) || shard.Split('/', '\\').Contains(".."))
                    throw new CheckpointException(
                        $"The shard index '{indexPath}' maps tensor '{entry.Name}' to {entry.Value.GetRawText()}, not to a file name beside the index.",
                        indexPath, entry.Name);
                if (!weightMap.TryAdd(entry.Name, shard))
                    throw new CheckpointException($"The shard index '{indexPath}' lists tensor '{entry.Name}' twice.", indexPath, entry.Name);
            }
            return weightMap;
        }
    }

    public string Origin => Path;
    public IReadOnlyCollection<string> Names => _weightMap.Keys;
    public bool Contains(string name) => _weightMap.ContainsKey(name);

    public SafetensorsEntry Describe(string name) => ShardHolding(name).Describe(name);

    public torch.Tensor Read(string name) => ShardHolding(name).Read(name);

    public torch.Tensor ReadRows(string name, long firstRow, long rowCount) => ShardHolding(name).ReadRows(name, firstRow, rowCount);

    public bool CanReadInto(string name) => ShardHolding(name).CanReadInto(name);

    public void ReadInto(string name, torch.Tensor destination) => ShardHolding(name).ReadInto(name, destination);

    public void ReadRowsInto(string name, long firstRow, long rowCount, torch.Tensor destination) =>
        ShardHolding(name).ReadRowsInto(name, firstRow, rowCount, destination);

    private SafetensorsFile ShardHolding(string name)
    {
        if (!_weightMap.TryGetValue(name, out var shardName))
            throw new CheckpointException($"The shard index '{Path}' has no tensor named '{name}'.", Path, name);
        var shard = OpenShard(shardName);
        if (!shard.Contains(name))
            throw new CheckpointException(
                $"The shard index '{Path}' places tensor '{name}' in '{shardName}', but that shard has no such tensor " +
                "(the index and its shards come from different downloads).", shard.Path, name);
        return shard;
    }

    private SafetensorsFile OpenShard(string shardName)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_openShards.TryGetValue(shardName, out var shard))
            {
                string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
                shard = SafetensorsFile.Open(System.IO.Path.Combine(folder, shardName));
                _openShards.Add(shardName, shard);
            }
            return shard;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var shard in _openShards.Values) shard.Dispose();
            _openShards.Clear();
        }
    }
}
