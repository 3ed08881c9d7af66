using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ZImageSharp.Imaging;

/// <summary>What <see cref="PngReader"/> found in a PNG.</summary>
/// <param name="Text">tEXt, zTXt and iTXt chunks in file order.</param>
/// <param name="Pixels">Row-major 8-bit pixels when decoding was asked for, else null.</param>
public sealed record PngInfo(int Width, int Height, byte BitDepth, byte ColorType, IReadOnlyList<PngText> Text, byte[]? Pixels)
{
    /// <summary>The text of the first chunk named <paramref name="keyword"/>, or null.</summary>
    public string? GetText(string keyword) => Text.FirstOrDefault(t => t.Keyword == keyword)?.Text;
}

/// <summary>
/// Reads the header and text chunks of a PNG (the server reads generation parameters back with it), checking the
/// signature, every chunk's CRC and the chunk order. Pixels are decoded only on request and only for the
/// non-interlaced 8-bit RGB/RGBA images <see cref="PngEncoder"/> writes.
/// </summary>
public static class PngReader
{
    /// <exception cref="InvalidDataException">The bytes are not a well-formed PNG; the message says where.</exception>
    public static PngInfo Read(ReadOnlySpan<byte> png, bool decodePixels = false)
    {
        if (png.Length < PngEncoder.Signature.Length || !png[..PngEncoder.Signature.Length].SequenceEqual(PngEncoder.Signature))
            throw new InvalidDataException("The data is not a PNG: the 8-byte PNG signature is missing.");

        int width = 0, height = 0;
        byte bitDepth = 0, colorType = 0, interlace = 0;
        var text = new List<PngText>();
        using var imageData = decodePixels ? new MemoryStream() : null;
        bool sawHeader = false, sawEnd = false;

        int offset = PngEncoder.Signature.Length;
        while (offset < png.Length && !sawEnd)
        {
            if (png.Length - offset < 12)
                throw new InvalidDataException($"The PNG is truncated: a chunk header at byte {offset} is incomplete.");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[offset..]);
            if (length > int.MaxValue || length > png.Length - offset - 12)
                throw new InvalidDataException($"The PNG is truncated: the chunk at byte {offset} claims {length} bytes of data.");
            var typeBytes = png.Slice(offset + 4, 4);
            string type = Encoding.ASCII.GetString(typeBytes);
            var data = png.Slice(offset + 8, (int)length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(png[(offset + 8 + (int)length)..]);
            uint crc = Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data));
            if (crc != storedCrc)
                throw new InvalidDataException($"The PNG's {type} chunk at byte {offset} is corrupt: CRC {storedCrc:X8} stored, {crc:X8} computed.");
            if (!sawHeader && type != "IHDR")
                throw new InvalidDataException($"The PNG's first chunk is {type}; it must be IHDR.");

            switch (type)
            {
                case "IHDR":
                    if (sawHeader || length != 13)
                        throw new InvalidDataException("The PNG has a second or malformed IHDR chunk.");
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    (bitDepth, colorType, interlace) = (data[8], data[9], data[12]);
                    if (width < 1 || height < 1)
                        throw new InvalidDataException($"The PNG declares an empty size {width}x{height}.");
                    sawHeader = true;
                    break;
                case "tEXt":
                    text.Add(ReadText(data));
                    break;
                case "zTXt":
                    text.Add(ReadCompressedText(data));
                    break;
                case "iTXt":
                    text.Add(ReadInternationalText(data));
                    break;
                case "IDAT":
                    imageData?.Write(data);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
            }
            offset += 12 + (int)length;
        }
        if (!sawEnd)
            throw new InvalidDataException("The PNG is truncated: it has no IEND chunk.");

        byte[]? pixels = imageData is null ? null : DecodePixels(imageData.ToArray(), width, height, bitDepth, colorType, interlace);
        return new PngInfo(width, height, bitDepth, colorType, text, pixels);
    }

    private static PngText ReadText(ReadOnlySpan<byte> data)
    {
        int separator = KeywordEnd(data, "tEXt");
        return new PngText(Encoding.Latin1.GetString(data[..separator]), Encoding.Latin1.GetString(data[(separator + 1)..]));
    }

    private static PngText ReadCompressedText(ReadOnlySpan<byte> data)
    {
        int separator = KeywordEnd(data, "zTXt");
        byte[] raw = Inflate(data[(separator + 2)..], "zTXt");
        return new PngText(Encoding.Latin1.GetString(data[..separator]), Encoding.Latin1.GetString(raw));
    }

    /// <summary>iTXt: keyword \0 flag method language \0 translated-keyword \0 text (UTF-8, zlib when flag is 1).</summary>
    private static PngText ReadInternationalText(ReadOnlySpan<byte> data)
    {
        int separator = KeywordEnd(data, "iTXt");
        string keyword = Encoding.Latin1.GetString(data[..separator]);
        if (data.Length < separator + 3)
            throw new InvalidDataException($"The PNG's iTXt chunk \"{keyword}\" is truncated.");
        bool compressed = data[separator + 1] == 1;
        var rest = data[(separator + 3)..];
        int languageEnd = rest.IndexOf((byte)0);
        int translatedEnd = languageEnd < 0 ? -1 : rest[(languageEnd + 1)..].IndexOf((byte)0);
        if (translatedEnd < 0)
            throw new InvalidDataException($"The PNG's iTXt chunk \"{keyword}\" lacks its language or translated-keyword field.");
        var value = rest[(languageEnd + 1 + translatedEnd + 1)..];
        byte[] utf8 = compressed ? Inflate(value, "iTXt") : value.ToArray();
        return new PngText(keyword, Encoding.UTF8.GetString(utf8), PngTextEncoding.Utf8);
    }

    private static int KeywordEnd(ReadOnlySpan<byte> data, string type)
    {
        int separator = data.IndexOf((byte)0);
        if (separator < 1)
            throw new InvalidDataException($"The PNG has a {type} chunk without a keyword.");
        return separator;
    }

    private static byte[] DecodePixels(byte[] zlibData, int width, int height, byte bitDepth, byte colorType, byte interlace)
    {
        if (bitDepth != 8 || colorType is not ((byte)PngColorType.Rgb or (byte)PngColorType.Rgba) || interlace != 0)
            throw new NotSupportedException(
                $"Decoding pixels is supported for non-interlaced 8-bit RGB/RGBA only; this PNG has bit depth {bitDepth}, colour type {colorType}, interlace {interlace}.");
        int bpp = PngEncoder.ChannelsOf((PngColorType)colorType);
        int stride = width * bpp;
        byte[] raw = Inflate(zlibData, "IDAT");
        if (raw.Length != (long)(stride + 1) * height)
            throw new InvalidDataException($"The PNG's image data holds {raw.Length} bytes; a {width}x{height} image needs {(long)(stride + 1) * height}.");

        var pixels = new byte[stride * height];
        var zeroRow = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            var row = pixels.AsSpan(y * stride, stride);
            raw.AsSpan(y * (stride + 1) + 1, stride).CopyTo(row);
            var above = y == 0 ? zeroRow : pixels.AsSpan((y - 1) * stride, stride);
            PngFilters.Reverse(raw[y * (stride + 1)], row, above, bpp);
        }
        return pixels;
    }

    private static byte[] Inflate(ReadOnlySpan<byte> zlibData, string chunk)
    {
        try
        {
            using var input = new MemoryStream(zlibData.ToArray());
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            zlib.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The PNG's {chunk} data is not a valid zlib stream: {e.Message}", e);
        }
    }
}
