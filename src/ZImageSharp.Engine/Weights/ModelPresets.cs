using System.Text.Json;
using ZImageSharp.Contracts;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Which request defaults (<see cref="GenerationPreset"/>) the weights get, in this order (docs/presets.md):
/// <list type="number">
/// <item>--preset / ZIMAGE_PRESET: turbo, base, or a preset JSON file;</item>
/// <item>a <c>zimage-preset.json</c> in the model folder, beside model_index.json;</item>
/// <item>what the folder says about itself, where that can be trusted: its path in the Hugging Face cache
/// (<c>models--Tongyi-MAI--Z-Image/snapshots/…</c>), or the <c>_name_or_path</c> diffusers writes into
/// transformer/config.json when it saves a model it loaded, naming the repository it came from;</item>
/// <item>else Turbo's, today's defaults.</item>
/// </list>
/// Nothing else is read: the official Z-Image and Z-Image-Turbo folders have the same model_index.json (no
/// <c>_name_or_path</c>: diffusers drops it from a pipeline it saves), the same configs, and model cards whose front
/// matter names neither model (a <c>base_model</c>, where a card has one, names what a model was trained from, which
/// Turbo and every fine-tune share with base).
/// </summary>
public static class ModelPresets
{
    /// <summary>The preset file a model folder may carry.</summary>
    public const string FileName = "zimage-preset.json";

    public const string EnvironmentVariable = "ZIMAGE_PRESET";

    /// <summary>The Hugging Face repositories of the released weights and the preset each one takes.</summary>
    private static readonly (string Repository, GenerationPreset Preset)[] Repositories =
    [
        ("Tongyi-MAI/Z-Image-Turbo", GenerationPreset.Turbo),
        ("Tongyi-MAI/Z-Image", GenerationPreset.Base),
    ];

    /// <param name="option">--preset: a built-in name or a preset file; null or empty to look at the model.</param>
    /// <param name="modelFolder">The diffusers folder; null for single files and the demo.</param>
    /// <exception cref="PresetFileException">The option names neither a built-in preset nor a readable preset file, or a
    /// preset file has a bad field.</exception>
    public static GenerationPreset Resolve(string? option, string? modelFolder)
    {
        if (!string.IsNullOrWhiteSpace(option)) return FromOption(option);
        if (modelFolder is not null)
        {
            string file = Path.Combine(modelFolder, FileName);
            if (File.Exists(file)) return GenerationPreset.Load(file) with { Source = $"{file} (the model folder's {FileName})" };
            if (Detect(modelFolder) is { } detected) return detected;
        }
        return GenerationPreset.Turbo with
        {
            Source = modelFolder is null
                ? "default: no --preset"
                : $"default: no --preset, no {FileName} in the model folder, and nothing there names the weights",
        };
    }

    /// <summary>A built-in name (case-insensitive; it wins over a file of that name) or a preset file.</summary>
    public static GenerationPreset FromOption(string option)
    {
        if (GenerationPreset.BuiltInNamed(option) is { } builtIn) return builtIn with { Source = "--preset " + builtIn.Name };
        if (!File.Exists(option))
            throw new PresetFileException(option, null,
                $"--preset must be {string.Join(" or ", GenerationPreset.BuiltIn.Select(p => p.Name))}, or a preset JSON file, and no file '{option}' exists.");
        return GenerationPreset.Load(option) with { Source = $"{Path.GetFullPath(option)} (--preset)" };
    }

    /// <summary>The released weights' preset when the folder's own files or path name their repository; null otherwise.</summary>
    public static GenerationPreset? Detect(string modelFolder)
    {
        string full = Path.GetFullPath(modelFolder);
        if (FromHubCachePath(full) is { } cached)
            return cached.Preset with { Source = $"detected: the model folder is the Hugging Face cache of {cached.Repository}" };
        if (NameOrPath(Path.Combine(full, "transformer", "config.json")) is { } origin && FromOrigin(origin) is { } saved)
            return saved.Preset with { Source = $"detected: transformer/config.json's _name_or_path names {saved.Repository}" };
        return null;
    }

    /// <summary>huggingface_hub keeps a repository in <c>models--{owner}--{name}</c> (its snapshots in
    /// <c>snapshots/{revision}</c> beneath): a path segment of exactly that name identifies it.</summary>
    private static (string Repository, GenerationPreset Preset)? FromHubCachePath(string path)
    {
        var segments = path.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);
        foreach (var known in Repositories)
        {
            string cacheFolder = "models--" + known.Repository.Replace("/", "--", StringComparison.Ordinal);
            if (segments.Any(s => s.Equals(cacheFolder, StringComparison.OrdinalIgnoreCase))) return known;
        }
        return null;
    }

    /// <summary>A repository id exactly, or a path into its Hugging Face cache folder.</summary>
    private static (string Repository, GenerationPreset Preset)? FromOrigin(string origin)
    {
        string trimmed = origin.Trim().TrimEnd('/', '\\');
        foreach (var known in Repositories)
            if (trimmed.Equals(known.Repository, StringComparison.OrdinalIgnoreCase)
                || trimmed.Equals(known.Repository + "/transformer", StringComparison.OrdinalIgnoreCase))
                return known;
        return FromHubCachePath(trimmed);
    }

    /// <summary>A config's <c>_name_or_path</c>; null when the file, the field or valid JSON is absent (the
    /// checkpoint's own checks report a broken config, not this look-up).</summary>
    private static string? NameOrPath(string configFile)
    {
        if (!File.Exists(configFile)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configFile));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("_name_or_path", out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
