using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZImageSharp.Contracts;

/// <summary>
/// Named request defaults for one kind of Z-Image weights: what a request that leaves a field out gets, in the CLI,
/// the native and A1111 APIs and the page. Z-Image-Turbo and Z-Image (base) share the architecture and differ only in
/// these values (docs/presets.md): Turbo has guidance distilled in and runs 8 steps without CFG; base needs CFG.
/// </summary>
public sealed record GenerationPreset
{
    public const string TurboName = "turbo";
    public const string BaseName = "base";

    /// <summary>A preset file's fields, as the native API names the request fields they default.</summary>
    public static IReadOnlyList<string> FileFields { get; } =
    [
        "name", "extends", "steps", "guidance_scale", "negative_prompt", "cfg_normalization", "cfg_truncation",
        "shift", "sampler", "scheduler", "guidance_distilled",
    ];

    /// <summary>Shown in the PNG parameters ("Preset: base") and <c>/api/system</c>.</summary>
    public required string Name { get; init; }

    /// <summary>What the weights are called in the model's name (and so the PNG's Model field).</summary>
    public string ModelFamily { get; init; } = "Z-Image-Turbo";

    public int Steps { get; init; } = 8;
    public float GuidanceScale { get; init; }
    public string NegativePrompt { get; init; } = "";
    public float CfgNormalization { get; init; }
    public float CfgTruncation { get; init; } = 1f;
    /// <summary>Null: the checkpoint's scheduler_config.json.</summary>
    public float? Shift { get; init; }
    public string Sampler { get; init; } = SamplerNames.Euler;
    public string Scheduler { get; init; } = SchedulerNames.Simple;

    /// <summary>The weights have CFG distilled in (Turbo): A1111's <c>cfg_scale</c>, which its clients send as 7
    /// unasked, is then ignored; otherwise it is the guidance (classic scale c = 1 + g).</summary>
    public bool GuidanceDistilled { get; init; } = true;

    /// <summary>Where this preset came from (built in, a file, what the model folder says), for <c>/api/system</c>
    /// and the CLI's output.</summary>
    public string Source { get; init; } = "built-in";

    /// <summary>Z-Image-Turbo: the request defaults as they always were (8 steps, no CFG, shift from the checkpoint).</summary>
    public static GenerationPreset Turbo { get; } = new() { Name = TurboName };

    /// <summary>
    /// Z-Image (base), as its model card's diffusers example runs it: 50 steps, guidance_scale 4, cfg_normalization
    /// off, no cfg_truncation, an empty negative prompt (the card's recommended ranges: guidance 3–5, 28–50 steps);
    /// the shift comes from the checkpoint's scheduler config, as diffusers takes it.
    /// </summary>
    public static GenerationPreset Base { get; } = new()
    {
        Name = BaseName,
        ModelFamily = "Z-Image",
        Steps = 50,
        GuidanceScale = 4f,
        GuidanceDistilled = false,
    };

    public static IReadOnlyList<GenerationPreset> BuiltIn { get; } = [Turbo, Base];

    /// <summary>The built-in preset of that name (case-insensitive), or null.</summary>
    public static GenerationPreset? BuiltInNamed(string name) =>
        BuiltIn.FirstOrDefault(p => p.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether images name this preset in their parameters: every one but Turbo's defaults.</summary>
    [JsonIgnore]
    public bool IsTurbo => Name == TurboName;

    /// <summary>A request of these defaults, for a parser to fill in the fields a client gave.</summary>
    public GenerationRequest NewRequest(string prompt = "") => new()
    {
        Prompt = prompt,
        NegativePrompt = NegativePrompt,
        Steps = Steps,
        GuidanceScale = GuidanceScale,
        CfgNormalization = CfgNormalization,
        CfgTruncation = CfgTruncation,
        Shift = Shift,
        Sampler = Sampler,
        Scheduler = Scheduler,
    };

    /// <summary>Reads a preset file.</summary>
    /// <exception cref="PresetFileException">The file cannot be read, or a field is unknown, of the wrong type or out of range.</exception>
    public static GenerationPreset Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PresetFileException(path, null, "it does not exist.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PresetFileException(path, null, $"it cannot be read ({e.Message}).", e);
        }
        return Parse(text, path);
    }

