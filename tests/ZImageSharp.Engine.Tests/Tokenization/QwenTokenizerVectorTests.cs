using ZImageSharp.Engine.Tokenization;

namespace ZImageSharp.Engine.Tests.Tokenization;

[Collection(QwenTokenizerCollection.Name)]
public class QwenTokenizerVectorTests(QwenTokenizerFixture fixture)
{
    private readonly QwenTokenizer _tokenizer = fixture.FromVocabAndMerges;
    private readonly QwenTokenizer _withAllAddedTokens = fixture.FromStringMerges;

    [Fact]
    public void MatchesAllLlamaCppQwen2Vectors()
    {
        var vectors = LlamaCppVectors.Read(
            Path.Combine(QwenTokenizerFixture.Qwen2Dir, "llama.cpp-ggml-vocab-qwen2.gguf.inp"),
            Path.Combine(QwenTokenizerFixture.Qwen2Dir, "llama.cpp-ggml-vocab-qwen2.gguf.out"));

        Assert.Equal(46, vectors.Count);
        AssertAllEncodeAs(_tokenizer, vectors);
    }

    [Fact]
    public void MatchesZImagePromptVectors() =>
        AssertPromptVectors(_tokenizer, Path.Combine(TestData.TokenizerDir, "zimage_prompt_vectors.json"), expectedCases: 4);

    /// <summary>More cases of the same format, made elsewhere, can be checked without code changes.</summary>
    [SkippableFact]
    public void MatchesPromptVectorsFromEnvironment()
    {
        string? path = Environment.GetEnvironmentVariable("ZIMAGE_TOKENIZER_VECTORS");
        Skip.If(string.IsNullOrEmpty(path), "ZIMAGE_TOKENIZER_VECTORS is not set; it names an extra prompt-vector file to check");
        AssertPromptVectors(_tokenizer, path!, expectedCases: null);
    }

    /// <summary>Ids from Hugging Face tokenizers 0.23.2 (the Rust library, through its npm binding) over a
    /// tokenizer.json built from tests/data/tokenizer/qwen2 (NFC, Qwen's Split pattern, ByteLevel, BPE, added tokens
    /// 151643-151664). They cover what the llama.cpp strings do not: letters and digits outside the BMP, NFC on
    /// decomposed text, combining marks right after an added token, added tokens inside text, Unicode white space.</summary>
    public static readonly TheoryData<string, int[]> HuggingFaceEdgeCases = new()
    {
        { "a\U0001D400b \U00020000\U00020001 test", [64, 146527, 65, 220, 172, 63219, 222, 172, 63219, 223, 1273] },
        { "x \U0001D7D8\U0001D7D9 y", [87, 220, 56252, 253, 246, 56252, 253, 247, 379] },
        { "I'\u017f it IT'S we'LL they'RE I'Ve I'M you'D don't", [40, 6, 144815, 432, 8700, 13272, 582, 6, 4086, 807, 94153, 358, 6, 42612, 358, 27603, 498, 27705, 1513, 944] },
        { "<|im_end|>\u0338x", [151645, 136, 116, 87] },
        { "e\u0301 cafe\u0301 caf\u00e9", [963, 51950, 51950] },
        { "\r\n\r\n  \t\n x\n\n\ny \r z", [871, 98251, 856, 1406, 88, 220, 201, 1147] },
        { "Hello<|im_start|>world<|endoftext|>!", [9707, 151644, 14615, 151643, 0] },
        { "<|im_start|><|im_start|>", [151644, 151644] },
        { "\U0001F600\U0001F44D\U0001F3FD \U0001F1E9\U0001F1EA", [141334, 144349, 145375, 11162, 229, 102, 145336] },
        { "\u0661\u0662\u0663 \u096a\u096b\u096c 12345", [149, 94, 149, 95, 149, 96, 220, 12619, 103, 12619, 104, 12619, 105, 220, 16, 17, 18, 19, 20] },
        { "tab\tsep\u00a0nbsp\u3000ideographic\u2028line", [6192, 197, 28036, 4102, 5674, 22441, 94007, 378, 101, 1056] },
        { "  leading and trailing  ", [220, 6388, 323, 27748, 256] },
        { "\u2126 \u226f >\u0338", [144572, 21103, 107, 21103, 107] },
        { "\ufb01 ligature", [144300, 28313, 1568] },
        { "\ud55c\uad6d\uc5b4 \u1112\u1161\u11ab", [23573, 124785, 31079, 61298] },
        { "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u53e5\u8aad\u70b9\u3002", [101059, 102819, 15767, 56833, 61803, 70534, 5373, 99700, 97399, 27442, 1773] },
        { "'hello ('quoted') \"double\" ...!!! ?!\n\n", [6, 14990, 4319, 63725, 863, 330, 4331, 1, 2503, 12069, 937, 2219] },
        { "A photo of a cat, <|vision_start|>8k<|vision_end|>, \u00fcber-detailed", [32, 6548, 315, 264, 8251, 11, 220, 151652, 23, 74, 151653, 11, 13785, 1737, 10111] },
    };

    [Theory]
    [MemberData(nameof(HuggingFaceEdgeCases))]
    public void MatchesHuggingFaceOnEdgeCases(string text, int[] expected) => Assert.Equal(expected, _withAllAddedTokens.Encode(text));

