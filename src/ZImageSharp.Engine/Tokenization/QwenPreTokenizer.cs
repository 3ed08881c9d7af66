using System.Text;
using Microsoft.ML.Tokenizers;

namespace ZImageSharp.Engine.Tokenization;

/// <summary>
/// Splits text the way Qwen's tokenizer.json pre-tokenizer does (a <c>Split</c> with <see cref="Pattern"/>, behaviour
/// "Isolated"): the pieces tile the text and each is byte-level BPE'd on its own.
/// </summary>
/// <remarks>
/// A hand-written scanner rather than a .NET <see cref="System.Text.RegularExpressions.Regex"/>: .NET matches
/// <c>\p{L}</c> and <c>\p{N}</c> per UTF-16 unit, so a letter outside the BMP (CJK Extension B, math alphanumerics)
/// would count as "other" and split differently from Hugging Face, whose regex engine works on code points.
/// Each branch below is one alternative of the pattern, tried in the pattern's order with its backtracking worked out.
/// </remarks>
internal sealed class QwenPreTokenizer : PreTokenizer
{
    /// <summary>The split pattern of Qwen2/2.5/3 tokenizer.json, used to check that a file asks for this scanner.</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    internal static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int Offset, int Length)>();
        int start = 0;
        while (start < text.Length)
        {
            int end = MatchEnd(text, start);
            pieces.Add((start, end - start));
            start = end;
        }
        return pieces;
    }

    private enum CharClass { Letter, Number, WhiteSpace, Other }

    /// <summary>End (exclusive) of the pattern's match at <paramref name="i"/>. Every code point falls in one of the
    /// alternatives, so a match always starts exactly where the previous one ended.</summary>
    private static int MatchEnd(ReadOnlySpan<char> text, int i)
    {
        var (first, firstLength) = RuneAt(text, i);
        var firstClass = Classify(first);
        int next = i + firstLength;

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (first.Value == '\'' && ContractionLength(text, next) is > 0 and var contraction)
            return next + contraction;

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (firstClass == CharClass.Letter)
            return SkipWhile(text, i, CharClass.Letter);
        if (firstClass != CharClass.Number && !IsLineBreak(first) && ClassAt(text, next) == CharClass.Letter)
            return SkipWhile(text, next, CharClass.Letter);

        // \p{N}
        if (firstClass == CharClass.Number)
            return next;

        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        int symbols = first.Value == ' ' && ClassAt(text, next) == CharClass.Other ? next : i;
        if (ClassAt(text, symbols) == CharClass.Other)
        {
            int end = SkipWhile(text, symbols, CharClass.Other);
            while (end < text.Length && text[end] is '\r' or '\n')
                end++;
            return end;
        }

        // Only white space is left. White-space code points are all in the BMP, so one char is one code point.
        int spaceEnd = SkipWhile(text, i, CharClass.WhiteSpace);

        // \s*[\r\n]+ : the greedy \s* gives back until the run's last line break.
        int lastBreak = text[i..spaceEnd].LastIndexOfAny('\r', '\n');
        if (lastBreak >= 0)
            return i + lastBreak + 1;

        // \s+(?!\S) : the run, minus the space that belongs to the next word (unless the text ends here).
        if (spaceEnd == text.Length)
            return spaceEnd;
        if (spaceEnd - i > 1)
            return spaceEnd - 1;

        // \s+
        return spaceEnd;
    }

    /// <summary>Length after the apostrophe of s, t, re, ve, m, ll or d in any case, else 0.</summary>
    private static int ContractionLength(ReadOnlySpan<char> text, int i)
    {
        char a = At(text, i), b = At(text, i + 1);
        return a switch
        {
            's' or 'S' or 't' or 'T' or 'm' or 'M' or 'd' or 'D' => 1,
            'r' or 'R' or 'v' or 'V' when b is 'e' or 'E' => 2,
            'l' or 'L' when b is 'l' or 'L' => 2,
            _ => 0,
        };
    }

    private static char At(ReadOnlySpan<char> text, int i) => i < text.Length ? text[i] : '\0';

    private static bool IsLineBreak(Rune rune) => rune.Value is '\r' or '\n';

    private static int SkipWhile(ReadOnlySpan<char> text, int i, CharClass charClass)
    {
        while (i < text.Length)
        {
            var (rune, length) = RuneAt(text, i);
            if (Classify(rune) != charClass)
                break;
            i += length;
        }
        return i;
    }

    private static CharClass? ClassAt(ReadOnlySpan<char> text, int i) =>
        i < text.Length ? Classify(RuneAt(text, i).Rune) : null;

    private static (Rune Rune, int Length) RuneAt(ReadOnlySpan<char> text, int i)
    {
        // A lone surrogate decodes as U+FFFD (a symbol, "other"); QwenTokenizer replaces those before encoding anyway.
        Rune.DecodeFromUtf16(text[i..], out var rune, out int length);
        return (rune, length);
    }

    private static CharClass Classify(Rune rune) =>
        Rune.IsLetter(rune) ? CharClass.Letter
        : Rune.IsNumber(rune) ? CharClass.Number
        : Rune.IsWhiteSpace(rune) ? CharClass.WhiteSpace
        : CharClass.Other;
}
