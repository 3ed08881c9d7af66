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
/// Writes 8-bit RGB/RGBA PNGs: IHDR, the text chunks, the IDAT chunks of one zlib stream, IEND.
/// Rows are filtered with libpng's default heuristic (per row, the filter with the smallest sum of absolute
/// signed residuals), which makes generated images noticeably smaller than unfiltered ones at little cost;
/// large images are filtered and deflated in bands on several cores (see <see cref="PngImageData"/>).
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
        PngChunkData[] imageData = PngImageData.Compress(pixels, width * channels, height, channels, compression);

        const int ChunkOverhead = 12; // length, type, CRC
        int size = Signature.Length + ChunkOverhead + 13 + textChunks.Sum(c => ChunkOverhead + c.Data.Length)
            + imageData.Sum(c => ChunkOverhead + c.Length) + ChunkOverhead;
        using var png = new MemoryStream(size);
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
        foreach (var chunk in imageData)
            WriteChunk(png, "IDAT"u8, chunk.Buffer.AsSpan(0, chunk.Length), chunk.Crc);
        WriteChunk(png, "IEND", []);
        // The stream was sized exactly, so its buffer is the file: no copy of megabytes at the end.
        return png.Length == png.Capacity ? png.GetBuffer() : png.ToArray();
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

    private static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> typeBytes = stackalloc byte[4];
        for (int i = 0; i < 4; i++)
            typeBytes[i] = (byte)type[i];
        WriteChunk(png, typeBytes, data, Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data)));
    }

    private static void WriteChunk(Stream png, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, uint crc)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        png.Write(type);
        png.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        png.Write(word);
    }
}
