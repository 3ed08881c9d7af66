using System.IO.Compression;

namespace ZImageSharp.Imaging;

/// <summary>
/// The zlib wrapper (RFC 1950) around raw deflate data: the 2-byte header and the Adler-32 trailer, written by hand so
/// that deflate streams compressed separately can be joined into one zlib stream.
/// </summary>
internal static class PngZlib
{
    private const uint AdlerModulus = 65521;

    /// <summary>Largest run of bytes whose Adler sums cannot overflow 32 bits before they are reduced (zlib's NMAX).</summary>
    private const int AdlerBlock = 5552;

    /// <summary>Adler-32 of no bytes.</summary>
    public const uint AdlerInitial = 1;

    /// <summary>
    /// CMF = 0x78 (deflate, 32 KiB window) and FLG, whose FLEVEL bits only describe the level (decoders ignore them);
    /// the same two bytes <see cref="ZLibStream"/> writes for each level, with the check bits making the pair a multiple of 31.
    /// </summary>
    public static (byte Cmf, byte Flg) Header(CompressionLevel level) => level switch
    {
        CompressionLevel.Optimal => (0x78, 0x9C),
        CompressionLevel.SmallestSize => (0x78, 0xDA),
        _ => (0x78, 0x01),
    };

    /// <summary>Continues the Adler-32 checksum <paramref name="adler"/> over <paramref name="data"/>.</summary>
    public static uint Adler32(uint adler, ReadOnlySpan<byte> data)
    {
        uint a = adler & 0xFFFF, b = adler >> 16;
        while (!data.IsEmpty)
        {
            var block = data[..Math.Min(AdlerBlock, data.Length)];
            int i = 0;
            for (; i <= block.Length - 4; i += 4)
            {
                a += block[i]; b += a;
                a += block[i + 1]; b += a;
                a += block[i + 2]; b += a;
                a += block[i + 3]; b += a;
            }
            for (; i < block.Length; i++)
            {
                a += block[i];
                b += a;
            }
            a %= AdlerModulus;
            b %= AdlerModulus;
            data = data[block.Length..];
        }
        return b << 16 | a;
    }

    /// <summary>The Adler-32 of X followed by Y, from Adler-32(X), Adler-32(Y) and Y's length.</summary>
    /// <remarks>
    /// With n = |Y|: a(XY) = a(X) + a(Y) − 1, since both sums start at 1; b(XY) = b(X) + b(Y) + n·(a(X) − 1), since
    /// each of Y's n running sums a is larger by a(X) − 1 than in Y alone. Both modulo 65521.
    /// </remarks>
    public static uint CombineAdler32(uint first, uint second, long secondLength)
    {
        ulong firstA = first & 0xFFFF, firstB = first >> 16;
        ulong secondA = second & 0xFFFF, secondB = second >> 16;
        ulong n = (ulong)(secondLength % AdlerModulus);
        ulong a = (firstA + secondA + AdlerModulus - 1) % AdlerModulus;
        ulong b = (firstB + secondB + n * ((firstA + AdlerModulus - 1) % AdlerModulus)) % AdlerModulus;
        return (uint)(b << 16 | a);
    }
}
