using ZImageSharp.Contracts;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Lora;

/// <summary>
/// Finds and keeps parsed LoRA files: a name is looked up in the LoRA folder (<c>name</c> or <c>name.safetensors</c>,
/// sub-folders with '/'), an absolute path is taken as it is (the CLI resolves its paths; the server refuses them).
/// A parsed file is kept while its size and time stamp stay the same, so switching LoRAs reads each file once.
/// </summary>
public sealed class LoraLibrary(string? folder, LoraTargets targets) : IDisposable
{
    private readonly Dictionary<string, (DateTime Written, long Length, LoraFile File)> _cache = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public string? Folder { get; } = folder is null ? null : Path.GetFullPath(folder);

    /// <summary>The set a request asks for, or null for none.</summary>
    /// <exception cref="InvalidRequestException">A LoRA is missing or unusable (field <c>loras[i]</c>).</exception>
    public LoraSet? Resolve(IReadOnlyList<LoraRequest> loras)
    {
        if (loras.Count == 0) return null;
        var errors = new List<FieldError>();
        var applied = new List<AppliedLora>();
        for (int i = 0; i < loras.Count; i++)
        {
            string field = $"loras[{i}]";
            string? path = Locate(loras[i].Name, out string? why);
            if (path is null)
            {
                errors.Add(new(field, why!));
                continue;
            }
            try { applied.Add(new AppliedLora(Get(path), loras[i].Strength)); }
            catch (LoraException e) { errors.Add(new(field, e.Message)); }
        }
        if (errors.Count > 0) throw new InvalidRequestException(errors);
        return new LoraSet(applied);
    }

    /// <summary>The LoRA files in the folder, as names a request may use (relative, without <c>.safetensors</c>).</summary>
    public IReadOnlyList<string> List()
    {
        if (Folder is null || !Directory.Exists(Folder)) return [];
        return Directory.EnumerateFiles(Folder, "*.safetensors", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Folder, f).Replace(Path.DirectorySeparatorChar, '/')[..^".safetensors".Length])
            .Order(StringComparer.OrdinalIgnoreCase).ToList();
    }

    private string? Locate(string name, out string? why)
    {
        why = null;
        if (Path.IsPathRooted(name))
        {
            if (File.Exists(name)) return name;
            why = $"LoRA file '{name}' does not exist.";
            return null;
        }
        if (Folder is null)
        {
            why = $"LoRA '{name}' is a name, but no LoRA folder is configured (--lora-dir); give a path instead.";
            return null;
        }
        foreach (var candidate in new[] { name, name + ".safetensors" })
        {
            string full = Path.GetFullPath(Path.Combine(Folder, candidate));
            // A name never leaves the folder ('..', or a drive on Windows).
            if (!full.StartsWith(Folder + Path.DirectorySeparatorChar, StringComparison.Ordinal)) break;
            if (File.Exists(full)) return full;
        }
        var known = List();
        why = $"LoRA '{name}' is not in the LoRA folder '{Folder}' (" +
              (known.Count == 0 ? "it holds no .safetensors files)." : $"it holds: {string.Join(", ", known.Take(20))}{(known.Count > 20 ? ", …" : "")}).");
        return null;
    }

    private LoraFile Get(string path)
    {
        var info = new FileInfo(path);
        lock (_gate)
        {
            if (_cache.TryGetValue(path, out var hit) && hit.Written == info.LastWriteTimeUtc && hit.Length == info.Length)
                return hit.File;
            // A changed file: the old parse may still be merged, so it is kept alive until the library goes.
            var file = LoraFile.Load(path, targets);
            if (hit.File is not null) _stale.Add(hit.File);
            _cache[path] = (info.LastWriteTimeUtc, info.Length, file);
            return file;
        }
    }

    private readonly List<LoraFile> _stale = [];

    public void Dispose()
    {
        foreach (var (_, _, file) in _cache.Values) file.Dispose();
        foreach (var f in _stale) f.Dispose();
        _cache.Clear();
    }
}
