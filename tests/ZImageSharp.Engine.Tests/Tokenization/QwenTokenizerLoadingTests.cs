using System.Text.Json.Nodes;
using ZImageSharp.Engine.Tokenization;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.Tokenization;

[Collection(QwenTokenizerCollection.Name)]
public sealed class QwenTokenizerLoadingTests(QwenTokenizerFixture fixture) : IDisposable
{
    private readonly string _tempDir = Directory.CreateTempSubdirectory("zimage-tokenizer-load-").FullName;

    public void Dispose() => Directory.Delete(_tempDir, recursive: true);

    public static TheoryData<string> TokenizerJsonVariants => ["strings", "pairs"];

    [Theory]
    [MemberData(nameof(TokenizerJsonVariants))]
    public void TokenizerJsonMatchesAllVectors(string merges)
    {
        var tokenizer = merges == "pairs" ? fixture.FromPairMerges : fixture.FromStringMerges;
        var llama = LlamaCppVectors.Read(
            Path.Combine(QwenTokenizerFixture.Qwen2Dir, "llama.cpp-ggml-vocab-qwen2.gguf.inp"),
            Path.Combine(QwenTokenizerFixture.Qwen2Dir, "llama.cpp-ggml-vocab-qwen2.gguf.out"));
        var huggingFace = QwenTokenizerVectorTests.HuggingFaceEdgeCases.Select(row => ((string)row[0], (int[])row[1]));

        QwenTokenizerVectorTests.AssertAllEncodeAs(tokenizer, llama.Concat(huggingFace));
        QwenTokenizerVectorTests.AssertPromptVectors(tokenizer, Path.Combine(TestData.TokenizerDir, "zimage_prompt_vectors.json"), expectedCases: 4);
        Assert.Equal(151643, tokenizer.VocabularySize);
        Assert.Equal(22, tokenizer.AddedTokens.Count);
        Assert.Equal(151652, tokenizer.AddedTokens["<|vision_start|>"]);
        Assert.Equal(151643, tokenizer.PadId);
    }

    [Fact]
    public void VocabAndMergesTakeAddedTokensFromConfigFiles() =>
        Assert.Equal(
            new Dictionary<string, int> { ["<|endoftext|>"] = 151643, ["<|im_start|>"] = 151644, ["<|im_end|>"] = 151645 },
            fixture.FromVocabAndMerges.AddedTokens.OrderBy(t => t.Value).ToDictionary());

    [Fact]
    public void CreateNamesWhatItLookedFor()
    {
        var error = Assert.Throws<CheckpointException>(() => QwenTokenizer.Create(_tempDir));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("vocab.json", error.Message);
        Assert.Contains("merges.txt", error.Message);
        Assert.Contains(_tempDir, error.Message);
    }

    [Fact]
    public void CreateFindsTheTokenizerSubfolderOfACheckpoint()
    {
        WriteTiny(Path.Combine(_tempDir, "tokenizer", "tokenizer.json"), TinyTokenizerJson());
        Assert.Equal([10, 7, 11], QwenTokenizer.Create(_tempDir).Encode("<|im_start|>hello<|im_end|>"));
    }

    [Fact]
    public void CreatePrefersTokenizerJsonOverVocabAndMerges()
    {
        WriteTiny(Path.Combine(_tempDir, "tokenizer.json"), TinyTokenizerJson());
        File.WriteAllText(Path.Combine(_tempDir, "vocab.json"), "not json");
        File.WriteAllText(Path.Combine(_tempDir, "merges.txt"), "");
        Assert.Equal([7, 8, 6], QwenTokenizer.Create(_tempDir).Encode("hello hell"));
    }

    [Fact]
    public void TinyTokenizerAcceptsBothMergeForms()
    {
        var json = TinyTokenizerJson();
        json["model"]!["merges"] = new JsonArray(Pairs("h e", "l l", "he ll", "hell o"));
        WriteTiny(Path.Combine(_tempDir, "tokenizer.json"), json);
        Assert.Equal([7, 8, 6], QwenTokenizer.Create(_tempDir).Encode("hello hell"));
    }

    public static TheoryData<string, string> BrokenVariants => new()
    {
        { "pattern", "pre-tokenizer" },
        { "model-type", "model type is \"WordPiece\"" },
        { "normalizer", "normalizer" },
        { "missing-im-start", "<|im_start|>" },
        { "merge-format", "merge 1 (\"ll\")" },
        { "merge-unknown-token", "inconsistent" },
        { "rstrip", "rstrip" },
        { "truncated", "not valid tokenizer JSON" },
        { "no-model", "\"model\"" },
    };

    [Theory]
    [MemberData(nameof(BrokenVariants))]
    public void BrokenTokenizerJsonFailsWithAReason(string variant, string expectedInMessage)
    {
        var json = TinyTokenizerJson();
        string path = Path.Combine(_tempDir, "tokenizer.json");
        switch (variant)
        {
            case "pattern":
                json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
                break;
            case "model-type":
                json["model"]!["type"] = "WordPiece";
                break;
            case "normalizer":
                json["normalizer"] = new JsonObject { ["type"] = "NFKC" };
                break;
            case "missing-im-start":
                json["added_tokens"]!.AsArray().RemoveAt(1);
                break;
            case "merge-format":
                json["model"]!["merges"]![1] = "ll";
                break;
            case "merge-unknown-token":
                json["model"]!["merges"]!.AsArray().Add("x y");
                break;
            case "rstrip":
                json["added_tokens"]![2]!["rstrip"] = true;
                break;
            case "no-model":
                json.Remove("model");
                break;
        }

        string text = json.ToJsonString();
        File.WriteAllText(path, variant == "truncated" ? text[..(text.Length / 2)] : text);

        var error = Assert.Throws<CheckpointException>(() => QwenTokenizer.FromTokenizerJson(path));
        Assert.Contains(expectedInMessage, error.Message);
        Assert.Contains(path, error.Message);
        Assert.Equal(path, error.File);
    }

    /// <summary>A four-merge byte-level BPE ("hello" is one token, a space is "Ġ") with the three added tokens Z-Image needs.</summary>
    private static JsonObject TinyTokenizerJson() => new()
    {
        ["version"] = "1.0",
        ["added_tokens"] = new JsonArray(
            AddedToken(9, "<|endoftext|>"), AddedToken(10, "<|im_start|>"), AddedToken(11, "<|im_end|>")),
        ["normalizer"] = new JsonObject { ["type"] = "NFC" },
        ["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject
                {
                    ["type"] = "Split",
                    ["pattern"] = new JsonObject { ["Regex"] = QwenPreTokenizer.Pattern },
                    ["behavior"] = "Isolated",
                    ["invert"] = false,
                },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
        },
        ["model"] = new JsonObject
        {
            ["type"] = "BPE",
            ["byte_fallback"] = false,
            ["vocab"] = new JsonObject
            {
                ["h"] = 0, ["e"] = 1, ["l"] = 2, ["o"] = 3, ["he"] = 4, ["ll"] = 5, ["hell"] = 6, ["hello"] = 7, ["Ġ"] = 8,
            },
            ["merges"] = new JsonArray("h e", "l l", "he ll", "hell o"),
        },
    };

    private static JsonObject AddedToken(int id, string content) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
        ["normalized"] = false, ["special"] = true,
    };

    private static JsonNode[] Pairs(params string[] merges) =>
        merges.Select(m => (JsonNode)new JsonArray(m.Split(' ').Select(s => (JsonNode)JsonValue.Create(s)!).ToArray())).ToArray();

    private static void WriteTiny(string path, JsonObject json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json.ToJsonString());
    }
}
