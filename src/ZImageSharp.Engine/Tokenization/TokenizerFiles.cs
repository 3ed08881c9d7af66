using System.Text;
using System.Text.Json;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tokenization;

/// <summary>What a byte-level BPE tokenizer is made of, as read from disk.</summary>
/// <param name="Merges">Merge rules in rank order, each as "left right" (BpeOptions' form).</param>
/// <param name="AddedTokens">Tokens matched verbatim before any normalization or BPE (special or not).</param>
internal sealed record TokenizerData(
    Dictionary<string, int> Vocabulary,
    List<string> Merges,
    Dictionary<string, int> AddedTokens,
    string Source);

/// <summary>
/// Reads Hugging Face tokenizer files: the "fast" <c>tokenizer.json</c> (what Z-Image ships) or the "slow" pair
/// <c>vocab.json</c> + <c>merges.txt</c> with added tokens from <c>tokenizer_config.json</c> / <c>added_tokens.json</c>.
/// </summary>
/// <remarks>
/// tokenizer.json is ~7-11 MB, so it is read with a forward-only <see cref="Utf8JsonReader"/>; only the small
/// sections (added tokens, normalizer, pre-tokenizer) are materialized as documents.
/// </remarks>
internal static class TokenizerFiles
{
    public const string TokenizerJson = "tokenizer.json";
    public const string VocabJson = "vocab.json";
    public const string MergesTxt = "merges.txt";
    public const string TokenizerConfigJson = "tokenizer_config.json";
    public const string AddedTokensJson = "added_tokens.json";

    public static TokenizerData ReadTokenizerJson(string path)
    {
        byte[] bytes = ReadAll(path);
        Dictionary<string, int>? vocabulary = null;
        List<string>? merges = null;
        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        bool sawPreTokenizer = false;

        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            Expect(reader.Read() && reader.TokenType == JsonTokenType.StartObject, path, "the file is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                reader.Read();
                switch (name)
                {
                    case "model":
                        (vocabulary, merges) = ReadModel(ref reader, path);
                        break;
                    case "added_tokens" when reader.TokenType == JsonTokenType.StartArray:
                        using (var doc = JsonDocument.ParseValue(ref reader))
                            foreach (var token in doc.RootElement.EnumerateArray())
                                AddToken(addedTokens, token, token.GetProperty("id").GetInt32(), path);
                        break;
                    case "normalizer":
                        using (var doc = JsonDocument.ParseValue(ref reader))
                            CheckNormalizer(doc.RootElement, path);
                        break;
                    case "pre_tokenizer":
                        using (var doc = JsonDocument.ParseValue(ref reader))
                            CheckPreTokenizer(doc.RootElement, path);
                        sawPreTokenizer = true;
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new CheckpointException($"The tokenizer file '{path}' is not valid tokenizer JSON: {e.Message}", path, inner: e);
        }

        Expect(vocabulary is not null && merges is not null, path, "it has no \"model\" section with \"vocab\" and \"merges\"");
        Expect(sawPreTokenizer, path, $"it has no \"pre_tokenizer\"; Qwen's split pattern is required");
        return new TokenizerData(vocabulary!, merges!, addedTokens, path);
    }

    public static TokenizerData ReadVocabAndMerges(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabJson);
        string mergesPath = Path.Combine(folder, MergesTxt);
        Dictionary<string, int> vocabulary;
        try
        {
            var reader = new Utf8JsonReader(ReadAll(vocabPath));
            reader.Read();
            vocabulary = ReadVocabulary(ref reader, vocabPath);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"The vocabulary '{vocabPath}' is not a JSON object of token → id: {e.Message}", vocabPath, inner: e);
        }

