using ZImageSharp.Engine.Tokenization;

namespace ZImageSharp.Engine.Tests.Tokenization;

/// <summary>How Qwen's split pattern cuts text, one alternative at a time (the ids these pieces lead to are checked
/// against Hugging Face in <see cref="QwenTokenizerVectorTests"/>).</summary>
public class QwenPreTokenizerTests
{
    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("it's I'M we'll 'x", new[] { "it", "'s", " I", "'M", " we", "'ll", " '", "x" })]
    [InlineData("abc123", new[] { "abc", "1", "2", "3" })]
    [InlineData("(hello) ...!", new[] { "(hello", ")", " ...!" })]
    [InlineData("a  b", new[] { "a", " ", " b" })]
    [InlineData("a\n\n  b", new[] { "a", "\n\n", " ", " b" })]
    [InlineData("x;\r\n\r\ny", new[] { "x", ";\r\n\r\n", "y" })]
    [InlineData("end   ", new[] { "end", "   " })]
    [InlineData("\t\tword", new[] { "\t", "\tword" })]
    [InlineData("a\U0001D400b c", new[] { "a\U0001D400b", " c" })] // a letter outside the BMP stays inside its word
    [InlineData("\U0001F600\U0001F600 x", new[] { "\U0001F600\U0001F600", " x" })]
    public void SplitsLikeTheQwenPattern(string text, string[] pieces) =>
        Assert.Equal(pieces, QwenPreTokenizer.Split(text).Select(p => text.Substring(p.Offset, p.Length)));

    [Fact]
    public void PiecesTileTheText()
    {
        const string text = "Mixed: 日本語 text, 12.5%, \r\n\ttabs\u00a0and\u3000spaces 😀!! 'quoted' ";
        int next = 0;
        foreach (var (offset, length) in new QwenPreTokenizer().PreTokenize(text))
        {
            Assert.Equal(next, offset);
            Assert.True(length > 0);
            next = offset + length;
        }
        Assert.Equal(text.Length, next);
    }
}
