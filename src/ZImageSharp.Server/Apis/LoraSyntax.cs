using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using ZImageSharp.Server.Http;

namespace ZImageSharp.Server.Apis;

/// <summary>
/// How the APIs name LoRAs: the native <c>loras</c> field (<c>[{"name": "style", "strength": 0.8}]</c> or
/// <c>["style:0.8"]</c>) and A1111's <c>&lt;lora:name:0.8&gt;</c> in the prompt, which is taken out of the prompt.
/// Names only: a path, or a name that climbs out of the LoRA folder, is refused. Whether the file is there and usable
/// is the engine's <see cref="ILoraCatalog"/>'s answer, asked before the job is queued.
/// </summary>
internal static partial class LoraSyntax
{
    [GeneratedRegex(@"<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", RegexOptions.IgnoreCase)]
    private static partial Regex PromptTag();

    /// <summary>The native field, or [] when absent; type errors go to <paramref name="fields"/>.</summary>
    public static IReadOnlyList<LoraRequest> ParseField(JsonElement body, JsonFields fields)
    {
        if (!body.TryGetProperty("loras", out var value) || value.ValueKind == JsonValueKind.Null) return [];
        if (value.ValueKind != JsonValueKind.Array)
        {
            fields.Fail("loras", $"must be a list of {{\"name\", \"strength\"}} objects (got {JsonFields.Describe(value)}).");
            return [];
        }
        var loras = new List<LoraRequest>();
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            string field = $"loras[{i++}]";
            if (item.ValueKind == JsonValueKind.String)
            {
                loras.Add(FromText(item.GetString()!));
                continue;
            }
            if (item.ValueKind != JsonValueKind.Object)
            {
                fields.Fail(field, $"must be {{\"name\": …, \"strength\": …}} or \"name:strength\" (got {JsonFields.Describe(item)}).");
                continue;
            }
            var unknown = item.EnumerateObject().Select(p => p.Name).Where(n => n is not ("name" or "strength")).ToList();
            if (unknown.Count > 0) fields.Fail(field, $"has unknown fields {string.Join(", ", unknown.Select(n => $"'{n}'"))}; allowed: name, strength.");
            string? name = item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (name is null) { fields.Fail(field, "needs a \"name\" (a LoRA in the server's LoRA folder; GET /api/loras lists them)."); continue; }
            float strength = 1f;
            if (item.TryGetProperty("strength", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                if (s.ValueKind != JsonValueKind.Number || !s.TryGetSingle(out strength))
                {
                    fields.Fail(field + ".strength", $"must be a number (got {JsonFields.Describe(s)}).");
                    continue;
                }
            }
            loras.Add(new LoraRequest(name, strength));
        }
        return loras;
    }

    /// <summary>Takes A1111's <c>&lt;lora:name:strength&gt;</c> tags out of the prompt and appends them to the request's LoRAs.</summary>
    public static GenerationRequest FromPrompt(GenerationRequest request, JsonFields fields)
    {
        if (request.Prompt is null || !request.Prompt.Contains('<')) return request;
        var tags = new List<LoraRequest>();
        string prompt = PromptTag().Replace(request.Prompt, m =>
        {
            float strength = 1f;
            if (m.Groups[2].Success && m.Groups[2].Value.Length > 0
                && !float.TryParse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out strength))
                fields.Fail("prompt", $"'{m.Value}': the strength '{m.Groups[2].Value}' is not a number (<lora:name:0.8>).");
            tags.Add(new LoraRequest(m.Groups[1].Value.Trim(), strength));
            return "";
        });
        if (tags.Count == 0) return request;
        return request with { Prompt = string.Join(" ", prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries)), Loras = [.. request.Loras, .. tags] };
    }

    private static LoraRequest FromText(string text)
    {
        int colon = text.LastIndexOf(':');
        return colon > 0 && float.TryParse(text[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var strength)
            ? new LoraRequest(text[..colon], strength)
            : new LoraRequest(text);
    }

    /// <summary>Names that are paths, and, when the engine has a catalog, LoRAs it cannot find or read: a 400 before
    /// the job is queued.</summary>
    public static void Check(HttpContext http, GenerationRequest request, Func<string, string>? rename = null)
    {
        if (request.Loras.Count == 0) return;
        var errors = new List<FieldError>();
        for (int i = 0; i < request.Loras.Count; i++)
        {
            string name = request.Loras[i].Name;
            if (Path.IsPathRooted(name) || name.Contains('\\') || name.Split('/').Any(part => part is ".." or "."))
                errors.Add(new($"loras[{i}]", $"'{name}' must be a LoRA name in the server's LoRA folder, not a path (GET /api/loras lists them)."));
        }
        if (errors.Count == 0 && http.RequestServices.GetService<ILoraCatalog>() is { } catalog)
            errors.AddRange(catalog.CheckLoras(request.Loras));
        if (errors.Count > 0)
            throw new InvalidRequestException(rename is null ? errors : errors.Select(e => e with { Field = rename(e.Field) }).ToList());
    }

    /// <summary>GET /api/loras: the names the LoRA folder holds.</summary>
    public static LoraListDto List(HttpContext http) =>
        http.RequestServices.GetService<ILoraCatalog>() is { } catalog
            ? new LoraListDto(catalog.ListLoras(), true)
            : new LoraListDto([], false);
}

internal sealed record LoraListDto(IReadOnlyList<string> Loras, bool Available);