        var merges = new List<string>(vocabulary.Count);
        int lineNumber = 0;
        foreach (string line in ReadAllText(mergesPath).Split('\n'))
        {
            lineNumber++;
            // Tolerate "\r\n" line ends (byte-level tokens never hold a raw "\r": it maps to 'č').
            string merge = line.EndsWith('\r') ? line[..^1] : line;
            if (merge.Length == 0 || (lineNumber == 1 && merge.StartsWith("#version", StringComparison.Ordinal)))
                continue;
            int space = merge.IndexOf(' ');
            Expect(space > 0 && space < merge.Length - 1 && merge.IndexOf(' ', space + 1) < 0, mergesPath,
                $"line {lineNumber} is not two tokens separated by one space");
            merges.Add(merge);
        }

        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        ReadTokenizerConfig(Path.Combine(folder, TokenizerConfigJson), addedTokens);
        ReadAddedTokensJson(Path.Combine(folder, AddedTokensJson), addedTokens);
        return new TokenizerData(vocabulary, merges, addedTokens, folder);
    }

    private static (Dictionary<string, int>, List<string>) ReadModel(ref Utf8JsonReader reader, string path)
    {
        Expect(reader.TokenType == JsonTokenType.StartObject, path, "\"model\" is not an object");
        Dictionary<string, int>? vocabulary = null;
        List<string>? merges = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "type":
                    string? type = reader.GetString();
                    Expect(type == "BPE", path, $"its model type is \"{type}\"; only \"BPE\" is supported");
                    break;
                case "vocab":
                    vocabulary = ReadVocabulary(ref reader, path);
                    break;
                case "merges":
                    merges = ReadMerges(ref reader, path);
                    break;
                case "byte_fallback":
                    Expect(reader.TokenType != JsonTokenType.True, path, "its BPE model uses byte_fallback, which Qwen's does not");
                    break;
                case "continuing_subword_prefix" or "end_of_word_suffix":
                    Expect(reader.TokenType == JsonTokenType.Null || reader.GetString() is "", path,
                        $"its BPE model sets \"{name}\", which Qwen's does not");
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        Expect(vocabulary is not null && merges is not null, path, "its \"model\" lacks \"vocab\" or \"merges\"");
        return (vocabulary!, merges!);
    }

    private static Dictionary<string, int> ReadVocabulary(ref Utf8JsonReader reader, string path)
    {
        Expect(reader.TokenType == JsonTokenType.StartObject, path, "the vocabulary is not a JSON object");
        var vocabulary = new Dictionary<string, int>(160_000, StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string token = reader.GetString()!;
            reader.Read();
            vocabulary[token] = reader.GetInt32();
        }
        return vocabulary;
    }

    /// <summary>Merges come as "a b" strings (tokenizers before 0.20) or as ["a", "b"] pairs (later versions).</summary>
    private static List<string> ReadMerges(ref Utf8JsonReader reader, string path)
    {
        Expect(reader.TokenType == JsonTokenType.StartArray, path, "\"merges\" is not an array");
        var merges = new List<string>(160_000);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            string merge;
            if (reader.TokenType == JsonTokenType.String)
            {
                merge = reader.GetString()!;
                int space = merge.IndexOf(' ');
                Expect(space > 0 && space < merge.Length - 1 && merge.IndexOf(' ', space + 1) < 0, path,
                    $"merge {merges.Count} (\"{merge}\") is not two tokens separated by one space");
            }
            else
            {
                Expect(reader.TokenType == JsonTokenType.StartArray, path, $"merge {merges.Count} is neither a string nor a pair");
                reader.Read();
                string left = reader.GetString()!;
                reader.Read();
                string right = reader.GetString()!;
                Expect(reader.Read() && reader.TokenType == JsonTokenType.EndArray, path, $"merge {merges.Count} is not a pair");
                // BpeOptions takes merges as "a b" strings; byte-level tokens never hold a space (it maps to 'Ġ').
                Expect(!left.Contains(' ') && !right.Contains(' '), path,
                    $"merge {merges.Count} ([\"{left}\", \"{right}\"]) contains a space, which a byte-level vocabulary never has");
                merge = left + " " + right;
            }
            merges.Add(merge);
        }
        return merges;
    }

    /// <summary>HF normalizes with NFC before BPE; a file asking for anything else is a different tokenizer.</summary>
    private static void CheckNormalizer(JsonElement normalizer, string path)
    {
        bool isNfc(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.GetString() == "NFC";
        bool supported = normalizer.ValueKind == JsonValueKind.Null
            || isNfc(normalizer)
            || (normalizer.TryGetProperty("type", out var type) && type.GetString() == "Sequence"
                && normalizer.GetProperty("normalizers").EnumerateArray().All(isNfc));
        Expect(supported, path, $"its normalizer is {normalizer.GetRawText()}; only NFC (Qwen's) is supported");
    }

    /// <summary>The scanner implements exactly Qwen's split pattern, so the file must ask for that pattern.</summary>
    private static void CheckPreTokenizer(JsonElement preTokenizer, string path)
    {
        var patterns = new List<string>();
        CollectSplitPatterns(preTokenizer, patterns);
        Expect(patterns.Count == 1 && patterns[0] == QwenPreTokenizer.Pattern, path,
            $"its pre-tokenizer splits with [{string.Join(", ", patterns)}]; only Qwen's pattern {QwenPreTokenizer.Pattern} is supported");
    }

    private static void CollectSplitPatterns(JsonElement element, List<string> patterns)
    {
        if (element.ValueKind != JsonValueKind.Object)
            return;
        if (element.TryGetProperty("type", out var type) && type.GetString() == "Split"
            && element.TryGetProperty("pattern", out var pattern))
        {
            patterns.Add(pattern.TryGetProperty("Regex", out var regex) ? regex.GetString()! : pattern.GetRawText());
        }
        if (element.TryGetProperty("pretokenizers", out var children) && children.ValueKind == JsonValueKind.Array)
            foreach (var child in children.EnumerateArray())
                CollectSplitPatterns(child, patterns);
    }

    private static void ReadTokenizerConfig(string path, Dictionary<string, int> addedTokens)
    {
        if (!File.Exists(path))
            return;
        using var doc = ParseSmallJson(path);
        if (!doc.RootElement.TryGetProperty("added_tokens_decoder", out var decoder))
            return;
        foreach (var entry in decoder.EnumerateObject())
        {
            Expect(int.TryParse(entry.Name, out int id), path, $"added_tokens_decoder key \"{entry.Name}\" is not an id");
            AddToken(addedTokens, entry.Value, id, path);
        }
    }

    private static void ReadAddedTokensJson(string path, Dictionary<string, int> addedTokens)
    {
        if (!File.Exists(path))
            return;
        using var doc = ParseSmallJson(path);
        foreach (var entry in doc.RootElement.EnumerateObject())
            SetToken(addedTokens, entry.Name, entry.Value.GetInt32(), path);
    }

    /// <summary>lstrip/rstrip/single_word change how an added token is matched; Qwen's tokens use none of them,
    /// so a file that does is refused rather than tokenized differently from Hugging Face.</summary>
    private static void AddToken(Dictionary<string, int> addedTokens, JsonElement token, int id, string path)
    {
        string content = token.GetProperty("content").GetString()!;
        foreach (string flag in new[] { "lstrip", "rstrip", "single_word" })
            Expect(!(token.TryGetProperty(flag, out var value) && value.ValueKind == JsonValueKind.True), path,
                $"added token \"{content}\" sets {flag}, which this tokenizer does not implement");
        SetToken(addedTokens, content, id, path);
    }

    private static void SetToken(Dictionary<string, int> addedTokens, string content, int id, string path)
    {
        Expect(content.Length > 0, path, $"added token {id} is empty");
        Expect(!addedTokens.TryGetValue(content, out int existing) || existing == id, path,
            $"added token \"{content}\" has two ids, {existing} and {id}");
        addedTokens[content] = id;
    }

    private static JsonDocument ParseSmallJson(string path)
    {
        try
        {
            return JsonDocument.Parse(ReadAll(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"The tokenizer file '{path}' is not valid JSON: {e.Message}", path, inner: e);
        }
    }

    private static string ReadAllText(string path) => Encoding.UTF8.GetString(ReadAll(path)).TrimStart('\uFEFF');

    private static byte[] ReadAll(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"The tokenizer file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
    }

    private static void Expect(bool condition, string path, string problem)
    {
        if (!condition)
            throw new CheckpointException($"The tokenizer file '{path}' cannot be used: {problem}.", path);
    }
}
