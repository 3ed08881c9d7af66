using System.Text.Json;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Http;

namespace ZImageSharp.Server.Apis;

/// <summary>The image fields of an edit request (docs/editing.md): base64 PNGs, with or without a <c>data:</c> URL
/// prefix, decoded to pixels here so a bad one is a 400 naming the field, before any job exists.</summary>
internal static class EditFields
{
    /// <summary>The PNG in field <paramref name="name"/>, or null when it is absent; a bad one fails the field.</summary>
    public static EditImage? Image(JsonFields fields, string name)
    {
        if (fields.String(name) is not { } text) return null;
        return Decode(fields, name, text);
    }

    /// <summary>The first PNG of an array field (A1111's init_images); more than one is refused.</summary>
    public static EditImage? FirstImage(JsonElement body, JsonFields fields, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0
            || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            fields.Fail(name, "must be an array of one base64-encoded PNG.");
            return null;
        }
        if (value.GetArrayLength() > 1)
        {
            fields.Fail(name, $"must hold one image: a request edits one init image (got {value.GetArrayLength()}); use batch_size for more results.");
            return null;
        }
        return Decode(fields, name, value[0].GetString()!);
    }

    public static EditImage? Decode(JsonFields fields, string name, string text)
    {
        int comma = text.StartsWith("data:", StringComparison.Ordinal) ? text.IndexOf(',') : -1;
        var base64 = comma >= 0 ? text[(comma + 1)..] : text;
        byte[] png;
        try { png = Convert.FromBase64String(base64); }
        catch (FormatException)
        {
            fields.Fail(name, "must be a base64-encoded PNG; the text is not base64.");
            return null;
        }
        return FromPng(fields, name, png);
    }

    public static EditImage? FromPng(JsonFields fields, string name, byte[] png)
    {
        try { return EditImage.FromPng(png, name); }
        catch (ArgumentException e)
        {
            fields.Fail(name, $"must be a PNG (8-bit RGB or RGBA): {e.Message[(name.Length + 2)..]}");
            return null;
        }
    }
}
