using System.Text.Json;
using ZImageSharp.Errors;

namespace ZImageSharp.Server.Http;

/// <summary>Typed reads of a JSON object's fields that collect an error per bad field instead of stopping at the
/// first. A missing or null field reads as null. Messages say what is allowed and what was sent.</summary>
internal sealed class JsonFields(JsonElement root, Func<string, string> allowed)
{
    private readonly List<FieldError> _errors = [];
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    public IReadOnlyList<FieldError> Errors => _errors;

    /// <summary>Fields that already have a type error: range checks on them would only repeat it.</summary>
    public IReadOnlySet<string> Failed => _failed;

    public bool Has(string name) => root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public void RejectUnknown(IReadOnlyCollection<string> known)
    {
        foreach (var property in root.EnumerateObject())
            if (!known.Contains(property.Name))
                Fail(Shorten(property.Name, 64), $"is not a field of this API; the fields are: {string.Join(", ", known)}.");
    }

    public string? String(string name)
    {
        if (!TryGet(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        return Wrong(name, value);
    }

    public int? Int(string name)
    {
        if (!TryGet(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int number)) return number;
        Wrong(name, value);
        return null;
    }

    public long? Long(string name)
    {
        if (!TryGet(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long number)) return number;
        Wrong(name, value);
        return null;
    }

    public float? Float(string name)
    {
        if (!TryGet(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double number)
            && double.IsFinite(number) && Math.Abs(number) <= float.MaxValue)
            return (float)number;
        Wrong(name, value);
        return null;
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, out var value)) return null;
        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False) return value.GetBoolean();
        Wrong(name, value);
        return null;
    }

    public void Fail(string field, string message)
    {
        _failed.Add(field);
        _errors.Add(new FieldError(field, message));
    }

    /// <summary>Core's range checks on the fields that parsed, with the field renamed where this API calls it
    /// something else, followed by the type errors; throws when there is any.</summary>
    public void ThrowIfInvalid(IEnumerable<FieldError> rangeErrors, Func<string, string>? rename = null)
    {
        var all = rangeErrors
            .Select(e => rename is null ? e : e with { Field = rename(e.Field) })
            .Where(e => !_failed.Contains(e.Field))
            .Concat(_errors)
            .ToList();
        if (all.Count > 0) throw new InvalidRequestException(all);
    }

    /// <summary>A short description of a JSON value for error messages.</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Shorten(value.GetString() ?? "", 40)}\"",
        JsonValueKind.Number => $"the number {Shorten(value.GetRawText(), 40)}",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private bool TryGet(string name, out JsonElement value) =>
        root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    private string? Wrong(string name, JsonElement value)
    {
        Fail(name, $"must be {allowed(name)} (got {Describe(value)}).");
        return null;
    }

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}
