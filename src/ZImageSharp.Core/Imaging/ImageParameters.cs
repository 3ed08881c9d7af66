using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ZImageSharp.Imaging;

/// <summary>
/// The parameters one image was generated with, as stored in its PNG: an AUTOMATIC1111-style <c>parameters</c> text
/// (readable by A1111's "PNG Info", Civitai and similar tools) and a <c>zimage</c> iTXt chunk holding the same
/// values as JSON, which round-trips exactly.
/// </summary>
public sealed record ImageParameters
{
    /// <summary>Keyword of the A1111 infotext chunk.</summary>
    public const string InfotextKeyword = "parameters";

    /// <summary>Keyword of the JSON chunk.</summary>
    public const string JsonKeyword = "zimage";

    public required string Prompt { get; init; }
    public string NegativePrompt { get; init; } = "";
    public required int Steps { get; init; }
    /// <summary>Sampler name as A1111 writes it ("Euler", "Euler a", "DPM++ 2M", …; <see cref="Contracts.SamplerNames.A1111Label"/>).</summary>
    public string Sampler { get; init; } = "Euler";
    /// <summary>A1111's "Schedule type" ("Beta", "Karras"); null for Z-Image's own schedule (simple), which is then
    /// not written, as A1111 leaves out its automatic one.</summary>
    public string? ScheduleType { get; init; }
    /// <summary>A1111's classic CFG scale, 1 + g for Z-Image's guidance g (spec §1.5): 1 is guidance off.</summary>
    public float CfgScale { get; init; } = 1f;
    public required long Seed { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    public string Model { get; init; } = "Z-Image-Turbo";
    /// <summary>More "Key: value" pairs, written after Model in this order (A1111's extra_generation_params).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Extra { get; init; } = [];

    /// <summary>
    /// What one image of <paramref name="request"/> records: the engine writes it into the PNG, and the server uses it
    /// for A1111's <c>infotexts</c> and for images that arrive without it. The sampler is named as A1111 names it
    /// ("euler" → "Euler", "euler_ancestral" → "Euler a"), a schedule other than simple as its "Schedule type", and
    /// the guidance g as the classic CFG scale 1 + g; a shift the request set is an extra field, and so are, with
    /// guidance on, a cfg_normalization or cfg_truncation that is not off ("CFG normalization: 1", "CFG truncation:
    /// 0.9"); an edit's "Denoising strength", "Init image hash" and (inpainting) "Mask hash", A1111's names where it has
    /// them (<see cref="Contracts.EditImage.Md5"/>; A1111 has no mask hash, the name follows its init image's); and the weight
    /// precision the image was made with ("Weights: bf16", "Weights: fp8 e4m3 (transformer; bf16 compute)") when known:
    /// an fp8 plan's image differs slightly from a bf16 plan's, and the parameters must say which one this is.
    /// </summary>
    public static ImageParameters For(Contracts.GenerationRequest request, long seed, int width, int height, string model,
        string? weights = null) => new()
    {
        Prompt = request.Prompt,
        NegativePrompt = request.NegativePrompt,
        Steps = request.Steps,
        Sampler = Contracts.SamplerNames.A1111Label(request.Sampler),
        ScheduleType = request.Scheduler.Equals(Contracts.SchedulerNames.Simple, StringComparison.OrdinalIgnoreCase)
            ? null
            : Contracts.SchedulerNames.A1111Label(request.Scheduler),
        CfgScale = 1f + request.GuidanceScale,
        Seed = seed,
        Width = width,
        Height = height,
        Model = model,
        Extra = ExtraFields(request, weights),
    };

    private static List<KeyValuePair<string, string>> ExtraFields(Contracts.GenerationRequest request, string? weights)
    {
        var extra = new List<KeyValuePair<string, string>>();
        void Add(string key, string value) => extra.Add(new(key, value));
        static string Number(float value) => value.ToString(CultureInfo.InvariantCulture);
        if (request.Shift is { } shift) Add("Shift", Number(shift));
        if (request.GuidanceScale > 0 && request.CfgNormalization > 0) Add("CFG normalization", Number(request.CfgNormalization));
        if (request.GuidanceScale > 0 && request.CfgTruncation < 1) Add("CFG truncation", Number(request.CfgTruncation));
        if (request.InitImage is { } init)
        {
            Add("Denoising strength", Number(request.Strength));
            Add("Init image hash", init.Md5());
            if (request.Mask is { } mask) Add("Mask hash", mask.Md5());
        }
        if (weights is { Length: > 0 }) Add("Weights", weights);
        return extra;
    }

    /// <summary>These parameters naming the request defaults they were made with ("Preset: base"); unchanged for
    /// Turbo's, which every image made before presets existed had.</summary>
    public ImageParameters WithPreset(Contracts.GenerationPreset preset) =>
        preset.IsTurbo ? this : this with { Extra = [.. Extra, new("Preset", preset.Name)] };

    /// <summary>
    /// These parameters with the request's LoRAs recorded as A1111 records them: a <c>&lt;lora:name:strength&gt;</c> tag in
    /// the prompt for each LoRA the prompt does not already name, and <c>Lora hashes: "name: hash, …"</c> (the first 12
    /// hex digits of each file's SHA-256 after its header). Unchanged without LoRAs.
    /// </summary>
    public ImageParameters WithLoras(IReadOnlyList<Contracts.LoraRequest> loras, string? hashes)
    {
        if (loras.Count == 0) return this;
        var tags = loras.Select(l => $"<lora:{LoraName(l.Name)}:{l.Strength.ToString(CultureInfo.InvariantCulture)}>")
            .Where(tag => !Prompt.Contains(tag[..(tag.LastIndexOf(':') + 1)], StringComparison.Ordinal));
        string prompt = string.Join(" ", new[] { Prompt }.Concat(tags).Where(p => p.Length > 0));
        return this with
        {
            Prompt = prompt,
            Extra = hashes is { Length: > 0 } ? [.. Extra, new("Lora hashes", hashes)] : Extra,
        };
    }

    /// <summary>The name A1111 shows for a LoRA: a path's file name without <c>.safetensors</c>.</summary>
    public static string LoraName(string nameOrPath)
    {
        string name = nameOrPath.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        return name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? name[..^".safetensors".Length] : name;
    }

    /// <summary>
    /// The A1111 infotext, built as <c>create_infotext</c> in stable-diffusion-webui modules/processing.py does:
    /// the prompt, a "Negative prompt: …" line only when there is one, then "Steps: 8, Sampler: Euler[, Schedule type:
    /// Karras], CFG scale: 1, Seed: 42, Size: 1024x1024, Model: Z-Image-Turbo" and the extras. A value holding ',',
    /// ':' or a line feed is written as a JSON string (A1111's <c>quote</c>); ',' and ':' are dropped from the model name as A1111 does;
    /// the whole text is stripped of surrounding white space.
    /// </summary>
    public string ToInfotext()
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("Steps", Steps.ToString(CultureInfo.InvariantCulture)),
            new("Sampler", Sampler),
        };
        if (ScheduleType is not null) fields.Add(new("Schedule type", ScheduleType));
        fields.AddRange(
        [
            new("CFG scale", CfgScale.ToString(CultureInfo.InvariantCulture)),
            new("Seed", Seed.ToString(CultureInfo.InvariantCulture)),
            new("Size", $"{Width}x{Height}"),
            new("Model", Model.Replace(",", "").Replace(":", "")),
        ]);
        fields.AddRange(Extra);

