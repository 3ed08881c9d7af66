using System.Buffers.Binary;
using System.IO.Compression;

namespace ZImageSharp.Imaging;

/// <summary>Pixel layouts the encoder writes (8 bits a sample, PNG colour types 2 and 6).</summary>
public enum PngColorType : byte
{
    Rgb = 2,
    Rgba = 6,
}

/// <summary>
/// Writes 8-bit RGB/RGBA PNGs: IHDR, the text chunks, one zlib IDAT (BCL <see cref="ZLibStream"/>), IEND.
/// Rows are filtered with libpng's default heuristic (per row, the filter with the smallest sum of absolute
/// signed residuals), which makes generated images noticeably smaller than unfiltered ones at little cost.
/// </summary>
public static class PngEncoder
{
    internal static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Encodes row-major pixels without padding (<paramref name="width"/> × <paramref name="height"/> ×
    /// 3 or 4 bytes). Text chunks come before the image data, where Pillow puts them.</summary>
    public static byte[] Encode(
        ReadOnlySpan<byte> pixels,
        int width,
        int height,
        PngColorType colorType = PngColorType.Rgb,
        IEnumerable<PngText>? text = null,
        CompressionLevel compression = CompressionLevel.Optimal)
    {
        int channels = ChannelsOf(colorType);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        long expected = (long)width * height * channels;
        if (pixels.Length != expected)
            throw new ArgumentException(
                $"A {width}x{height} {colorType} image needs {expected} bytes of pixels; got {pixels.Length}.", nameof(pixels));

        var textChunks = (text ?? []).Select(t => t.ToChunk()).ToList();
        byte[] imageData = CompressRows(pixels, width * channels, height, channels, compression);

        using var png = new MemoryStream(imageData.Length + 1024);
        png.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8; // bits per sample
        header[9] = (byte)colorType;
        header[10] = 0; // deflate
        header[11] = 0; // adaptive filtering
        header[12] = 0; // no interlace
        WriteChunk(png, "IHDR", header);

        foreach (var (type, data) in textChunks)
            WriteChunk(png, type, data);
        WriteChunk(png, "IDAT", imageData);
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>Returns <paramref name="png"/> with <paramref name="text"/> added just before its image data (where
    /// <see cref="Encode"/> puts text), every other byte unchanged: for tagging a PNG encoded elsewhere.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed PNG.</exception>
    /// <exception cref="ArgumentException">A keyword or text cannot be stored (see <see cref="PngText"/>).</exception>
    public static byte[] InsertText(ReadOnlySpan<byte> png, IEnumerable<PngText> text)
    {
        var textChunks = text.Select(t => t.ToChunk()).ToList();
        PngReader.Read(png); // checks signature, lengths, CRCs and IEND, so the walk below can trust every length

        int insertAt = Signature.Length;
        while (!png.Slice(insertAt + 4, 4).SequenceEqual("IDAT"u8) && !png.Slice(insertAt + 4, 4).SequenceEqual("IEND"u8))
            insertAt += 12 + BinaryPrimitives.ReadInt32BigEndian(png[insertAt..]);

        using var output = new MemoryStream(png.Length + textChunks.Sum(c => c.Data.Length + 12));
        output.Write(png[..insertAt]);
        foreach (var (type, data) in textChunks)
            WriteChunk(output, type, data);
        output.Write(png[insertAt..]);
        return output.ToArray();
    }

    internal static int ChannelsOf(PngColorType colorType) => colorType switch
    {
        PngColorType.Rgb => 3,
        PngColorType.Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(colorType), colorType, "Only RGB and RGBA (8 bits a sample) are written."),
    };

    private static byte[] CompressRows(ReadOnlySpan<byte> pixels, int stride, int height, int bytesPerPixel, CompressionLevel compression)
    {
        using var compressed = new MemoryStream(pixels.Length / 2 + 64);
        using (var zlib = new ZLibStream(compressed, compression, leaveOpen: true))
        {
            // One filtered row: the filter-type byte, then the residuals.
            var best = new byte[stride + 1];
            var candidate = new byte[stride + 1];
            var zeroRow = new byte[stride];
            for (int y = 0; y < height; y++)
            {
                var row = pixels.Slice(y * stride, stride);
                var above = y == 0 ? zeroRow : pixels.Slice((y - 1) * stride, stride);
                long bestScore = long.MaxValue;
                for (byte filter = 0; filter <= 4; filter++)
                {
                    long score = PngFilters.Apply(filter, row, above, bytesPerPixel, candidate.AsSpan(1));
                    if (score < bestScore)
                    {
                        bestScore = score;
                        candidate[0] = filter;
                        (best, candidate) = (candidate, best);
                    }
                }
                zlib.Write(best);
            }
        }
        return compressed.ToArray();
    }

    private static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);

        Span<byte> typeBytes = stackalloc byte[4];
        for (int i = 0; i < 4; i++)
            typeBytes[i] = (byte)type[i];
        png.Write(typeBytes);
        png.Write(data);

        uint crc = Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data));
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        png.Write(word);
    }
}

/// <summary>The five PNG row filters (PNG spec section 9) and their inverses.</summary>
internal static class PngFilters
{
    /// <summary>Filters <paramref name="row"/> into <paramref name="output"/> and returns the sum of the residuals
    /// taken as signed bytes (libpng's "minimum sum of absolute differences" heuristic).</summary>
    public static long Apply(byte filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> above, int bpp, Span<byte> output)
    {
        // One loop per filter: the encoder runs all five on every row, so no per-byte dispatch.
        switch (filter)
        {
            case 0:
                row.CopyTo(output);
                break;
            case 1:
                row[..bpp].CopyTo(output);
                for (int i = bpp; i < row.Length; i++)
                    output[i] = (byte)(row[i] - row[i - bpp]);
                break;
            case 2:
                for (int i = 0; i < row.Length; i++)
                    output[i] = (byte)(row[i] - above[i]);
                break;
            case 3:
                for (int i = 0; i < bpp; i++)
                    output[i] = (byte)(row[i] - (above[i] >> 1));
                for (int i = bpp; i < row.Length; i++)
                    output[i] = (byte)(row[i] - ((row[i - bpp] + above[i]) >> 1));
                break;
            default:
                for (int i = 0; i < bpp; i++)
                    output[i] = (byte)(row[i] - above[i]); // Paeth with no left neighbour predicts "up"
                for (int i = bpp; i < row.Length; i++)
                    output[i] = (byte)(row[i] - Paeth(row[i - bpp], above[i], above[i - bpp]));
                break;
        }

        long score = 0;
        foreach (byte residual in output[..row.Length])
        {
            int signed = (sbyte)residual;
            score += signed < 0 ? -signed : signed; // not Math.Abs, which throws on -128
        }
        return score;
    }

    /// <summary>Undoes <paramref name="filter"/> in place on <paramref name="row"/>.</summary>
    public static void Reverse(byte filter, Span<byte> row, ReadOnlySpan<byte> above, int bpp)
    {
        if (filter > 4)
            throw new InvalidDataException($"The PNG uses row filter {filter}; only filters 0-4 exist.");
        for (int i = 0; i < row.Length; i++)
        {
            int left = i >= bpp ? row[i - bpp] : 0;
            int up = above[i];
            int upLeft = i >= bpp ? above[i - bpp] : 0;
            row[i] = (byte)(row[i] + Predict(filter, left, up, upLeft));
        }
    }

    private static int Predict(byte filter, int left, int up, int upLeft) => filter switch
    {
        0 => 0,
        1 => left,
        2 => up,
        3 => (left + up) >> 1,
        _ => Paeth(left, up, upLeft),
    };

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
