using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tokenization;

/// <summary>
/// Qwen2/2.5/3 byte-level BPE tokenizer, equal to Hugging Face's <c>Qwen2TokenizerFast</c> with
/// <c>add_special_tokens=False</c>: added tokens are split out first by exact match, the text between them is
/// NFC-normalized, split with Qwen's pattern and byte-level BPE'd (Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>).
/// Immutable after construction and safe to share between threads.
/// </summary>
public sealed class QwenTokenizer
{
    /// <summary>Pad token of Qwen's tokenizer config (<c>pad_token</c>), used for right padding.</summary>
    public const string PadToken = "<|endoftext|>";

    /// <summary>Length the reference pipelines pad and truncate Z-Image prompts to.</summary>
    public const int DefaultMaxLength = 512;

    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _addedTokens;
    private readonly Regex _addedTokenPattern;

    private QwenTokenizer(TokenizerData data)
    {
        foreach (string required in new[] { PadToken, ChatTemplate.ImStart, ChatTemplate.ImEnd })
        {
            if (!data.AddedTokens.ContainsKey(required))
                throw new CheckpointException(
                    $"The tokenizer at '{data.Source}' has no added token \"{required}\", which Z-Image's chat template needs " +
                    $"(it has {data.AddedTokens.Count} added tokens).", data.Source);
        }

        _addedTokens = data.AddedTokens;
        PadId = _addedTokens[PadToken];
        VocabularySize = data.Vocabulary.Count;

        // Longest first, so that of two tokens starting at the same place the longer wins (HF matches leftmost-longest).
        var alternatives = _addedTokens.Keys.OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).Select(Regex.Escape);
        _addedTokenPattern = new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant);

        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(data.Vocabulary)
            {
                Merges = data.Merges,
                ByteLevel = true,
                PreTokenizer = new QwenPreTokenizer(),
                // Given only so that Decode can print them; encoding never sees them (they are split out first).
                SpecialTokens = _addedTokens,
            });
        }
        catch (InvalidOperationException e)
        {
            throw new CheckpointException($"The tokenizer at '{data.Source}' is inconsistent: {e.Message}", data.Source, inner: e);
        }
    }

    /// <summary>Id of <see cref="PadToken"/> (151643 for Qwen).</summary>
    public int PadId { get; }

    /// <summary>Entries of the BPE vocabulary, added tokens not counted (151,643 for Qwen).</summary>
    public int VocabularySize { get; }

    /// <summary>Tokens matched verbatim before BPE, with their ids.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _addedTokens;

    /// <summary>
    /// Loads the tokenizer from a folder holding <c>tokenizer.json</c>, or else <c>vocab.json</c> and <c>merges.txt</c>
    /// (added tokens then come from <c>tokenizer_config.json</c> and <c>added_tokens.json</c>). A checkpoint root whose
    /// <c>tokenizer/</c> subfolder holds them works too.
    /// </summary>
    /// <exception cref="CheckpointException">No usable tokenizer files: the message names what was looked for.</exception>
    public static QwenTokenizer Create(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        foreach (string candidate in new[] { folder, Path.Combine(folder, "tokenizer") })
        {
            if (File.Exists(Path.Combine(candidate, TokenizerFiles.TokenizerJson)))
                return FromTokenizerJson(Path.Combine(candidate, TokenizerFiles.TokenizerJson));
            if (File.Exists(Path.Combine(candidate, TokenizerFiles.VocabJson)) && File.Exists(Path.Combine(candidate, TokenizerFiles.MergesTxt)))
                return FromVocabAndMerges(candidate);
        }
        throw new CheckpointException(
            $"No tokenizer found in '{folder}': looked for {TokenizerFiles.TokenizerJson}, or {TokenizerFiles.VocabJson} together " +
            $"with {TokenizerFiles.MergesTxt}, in that folder and in its 'tokenizer' subfolder.", folder);
    }

    /// <summary>Loads a Hugging Face <c>tokenizer.json</c> (merges as "a b" strings or as ["a","b"] pairs).</summary>
    public static QwenTokenizer FromTokenizerJson(string path) => new(TokenizerFiles.ReadTokenizerJson(path));

    /// <summary>Loads <c>vocab.json</c> + <c>merges.txt</c> from <paramref name="folder"/>, with added tokens from
    /// <c>tokenizer_config.json</c> (added_tokens_decoder) and <c>added_tokens.json</c> when present.</summary>
    public static QwenTokenizer FromVocabAndMerges(string folder) => new(TokenizerFiles.ReadVocabAndMerges(folder));

    /// <summary>Token ids of <paramref name="text"/> as is (no template, no padding, no BOS/EOS). Added tokens written
    /// in the text are matched as such, as Hugging Face does.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 8);
        int position = 0;
        for (var match = _addedTokenPattern.Match(text); match.Success; match = match.NextMatch())
        {
            EncodeOrdinaryText(text.AsSpan(position, match.Index - position), ids);
            ids.Add(_addedTokens[match.Value]);
            position = match.Index + match.Length;
        }
        EncodeOrdinaryText(text.AsSpan(position), ids);
        return ids.ToArray();
    }

    /// <summary>
    /// Tokenizes <see cref="ChatTemplate.Apply"/>(<paramref name="prompt"/>) as the reference pipelines do:
    /// truncation to the first <paramref name="maxLength"/> ids, right padding with <see cref="PadId"/> to exactly
    /// <paramref name="maxLength"/>, and the attention mask.
    /// </summary>
    public EncodedPrompt EncodePrompt(string prompt, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        int[] all = Encode(ChatTemplate.Apply(prompt));
        int count = Math.Min(all.Length, maxLength);

        var ids = new int[maxLength];
        var mask = new int[maxLength];
        all.AsSpan(0, count).CopyTo(ids);
        ids.AsSpan(count).Fill(PadId);
        mask.AsSpan(0, count).Fill(1);
        return new EncodedPrompt(ids, mask, count, all.Length);
    }

    /// <summary>The real (unpadded) ids of <see cref="EncodePrompt"/>: with right padding and causal attention the
    /// encoder gives the same hidden states for these rows, so the engine runs it over these only.</summary>
    public int[] EncodePromptIds(string prompt, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        int[] all = Encode(ChatTemplate.Apply(prompt));
        return all.Length <= maxLength ? all : all[..maxLength];
    }

    /// <summary>Text of <paramref name="ids"/>, added tokens included (for logs and tests).</summary>
    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids);

    private void EncodeOrdinaryText(ReadOnlySpan<char> text, List<int> ids)
    {
        if (text.IsEmpty)
            return;
        string normalized = ToValidUtf16(text).Normalize(NormalizationForm.FormC);
        ids.AddRange(_bpe.EncodeToIds(normalized, considerPreTokenization: true, considerNormalization: false));
    }

    /// <summary>Replaces lone surrogates with U+FFFD. Such text cannot reach HF (Python/Rust strings reject it) and
    /// <see cref="string.Normalize()"/> throws on it; U+FFFD is what its UTF-8 encoding would carry anyway.</summary>
    private static string ToValidUtf16(ReadOnlySpan<char> text)
    {
        if (!HasLoneSurrogate(text))
            return text.ToString();
        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
            builder.Append(rune.ToString());
        return builder.ToString();
    }

    private static bool HasLoneSurrogate(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                i++;
            else if (char.IsSurrogate(text[i]))
                return true;
        }
        return false;
    }
}
