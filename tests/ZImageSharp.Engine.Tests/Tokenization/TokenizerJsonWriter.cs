using System.Text.Json;
using ZImageSharp.Engine.Tokenization;

namespace ZImageSharp.Engine.Tests.Tokenization;

/// <summary>Writes a Hugging Face tokenizer.json (the layout Qwen ships) from vocab.json + merges.txt, so the
/// tokenizer.json reader is tested on the real vocabulary without storing a second 7 MB copy of it.</summary>
internal static class TokenizerJsonWriter
{
    /// <summary>Qwen's own added tokens (ids up to 151664) from a tokenizer_config.json's added_tokens_decoder.</summary>
    public static IReadOnlyList<(int Id, string Content, bool Special)> QwenAddedTokens(string tokenizerConfigPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerConfigPath));
        return doc.RootElement.GetProperty("added_tokens_decoder").EnumerateObject()
            .Select(p => (Id: int.Parse(p.Name), Content: p.Value.GetProperty("content").GetString()!, Special: p.Value.GetProperty("special").GetBoolean()))
            .Where(t => t.Id <= 151664)
            .OrderBy(t => t.Id)
            .ToList();
    }

    public static void Write(
        string path,
        string vocabAndMergesDir,
        IReadOnlyList<(int Id, string Content, bool Special)> addedTokens,
        bool pairMerges,
        Action<Utf8JsonWriter>? writeNormalizer = null,
        string pattern = QwenPreTokenizer.Pattern,
        string modelType = "BPE")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var vocab = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(vocabAndMergesDir, "vocab.json")));
        var merges = File.ReadLines(Path.Combine(vocabAndMergesDir, "merges.txt")).Where(l => l.Length > 0 && !l.StartsWith("#version"));

        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream);
        json.WriteStartObject();
        json.WriteString("version", "1.0");
        json.WriteNull("truncation");
        json.WriteNull("padding");
        json.WriteStartArray("added_tokens");
        foreach (var (id, content, special) in addedTokens)
        {
            json.WriteStartObject();
            json.WriteNumber("id", id);
            json.WriteString("content", content);
            json.WriteBoolean("single_word", false);
            json.WriteBoolean("lstrip", false);
            json.WriteBoolean("rstrip", false);
            json.WriteBoolean("normalized", false);
            json.WriteBoolean("special", special);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WritePropertyName("normalizer");
        if (writeNormalizer is null)
        {
            json.WriteStartObject();
            json.WriteString("type", "NFC");
            json.WriteEndObject();
        }
        else
        {
            writeNormalizer(json);
        }

        json.WriteStartObject("pre_tokenizer");
        json.WriteString("type", "Sequence");
        json.WriteStartArray("pretokenizers");
        json.WriteStartObject();
        json.WriteString("type", "Split");
        json.WriteStartObject("pattern");
        json.WriteString("Regex", pattern);
        json.WriteEndObject();
        json.WriteString("behavior", "Isolated");
        json.WriteBoolean("invert", false);
        json.WriteEndObject();
        WriteByteLevel(json, null);
        json.WriteEndArray();
        json.WriteEndObject();
        WriteByteLevel(json, "post_processor");
        WriteByteLevel(json, "decoder");

        json.WriteStartObject("model");
        json.WriteString("type", modelType);
        json.WriteNull("dropout");
        json.WriteNull("unk_token");
        json.WriteString("continuing_subword_prefix", "");
        json.WriteString("end_of_word_suffix", "");
        json.WriteBoolean("fuse_unk", false);
        json.WriteBoolean("byte_fallback", false);
        json.WriteBoolean("ignore_merges", false);
        json.WritePropertyName("vocab");
        vocab.RootElement.WriteTo(json);
        json.WriteStartArray("merges");
        foreach (string merge in merges)
        {
            if (pairMerges)
            {
                int space = merge.IndexOf(' ');
                json.WriteStartArray();
                json.WriteStringValue(merge[..space]);
                json.WriteStringValue(merge[(space + 1)..]);
                json.WriteEndArray();
            }
            else
            {
                json.WriteStringValue(merge);
            }
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter json, string? propertyName)
    {
        if (propertyName is null)
            json.WriteStartObject();
        else
            json.WriteStartObject(propertyName);
        json.WriteString("type", "ByteLevel");
        json.WriteBoolean("add_prefix_space", false);
        json.WriteBoolean("trim_offsets", false);
        json.WriteBoolean("use_regex", false);
        json.WriteEndObject();
    }
}