    /// <summary>
    /// A preset file's JSON: an object of <see cref="FileFields"/>, each optional. "extends" names the built-in preset
    /// the others start from (turbo when absent); "name" defaults to the file's name. Values are checked as a request's
    /// are, so a preset never makes requests the validator refuses.
    /// </summary>
    /// <param name="origin">The file, named in errors and kept as <see cref="Source"/>.</param>
    public static GenerationPreset Parse(string json, string origin)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new PresetFileException(origin, null, $"it is not valid JSON ({e.Message.Split(" Path:")[0]}).", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new PresetFileException(origin, null, $"it must hold a JSON object of preset fields ({string.Join(", ", FileFields)}).");
            foreach (var property in root.EnumerateObject())
                if (!FileFields.Contains(property.Name))
                    throw new PresetFileException(origin, property.Name, $"is not a preset field; the fields are: {string.Join(", ", FileFields)}.");

            var reader = new FieldReader(root, origin);
            var start = Turbo;
            if (reader.String("extends") is { } extends)
                start = BuiltInNamed(extends) ?? throw new PresetFileException(origin, "extends",
                    $"must name a built-in preset: {string.Join(" or ", BuiltIn.Select(p => p.Name))} (got '{Clip(extends)}').");
            string name = reader.String("name") ?? Path.GetFileNameWithoutExtension(origin);
            if (name.Length is 0 or > 64 || name.Any(c => !(char.IsLetterOrDigit(c) || c is '-' or '_' or '.' or ' ')))
                throw new PresetFileException(origin, "name", $"must be 1 to 64 letters, digits, spaces, '-', '_' or '.' (got '{Clip(name)}').");

            var preset = start with
            {
                Name = name,
                Steps = reader.Int("steps") ?? start.Steps,
                GuidanceScale = reader.Float("guidance_scale") ?? start.GuidanceScale,
                NegativePrompt = reader.String("negative_prompt") ?? start.NegativePrompt,
                CfgNormalization = reader.Normalization() ?? start.CfgNormalization,
                CfgTruncation = reader.Float("cfg_truncation") ?? start.CfgTruncation,
                Shift = reader.Has("shift") ? reader.NullableFloat("shift") : start.Shift,
                Sampler = reader.String("sampler")?.ToLowerInvariant() ?? start.Sampler,
                Scheduler = reader.String("scheduler")?.ToLowerInvariant() ?? start.Scheduler,
                GuidanceDistilled = reader.Bool("guidance_distilled") ?? start.GuidanceDistilled,
                Source = origin,
            };
            // The validator words every range; a preset's fields are named as the request fields they default.
            var errors = GenerationRequestValidator.Check(preset.NewRequest("preset"), RequestLimits.Default);
            if (errors.Count > 0)
                throw new PresetFileException(origin, errors[0].Field, string.Join(" ", errors.Select((e, i) => i == 0 ? e.Message : e.ToString())));
            return preset;
        }
    }

    private static string Clip(string text) => text.Length > 40 ? text[..40] + "…" : text;

    /// <summary>One field at a time, each wrong type an error naming the field.</summary>
    private sealed class FieldReader(JsonElement root, string origin)
    {
        public bool Has(string field) => root.TryGetProperty(field, out _);

        private JsonElement? Get(string field) => root.TryGetProperty(field, out var value) ? value : null;

        private PresetFileException Wrong(string field, string expected, JsonElement value) =>
            new(origin, field, $"must be {expected} (got {Clip(value.GetRawText())}).");

        public string? String(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v => v.GetString(),
            { } v => throw Wrong(field, "a string", v),
        };

        public int? Int(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out int n) => n,
            { } v => throw Wrong(field, "a whole number", v),
        };

        public float? Float(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v => (float)v.GetDouble(),
            { } v => throw Wrong(field, "a number", v),
        };

        public float? NullableFloat(string field) => Get(field) switch
        {
            null or { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.Number } v => (float)v.GetDouble(),
            { } v => throw Wrong(field, "a number, or null for the checkpoint's scheduler config", v),
        };

        public bool? Bool(string field) => Get(field) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            { } v => throw Wrong(field, "true or false", v),
        };

        /// <summary>diffusers' cfg_normalization is a bool (True means 1) or a number.</summary>
        public float? Normalization() => Get("cfg_normalization") switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => 1f,
            { ValueKind: JsonValueKind.False } => 0f,
            { ValueKind: JsonValueKind.Number } v => (float)v.GetDouble(),
            { } v => throw Wrong("cfg_normalization", "a number (0 off) or true/false as diffusers takes it", v),
        };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Steps} steps, guidance {GuidanceScale}{(CfgNormalization > 0 ? $", cfg_normalization {CfgNormalization}" : "")}" +
        $"{(CfgTruncation < 1 ? $", cfg_truncation {CfgTruncation}" : "")}, {Sampler}/{Scheduler}" +
        $"{(Shift is { } s ? $", shift {s}" : "")}");
}

/// <summary>A preset file that cannot be used; the message names the file and, where one is at fault, the field.</summary>
public sealed class PresetFileException(string file, string? field, string reason, Exception? inner = null)
    : FormatException($"The preset {file} cannot be used: {(field is null ? "" : field + " ")}{reason}", inner)
{
    public string File { get; } = file;
    /// <summary>The field at fault; null when the file as a whole is (missing, not JSON).</summary>
    public string? Field { get; } = field;
}
