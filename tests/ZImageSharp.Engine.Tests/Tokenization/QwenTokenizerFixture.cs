using ZImageSharp.Engine.Tokenization;

namespace ZImageSharp.Engine.Tests.Tokenization;

/// <summary>
/// Loads the Qwen2 vocabulary once for every tokenizer test class (a load takes about a second): from vocab.json +
/// merges.txt as stored, and from two tokenizer.json files written from them into a temporary folder, one with
/// merges as "a b" strings and one with ["a","b"] pairs. The tokenizer.json files carry Qwen's 22 added tokens
/// 151643-151664 (qwen2/tokenizer_config.json lists only the first three).
/// </summary>
public sealed class QwenTokenizerFixture : IDisposable
{
    private readonly string _tempDir = Directory.CreateTempSubdirectory("zimage-tokenizer-").FullName;

    public QwenTokenizerFixture()
    {
        var addedTokens = TokenizerJsonWriter.QwenAddedTokens(Path.Combine(Qwen2Dir, "qwen25_tokenizer_config.from-ComfyUI.json"));
        string strings = Path.Combine(_tempDir, "strings", "tokenizer.json");
        string pairs = Path.Combine(_tempDir, "pairs", "tokenizer.json");
        TokenizerJsonWriter.Write(strings, Qwen2Dir, addedTokens, pairMerges: false);
        TokenizerJsonWriter.Write(pairs, Qwen2Dir, addedTokens, pairMerges: true);

        FromVocabAndMerges = QwenTokenizer.Create(Qwen2Dir);
        FromStringMerges = QwenTokenizer.Create(Path.GetDirectoryName(strings)!);
        FromPairMerges = QwenTokenizer.FromTokenizerJson(pairs);
    }

    public static string Qwen2Dir => Path.Combine(TestData.TokenizerDir, "qwen2");

    public QwenTokenizer FromVocabAndMerges { get; }

    public QwenTokenizer FromStringMerges { get; }

    public QwenTokenizer FromPairMerges { get; }

    public void Dispose() => Directory.Delete(_tempDir, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class QwenTokenizerCollection : ICollectionFixture<QwenTokenizerFixture>
{
    public const string Name = "Qwen tokenizer";
}

/// <summary>The llama.cpp vocabulary test files: <c>.inp</c> holds the strings, each followed by a separator line;
/// <c>.out</c> holds one line of space-separated ids per string (made with HF AutoTokenizer, no special tokens).</summary>
internal static class LlamaCppVectors
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    public static IReadOnlyList<(string Text, int[] Ids)> Read(string inputPath, string outputPath)
    {
        string input = File.ReadAllText(inputPath);
        Assert.EndsWith(Separator, input);
        string[] texts = input[..^Separator.Length].Split(Separator);
        string[] lines = File.ReadAllText(outputPath).Split('\n');
        Assert.Equal("", lines[^1]);
        Assert.Equal(texts.Length, lines.Length - 1);
        return texts.Select((text, i) => (text, lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }
}

/// <summary>A prompt-vector file (tests/data/tokenizer/zimage_prompt_vectors.json format).</summary>
internal sealed record PromptVectorCase(string Prompt, string Chat, int[] Ids, int[] PaddedIds, int AttentionMaskSum);

internal static class PromptVectors
{
    public static (int MaxLength, IReadOnlyList<PromptVectorCase> Cases) Read(string path)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        int maxLength = root.GetProperty("max_length").GetInt32();
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new PromptVectorCase(
            c.GetProperty("prompt").GetString()!,
            c.GetProperty("chat").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("padded_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("attention_mask_sum").GetInt32())).ToList();
        return (maxLength, cases);
    }
}
