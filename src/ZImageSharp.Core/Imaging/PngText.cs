namespace ZImageSharp.Imaging;

/// <summary>How a text chunk is stored.</summary>
public enum PngTextEncoding
{
    /// <summary>tEXt when every character is Latin-1, else iTXt: what Pillow's <c>PngInfo.add_text</c> does, and so
    /// what AUTOMATIC1111 writes for its <c>parameters</c> chunk.</summary>
    Latin1WhenPossible,

    /// <summary>Always iTXt (UTF-8, uncompressed, no language tag).</summary>
    Utf8,
}

/// <summary>One PNG text chunk. The keyword is 1-79 Latin-1 characters without leading, trailing or double spaces
/// (PNG spec 11.3.4.2); neither keyword nor text may contain NUL, which separates the chunk's fields.</summary>
public sealed record PngText(string Keyword, string Text, PngTextEncoding Encoding = PngTextEncoding.Latin1WhenPossible)
{
    /// <summary>True when <paramref name="text"/> fits tEXt (ISO 8859-1).</summary>
    public static bool IsLatin1(string text) => !text.Any(c => c > '\u00FF');

    internal void Validate()
    {
        if (Keyword.Length is < 1 or > 79 || !IsLatin1(Keyword) || Keyword.Contains('\0')
            || Keyword.StartsWith(' ') || Keyword.EndsWith(' ') || Keyword.Contains("  "))
        {
            throw new ArgumentException(
                $"PNG text keyword \"{Keyword}\" is invalid: it must be 1-79 Latin-1 characters without NUL, leading, trailing or double spaces.",
                nameof(Keyword));
        }
        if (Text.Contains('\0'))
            throw new ArgumentException($"PNG text \"{Keyword}\" contains a NUL character, which text chunks cannot hold.", nameof(Text));
    }

    /// <summary>The chunk type and data this text is written as.</summary>
    internal (string Type, byte[] Data) ToChunk()
    {
        Validate();
        byte[] keyword = System.Text.Encoding.Latin1.GetBytes(Keyword);
        if (Encoding == PngTextEncoding.Latin1WhenPossible && IsLatin1(Text))
            return ("tEXt", [.. keyword, 0, .. System.Text.Encoding.Latin1.GetBytes(Text)]);

        // keyword \0, compression flag 0, compression method 0, empty language tag \0, empty translated keyword \0, UTF-8 text.
        return ("iTXt", [.. keyword, 0, 0, 0, 0, 0, .. System.Text.Encoding.UTF8.GetBytes(Text)]);
    }
}
