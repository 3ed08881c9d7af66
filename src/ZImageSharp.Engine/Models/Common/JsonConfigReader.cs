using System.Text.Json;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// Typed reads of a Hugging Face style config.json object. A missing key falls back to the caller's default (the
/// reference class's default); a key of the wrong type is an error naming the file and the key, never silently ignored.
/// </summary>
internal sealed class JsonConfigReader
{
    private readonly JsonElement _root;

    public string Origin { get; }

    private JsonConfigReader(JsonElement root, string origin)
    {
        _root = root;
        Origin = origin;
    }

    /// <summary>Parses <paramref name="json"/>; a document of the form {"config": {...}} (the fixtures) is unwrapped.</summary>
    public static T Parse<T>(string json, string origin, Func<JsonConfigReader, T> read)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw new CheckpointException($"'{origin}' is not valid JSON: {e.Message}", origin, inner: e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"'{origin}' must hold a JSON object.", origin);
            if (root.TryGetProperty("config", out var inner) && inner.ValueKind == JsonValueKind.Object)
                root = inner;
            return read(new JsonConfigReader(root, origin));
        }
    }

    public bool Has(string key) =>
        _root.TryGetProperty(key, out var e) && e.ValueKind != JsonValueKind.Null;

    public JsonConfigReader? Object(string key) =>
        _root.TryGetProperty(key, out var e) && e.ValueKind == JsonValueKind.Object ? new JsonConfigReader(e, Origin) : null;

    public int Int(string key, int fallback) =>
        Get(key, fallback, e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : (object?)null, "an integer");

    public double Double(string key, double fallback) =>
        Get(key, fallback, e => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : (object?)null, "a number");

    public bool Bool(string key, bool fallback) =>
        Get(key, fallback, e => e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : (object?)null, "true or false");

    public string String(string key, string fallback) =>
        Get(key, fallback, e => e.ValueKind == JsonValueKind.String ? e.GetString() : null, "a string");

    public IReadOnlyList<int> IntArray(string key, IReadOnlyList<int> fallback) =>
        Get(key, fallback, e => e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => x.TryGetInt32(out _))
            ? e.EnumerateArray().Select(x => x.GetInt32()).ToArray()
            : (object?)null, "an array of integers");

    public IReadOnlyList<string> StringArray(string key, IReadOnlyList<string> fallback) =>
        Get(key, fallback, e => e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
            ? e.EnumerateArray().Select(x => x.GetString()!).ToArray()
            : (object?)null, "an array of strings");

    /// <summary>An error about a value that parsed but is not supported.</summary>
    public CheckpointException Unsupported(string key, string what) =>
        new($"'{Origin}': \"{key}\" {what}", Origin);

    private T Get<T>(string key, T fallback, Func<JsonElement, object?> convert, string expected)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        return convert(e) is T value ? value : throw new CheckpointException(
            $"'{Origin}': \"{key}\" must be {expected}, but it is {e.GetRawText()}.", Origin);
    }
}
