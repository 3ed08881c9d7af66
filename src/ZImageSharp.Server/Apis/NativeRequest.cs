using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Http;

namespace ZImageSharp.Server.Apis;

/// <summary>Reads the native request body. Unknown fields are refused (a misspelt "negative_promt" should not be
/// silently ignored); every bad field is reported in one 400.</summary>
internal static class NativeRequest
{
    public static readonly string[] Fields =
    [
        "prompt", "negative_prompt", "width", "height", "steps", "seed", "count",
        "guidance_scale", "cfg_truncation", "cfg_normalization", "shift", "sampler", "scheduler",
        "loras", "init_image", "strength", "mask",
    ];

    /// <summary>The body of a job: up to MaxRequestBodyBytes, or up to MaxEditBodyBytes when it declares a larger length
    /// and its first MaxRequestBodyBytes show a top-level "init_image" (every other field fits in those: prompts are
    /// limited), so a large body that is not an edit is refused after reading only that much.</summary>
    public static async Task<JsonElement> ReadBodyAsync(Microsoft.AspNetCore.Http.HttpRequest http, Hosting.ZImageServerOptions options)
    {
        int small = options.MaxRequestBodyBytes;
        var aborted = http.HttpContext.RequestAborted;
        if (!(http.ContentLength > small) || http.ContentLength > options.MaxEditBodyBytes)
            return await RequestBody.ReadObjectAsync(http, small, aborted);
        http.EnableBuffering(bufferThreshold: small, bufferLimit: options.MaxEditBodyBytes);
        var prefix = new byte[small];
        int read = 0;
        while (read < small && await http.Body.ReadAsync(prefix.AsMemory(read, small - read), aborted) is var n and > 0) read += n;
        http.Body.Position = 0;
        if (!HasTopLevelInitImage(prefix.AsSpan(0, read)))
            throw new ZImageSharp.Errors.InvalidRequestException([new ZImageSharp.Errors.FieldError("body",
                $"must be at most {small} bytes (got {http.ContentLength}); only a request with an init_image may be larger (at most {options.MaxEditBodyBytes}).")]);
        return await RequestBody.ReadObjectAsync(http, options.MaxEditBodyBytes, aborted);
    }

    /// <summary>Whether the start of a JSON object names "init_image" at its top level before the text runs out.</summary>
    internal static bool HasTopLevelInitImage(ReadOnlySpan<byte> start)
    {
        try
        {
            var reader = new Utf8JsonReader(start, isFinalBlock: false, state: default);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("init_image"u8)) return true;
                if (!reader.Read()) return false;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip()) return false;
            }
            return false;
        }
        catch (JsonException) { return false; }
    }

    public static GenerationRequest Parse(JsonElement body, RequestLimits limits)
    {
        var fields = new JsonFields(body, FieldRules.For(limits));
        fields.RejectUnknown(Fields);
        // The preset's defaults (docs/presets.md): base runs CFG unless the client turns it off.
        var defaults = limits.Preset.NewRequest();
        var init = EditFields.Image(fields, "init_image");
        var request = new GenerationRequest
        {
            // A missing prompt stays null so that Core's validator reports it.
            Prompt = fields.String("prompt")!,
            NegativePrompt = fields.String("negative_prompt") ?? defaults.NegativePrompt,
            Width = fields.Int("width") ?? init?.Width ?? defaults.Width,
            Height = fields.Int("height") ?? init?.Height ?? defaults.Height,
            Steps = fields.Int("steps") ?? defaults.Steps,
            Seed = fields.Long("seed"),
            Count = fields.Int("count") ?? defaults.Count,
            GuidanceScale = fields.Float("guidance_scale") ?? defaults.GuidanceScale,
            CfgTruncation = fields.Float("cfg_truncation") ?? defaults.CfgTruncation,
            CfgNormalization = fields.Float("cfg_normalization") ?? defaults.CfgNormalization,
            Shift = fields.Float("shift") ?? defaults.Shift,
            Sampler = fields.String("sampler") ?? defaults.Sampler,
            Scheduler = fields.String("scheduler") ?? defaults.Scheduler,
            InitImage = init,
            Strength = fields.Float("strength") ?? defaults.Strength,
            Mask = EditFields.Image(fields, "mask"),
        };
        if (request.Prompt is null && fields.Failed.Contains("prompt"))
            request = request with { Prompt = "" };
        request = LoraSyntax.FromPrompt(request with { Loras = LoraSyntax.ParseField(body, fields) }, fields);
        fields.ThrowIfInvalid(GenerationRequestValidator.Check(request, limits));
        return request;
    }
}