    [Fact]
    public void DecomposedTextEncodesLikeComposed()
    {
        // "é" as e + COMBINING ACUTE ACCENT; without NFC it would be two byte sequences of its own.
        int[] composed = _tokenizer.Encode("caf\u00e9 au lait");
        Assert.Equal(composed, _tokenizer.Encode("cafe\u0301 au lait"));
        Assert.Equal(_tokenizer.EncodePrompt("caf\u00e9").InputIds, _tokenizer.EncodePrompt("cafe\u0301").InputIds);
        Assert.NotEqual(composed.Length, _tokenizer.Encode("cafe").Length + 2); // the accent did not become its own tokens
    }

    [Fact]
    public void HelloPromptGivesTheSpecExample()
    {
        int[] expected = [151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198];
        Assert.Equal(expected, _tokenizer.EncodePromptIds("Hello"));

        var encoded = _tokenizer.EncodePrompt("Hello");
        Assert.Equal(512, encoded.InputIds.Length);
        Assert.Equal(expected, encoded.RealIds.ToArray());
        Assert.All(encoded.InputIds[9..], id => Assert.Equal(151643, id));
        Assert.Equal(Enumerable.Repeat(1, 9).Concat(Enumerable.Repeat(0, 503)), encoded.AttentionMask);
        Assert.Equal(9, encoded.TokenCount);
        Assert.False(encoded.Truncated);
    }

    [Fact]
    public void LongPromptKeepsItsFirstIdsAndSaysSo()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("word", 600));
        var encoded = _tokenizer.EncodePrompt(prompt, maxLength: 16);

        Assert.Equal(16, encoded.TokenCount);
        Assert.Equal(608, encoded.UntruncatedTokenCount); // 600 words + 8 template tokens
        Assert.True(encoded.Truncated);
        Assert.All(encoded.AttentionMask, m => Assert.Equal(1, m));
        Assert.Equal(_tokenizer.Encode(ChatTemplate.Apply(prompt))[..16], encoded.InputIds);
        Assert.Equal(encoded.InputIds, _tokenizer.EncodePromptIds(prompt, maxLength: 16));
    }

    [Fact]
    public void PromptStartingWithNewlineMergesWithTheTemplateNewline()
    {
        // Tokenizing the whole string (not template pieces) lets "\n\n" become one token, as in the reference.
        int[] ids = _tokenizer.EncodePromptIds("\nsky");
        Assert.Equal([151644, 872, 271], ids[..3]);
        Assert.Equal(9, ids.Length); // the 8 template tokens with two newlines as one, plus "sky"
    }

    [Fact]
    public void LoneSurrogateEncodesAsReplacementCharacter() =>
        Assert.Equal(_tokenizer.Encode("a\uFFFDb"), _tokenizer.Encode("a\uD800b"));

    [Fact]
    public void DecodeRestoresTextAndAddedTokens()
    {
        string chat = ChatTemplate.Apply("Ein Bild von \u00e4 und \u65e5\u672c \U0001F600");
        Assert.Equal(chat, _tokenizer.Decode(_tokenizer.Encode(chat)));
    }

    [Fact]
    public void ExposesQwenIds()
    {
        Assert.Equal(151643, _tokenizer.PadId);
        Assert.Equal(151643, _tokenizer.VocabularySize);
        Assert.Equal(151644, _tokenizer.AddedTokens["<|im_start|>"]);
        Assert.Equal(151645, _tokenizer.AddedTokens["<|im_end|>"]);
    }

    [Fact]
    public void RejectsNonPositiveMaxLength() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _tokenizer.EncodePrompt("x", maxLength: 0));

    internal static void AssertAllEncodeAs(QwenTokenizer tokenizer, IEnumerable<(string Text, int[] Ids)> vectors)
    {
        var failures = vectors
            .Select(v => (v.Text, v.Ids, Actual: tokenizer.Encode(v.Text)))
            .Where(v => !v.Ids.SequenceEqual(v.Actual))
            .Select(v => $"{System.Text.Json.JsonSerializer.Serialize(v.Text)}: expected [{string.Join(' ', v.Ids)}], got [{string.Join(' ', v.Actual)}]")
            .ToList();
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    internal static void AssertPromptVectors(QwenTokenizer tokenizer, string path, int? expectedCases)
    {
        var (maxLength, cases) = PromptVectors.Read(path);
        if (expectedCases is int count)
            Assert.Equal(count, cases.Count);
        Assert.NotEmpty(cases);

        foreach (var c in cases)
        {
            Assert.Equal(c.Chat, ChatTemplate.Apply(c.Prompt));
            Assert.Equal(c.Ids, tokenizer.Encode(c.Chat));

            var encoded = tokenizer.EncodePrompt(c.Prompt, maxLength);
            Assert.Equal(c.PaddedIds, encoded.InputIds);
            Assert.Equal(c.AttentionMaskSum, encoded.AttentionMask.Sum());
            Assert.Equal(c.AttentionMaskSum, encoded.TokenCount);
            Assert.Equal(c.Ids.Length > maxLength, encoded.Truncated);
            Assert.Equal(c.PaddedIds[..c.AttentionMaskSum], tokenizer.EncodePromptIds(c.Prompt, maxLength));
        }
    }
}