        string parameters = string.Join(", ", fields.Select(f => f.Key == f.Value ? f.Key : $"{f.Key}: {Quote(f.Value)}"));
        string negative = NegativePrompt.Length > 0 ? "\nNegative prompt: " + NegativePrompt : "";
        return StripPythonWhiteSpace($"{Prompt}{negative}\n{parameters}");
    }

    /// <summary>The values as a JSON object (snake_case keys; extras as an object in their order).</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("prompt", Prompt);
            json.WriteString("negative_prompt", NegativePrompt);
            json.WriteNumber("steps", Steps);
            json.WriteString("sampler", Sampler);
            if (ScheduleType is not null) json.WriteString("schedule_type", ScheduleType);
            json.WriteNumber("cfg_scale", CfgScale);
            json.WriteNumber("seed", Seed);
            json.WriteNumber("width", Width);
            json.WriteNumber("height", Height);
            json.WriteString("model", Model);
            json.WriteStartObject("extra");
            foreach (var (key, value) in Extra)
                json.WriteString(key, value);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <exception cref="JsonException">The text is not JSON of <see cref="ToJson"/>'s shape.</exception>
    public static ImageParameters FromJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        try
        {
            return new ImageParameters
            {
                Prompt = root.GetProperty("prompt").GetString()!,
                NegativePrompt = root.TryGetProperty("negative_prompt", out var negative) ? negative.GetString() ?? "" : "",
                Steps = root.GetProperty("steps").GetInt32(),
                Sampler = root.GetProperty("sampler").GetString()!,
                ScheduleType = root.TryGetProperty("schedule_type", out var schedule) ? schedule.GetString() : null,
                CfgScale = root.GetProperty("cfg_scale").GetSingle(),
                Seed = root.GetProperty("seed").GetInt64(),
                Width = root.GetProperty("width").GetInt32(),
                Height = root.GetProperty("height").GetInt32(),
                Model = root.GetProperty("model").GetString()!,
                Extra = root.TryGetProperty("extra", out var extra)
                    ? extra.EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!)).ToList()
                    : [],
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new JsonException($"The image parameters JSON lacks a field or has one of the wrong type: {e.Message}", e);
        }
    }

    /// <summary>The two text chunks: <c>parameters</c> as tEXt, or as iTXt when the text is not Latin-1 (what
    /// Pillow, and so A1111, does), and <c>zimage</c> (JSON) as iTXt. NUL, which no text chunk can hold, becomes
    /// U+FFFD in the infotext (the JSON escapes it).</summary>
    public IReadOnlyList<PngText> ToPngText() =>
    [
        new PngText(InfotextKeyword, ToInfotext().Replace('\0', '\uFFFD')),
        new PngText(JsonKeyword, ToJson(), PngTextEncoding.Utf8),
    ];

    /// <summary>The parameters stored by <see cref="ToPngText"/>, or null when the PNG has no <c>zimage</c> chunk.</summary>
    public static ImageParameters? FromPng(PngInfo png) => png.GetText(JsonKeyword) is { } json ? FromJson(json) : null;

    /// <summary>A1111's <c>quote</c>: Python's <c>json.dumps(value, ensure_ascii=False)</c> when the value holds
    /// ',', ':' or a line feed, else the value as is.</summary>
    internal static string Quote(string value)
    {
        if (value.IndexOfAny([',', ':', '\n']) < 0)
            return value;
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' => "\\b",
                '\f' => "\\f",
                < ' ' => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return quoted.Append('"').ToString();
    }

    /// <summary>Python's <c>str.strip()</c>: Unicode white space plus the separators U+001C-U+001F.</summary>
    private static string StripPythonWhiteSpace(string text)
    {
        static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';
        int start = 0, end = text.Length;
        while (start < end && IsSpace(text[start]))
            start++;
        while (end > start && IsSpace(text[end - 1]))
            end--;
        return text[start..end];
    }
}
