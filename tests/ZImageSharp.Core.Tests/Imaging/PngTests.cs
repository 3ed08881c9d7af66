using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ZImageSharp.Imaging;

namespace ZImageSharp.Core.Tests.Imaging;

public class PngTests
{
    [Fact]
    public void Crc32MatchesTheStandardCheckValues()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0xAE426082u, Crc32.Compute("IEND"u8));
    }

    [Theory]
    [InlineData(PngColorType.Rgb, 37, 23)]
    [InlineData(PngColorType.Rgba, 16, 9)]
    [InlineData(PngColorType.Rgb, 1, 1)]
    public void EncodedPixelsDecodeToTheSameBytes(PngColorType colorType, int width, int height)
    {
        byte[] pixels = TestImage(width, height, colorType == PngColorType.Rgb ? 3 : 4);
        byte[] png = PngEncoder.Encode(pixels, width, height, colorType);

        var info = PngReader.Read(png, decodePixels: true);
        Assert.Equal((width, height, (byte)8, (byte)colorType), (info.Width, info.Height, info.BitDepth, info.ColorType));
        Assert.Equal(pixels, info.Pixels);
    }

    [Fact]
    public void EveryRowFilterIsReversible()
    {
        var random = new Random(7);
        var row = new byte[30];
        var above = new byte[30];
        random.NextBytes(row);
        random.NextBytes(above);
        for (byte filter = 0; filter <= 4; filter++)
        {
            var filtered = new byte[row.Length];
            PngFilters.Apply(filter, row, above, bpp: 3, filtered);
            PngFilters.Reverse(filter, filtered, above, bpp: 3);
            Assert.Equal(row, filtered);
        }
    }

    [Fact]
    public void WritesChunksInPillowOrderWithValidCrcs()
    {
        var text = new[] { new PngText("parameters", "a cat"), new PngText("zimage", "{}", PngTextEncoding.Utf8) };
        byte[] png = PngEncoder.Encode(new byte[2 * 2 * 3], 2, 2, PngColorType.Rgb, text);

        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        Assert.Equal(["IHDR", "tEXt", "iTXt", "IDAT", "IEND"], ChunkTypes(png));
        // IHDR: 2x2, 8 bits, colour type 2, deflate, adaptive filtering, no interlace.
        Assert.Equal([0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0], png[16..29]);
        Assert.Equal([0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82], png[^12..]);
        Assert.Equal("parameters\0a cat"u8.ToArray(), ChunkData(png, "tEXt"));
        Assert.Equal("zimage\0\0\0\0\0{}"u8.ToArray(), ChunkData(png, "iTXt"));
    }

    [Fact]
    public void TextChunksRoundTripIncludingNonLatin1()
    {
        var text = new[]
        {
            new PngText("latin", "caf\u00e9 \u00fcber"),
            new PngText("auto", "\u65e5\u672c\u8a9e \U0001F600"),
            new PngText("utf8", "plain", PngTextEncoding.Utf8),
        };
        byte[] png = PngEncoder.Encode(new byte[3], 1, 1, PngColorType.Rgb, text);

        Assert.Equal(["IHDR", "tEXt", "iTXt", "iTXt", "IDAT", "IEND"], ChunkTypes(png));
        var info = PngReader.Read(png);
        Assert.Equal(text.Select(t => (t.Keyword, t.Text)), info.Text.Select(t => (t.Keyword, t.Text)));
        Assert.Equal("\u65e5\u672c\u8a9e \U0001F600", info.GetText("auto"));
        Assert.Null(info.GetText("missing"));
        Assert.Null(info.Pixels);
    }

    [Fact]
    public void ReadsCompressedTextChunks()
    {
        byte[] png = PngEncoder.Encode(new byte[3], 1, 1);
        byte[] zText = [.. "z"u8, 0, 0, .. Deflate(Encoding.Latin1.GetBytes("compressed latin-1 \u00e9"))];
        byte[] iText = [.. "i"u8, 0, 1, 0, .. "en"u8, 0, .. "eye"u8, 0, .. Deflate(Encoding.UTF8.GetBytes("\u4e2d\u6587"))];
        png = InsertBeforeIdat(png, ("zTXt", zText), ("iTXt", iText));

        var info = PngReader.Read(png);
        Assert.Equal("compressed latin-1 \u00e9", info.GetText("z"));
        Assert.Equal("\u4e2d\u6587", info.GetText("i"));
    }

    [Fact]
    public void InsertTextAddsChunksBeforeTheImageDataAndKeepsEverythingElse()
    {
        byte[] pixels = TestImage(5, 4, 3);
        byte[] png = PngEncoder.Encode(pixels, 5, 4, text: [new PngText("existing", "kept")]);

        byte[] tagged = PngEncoder.InsertText(png, [new PngText("parameters", "a cat"), new PngText("prompt", "\u732b in the rain")]);

        Assert.Equal(["IHDR", "tEXt", "tEXt", "iTXt", "IDAT", "IEND"], ChunkTypes(tagged));
        // 12 bytes of length, type and CRC per chunk; "prompt" is not Latin-1, so iTXt with 5 separator/flag bytes.
        Assert.Equal(png.Length + 12 + "parameters\0a cat".Length + 12 + "prompt".Length + 5 + "\u732b in the rain"u8.Length, tagged.Length);
        int idat = png.Length - ChunkData(png, "IDAT").Length - 24;
        Assert.Equal(png[..idat], tagged[..idat]);
        Assert.Equal(png[idat..], tagged[^(png.Length - idat)..]);

        var info = PngReader.Read(tagged, decodePixels: true);
        Assert.Equal(["existing", "parameters", "prompt"], info.Text.Select(t => t.Keyword));
        Assert.Equal("\u732b in the rain", info.GetText("prompt"));
        Assert.Equal(pixels, info.Pixels);
    }

    [Fact]
    public void InsertTextRejectsDamagedFilesAndInvalidText()
    {
        byte[] png = PngEncoder.Encode(new byte[3], 1, 1);
        Assert.Contains("signature", Assert.Throws<InvalidDataException>(() => PngEncoder.InsertText(png.AsSpan(1), [new PngText("k", "x")])).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => PngEncoder.InsertText(png.AsSpan(0, png.Length - 12), [new PngText("k", "x")])).Message);
        Assert.Throws<ArgumentException>(() => PngEncoder.InsertText(png, [new PngText("k", "a\0b")]));
        Assert.Equal(png, PngEncoder.InsertText(png, []));
    }

    [Fact]
    public void FlatImagesCompressWell()
    {
        byte[] pixels = Enumerable.Repeat((byte)200, 256 * 256 * 3).ToArray();
        Assert.InRange(PngEncoder.Encode(pixels, 256, 256).Length, 50, pixels.Length / 50);
    }

    [Fact]
    public void RejectsPixelBuffersOfTheWrongSize()
    {
        var error = Assert.Throws<ArgumentException>(() => PngEncoder.Encode(new byte[11], 2, 2));
        Assert.Contains("12 bytes", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" leading")]
    [InlineData("double  space")]
    [InlineData("\u65e5\u672c")]
    [InlineData("this keyword is far too long for a png text chunk because eighty characters is the limit")]
    public void RejectsInvalidKeywords(string keyword) =>
        Assert.Throws<ArgumentException>(() => PngEncoder.Encode(new byte[3], 1, 1, text: [new PngText(keyword, "x")]));

    [Fact]
    public void RejectsNulInText() =>
        Assert.Throws<ArgumentException>(() => PngEncoder.Encode(new byte[3], 1, 1, text: [new PngText("k", "a\0b")]));

    [Fact]
    public void ReaderRejectsDamagedFiles()
    {
        byte[] png = PngEncoder.Encode(TestImage(4, 4, 3), 4, 4, text: [new PngText("parameters", "x")]);

        byte[] flipped = (byte[])png.Clone();
        flipped[^20] ^= 0x01; // inside IDAT
        Assert.Contains("IDAT chunk", Assert.Throws<InvalidDataException>(() => PngReader.Read(flipped)).Message);

        Assert.Contains("signature", Assert.Throws<InvalidDataException>(() => PngReader.Read(png.AsSpan(1))).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => PngReader.Read(png.AsSpan(0, png.Length - 12))).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => PngReader.Read(png.AsSpan(0, png.Length - 30))).Message);
    }

    internal static byte[] TestImage(int width, int height, int channels)
    {
        // Gradients with noise, so every row filter has something to win on.
        var random = new Random(width * 1000 + height);
        var pixels = new byte[width * height * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    pixels[(y * width + x) * channels + c] = (byte)(x * 5 + y * 3 * c + random.Next(8));
        return pixels;
    }

    internal static List<string> ChunkTypes(byte[] png) => Chunks(png).Select(c => c.Type).ToList();

    internal static byte[] ChunkData(byte[] png, string type) => Chunks(png).First(c => c.Type == type).Data;

    private static IEnumerable<(string Type, byte[] Data)> Chunks(byte[] png)
    {
        for (int offset = 8; offset < png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            yield return (Encoding.ASCII.GetString(png, offset + 4, 4), png[(offset + 8)..(offset + 8 + length)]);
            offset += 12 + length;
        }
    }

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Optimal))
            zlib.Write(data);
        return output.ToArray();
    }

    private static byte[] InsertBeforeIdat(byte[] png, params (string Type, byte[] Data)[] chunks)
    {
        int idat = 8;
        while (Encoding.ASCII.GetString(png, idat + 4, 4) != "IDAT")
            idat += 12 + BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat));
        using var output = new MemoryStream();
        output.Write(png, 0, idat);
        foreach (var (type, data) in chunks)
        {
            var header = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
            Encoding.ASCII.GetBytes(type).CopyTo(header, 4);
            output.Write(header);
            output.Write(data);
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.Compute([.. header[4..], .. data]));
            output.Write(crc);
        }
        output.Write(png, idat, png.Length - idat);
        return output.ToArray();
    }
}
