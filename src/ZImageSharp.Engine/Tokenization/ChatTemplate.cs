namespace ZImageSharp.Engine.Tokenization;

/// <summary>
/// The text Z-Image feeds its Qwen3 text encoder: Qwen3's chat template applied to one user message with
/// <c>add_generation_prompt=True, enable_thinking=True</c> (which adds no think block and no system message).
/// </summary>
public static class ChatTemplate
{
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <summary><c>&lt;|im_start|&gt;user\n{prompt}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n</c>, with real line feeds.</summary>
    public static string Apply(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return $"{ImStart}user\n{prompt}{ImEnd}\n{ImStart}assistant\n";
    }
}
