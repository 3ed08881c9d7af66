namespace ZImageSharp.Engine.Tokenization;

/// <summary>
/// A templated prompt as the reference pipelines hand it to the text encoder: <see cref="InputIds"/> and
/// <see cref="AttentionMask"/> have exactly the requested length, real tokens first, then padding.
/// </summary>
/// <param name="InputIds">Token ids, right-padded with the pad id (151643, &lt;|endoftext|&gt;).</param>
/// <param name="AttentionMask">1 for each real token, 0 for padding.</param>
/// <param name="TokenCount">Real tokens kept (the mask's sum).</param>
/// <param name="UntruncatedTokenCount">Tokens of the whole templated prompt before truncation.</param>
public sealed record EncodedPrompt(int[] InputIds, int[] AttentionMask, int TokenCount, int UntruncatedTokenCount)
{
    /// <summary>True when the templated prompt lost its tail (including the assistant header, as in the reference).</summary>
    public bool Truncated => UntruncatedTokenCount > TokenCount;

    /// <summary>The real tokens only: what the engine runs through the text encoder.</summary>
    public ReadOnlySpan<int> RealIds => InputIds.AsSpan(0, TokenCount);
}
