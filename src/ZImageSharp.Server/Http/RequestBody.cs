using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ZImageSharp.Errors;

namespace ZImageSharp.Server.Http;

/// <summary>Reads a request body as one JSON object, refusing oversized, empty and malformed bodies with a 400
/// that names <c>body</c>. Parsing by hand (not model binding) lets every field error be reported at once.</summary>
internal static class RequestBody
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 32 };

    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
            throw Invalid($"must be at most {maxBytes} bytes (got {request.ContentLength}).");

        var buffer = new ArrayBufferWriter<byte>(Math.Min(maxBytes, 16 * 1024));
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            int read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            if (read == 0) break;
            buffer.Advance(read);
            if (buffer.WrittenCount > maxBytes)
                throw Invalid($"must be at most {maxBytes} bytes (got more).");
        }
        if (buffer.WrittenCount == 0)
            throw Invalid("must be a JSON object (got an empty body).");

        try
        {
            using var document = JsonDocument.Parse(buffer.WrittenMemory, Options);
            if (FindInvalidText(document.RootElement, "$") is { } path)
                throw Invalid($"must be valid JSON: the text at {path} escapes an unpaired UTF-16 surrogate.");
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Invalid($"must be a JSON object (got {JsonFields.Describe(document.RootElement)}).");
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            // The parser's message names the problem and its position, never anything of the server's.
            throw Invalid($"must be valid JSON: {e.Message}");
        }
        catch (ArgumentException e)
        {
            // Invalid UTF-8 surfaces as ArgumentException from the decoder in some paths.
            throw Invalid($"must be valid UTF-8 JSON: {e.Message}");
        }
    }

    /// <summary>The parser accepts "\ud800" and only fails when the string is read; finding such text up front
    /// keeps that failure out of the handlers. Returns the JSON path of the first bad string or name.</summary>
    private static string? FindInvalidText(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return Readable(() => element.GetString()) ? null : path;
            case JsonValueKind.Array:
                int index = 0;
                foreach (var item in element.EnumerateArray())
                    if (FindInvalidText(item, $"{path}[{index++}]") is { } bad) return bad;
                return null;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name = "";
                    if (!Readable(() => name = property.Name)) return path + ".<name>";
                    if (FindInvalidText(property.Value, $"{path}.{(name.Length > 40 ? name[..40] + "…" : name)}") is { } bad) return bad;
                }
                return null;
            default:
                return null;
        }
    }

    private static bool Readable(Action read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static InvalidRequestException Invalid(string message) => new([new FieldError("body", message)]);
}
