using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ZImageSharp.Imaging;

namespace ZImageSharp.Core.Tests.Imaging;

/// <summary>The encoder's parallel path: rows filtered with vector code, deflated in bands joined by sync flushes
/// into one zlib stream whose Adler-32 is combined from the bands'.</summary>
public class PngBandedEncodingTests
{
    [Theory]
    [InlineData(PngColorType.Rgb, 1, 1, 1)] // one pixel
    [InlineData(PngColorType.Rgb, 5000, 1, 1)] // one row of 15 KB
    [InlineData(PngColorType.Rgb, 3, 70_000, 2)] // 2 bands of thin rows; 9-byte rows are shorter than a vector
    [InlineData(PngColorType.Rgb, 512, 342, 2)] // just over 2 bands' bytes: 2 bands of 171 rows
    [InlineData(PngColorType.Rgb, 1024, 516, 6)] // 6 bands of exactly 86 rows
    [InlineData(PngColorType.Rgb, 1023, 517, 6)] // odd width and a short last band (87 × 5 + 82 rows)
    [InlineData(PngColorType.Rgba, 777, 401, 4)] // RGBA, odd width
    [InlineData(PngColorType.Rgb, 1024, 1024, 12)] // the pipeline's size
    public void BandedStreamDecodesToTheOriginalPixels(PngColorType colorType, int width, int height, int bands)
    {
        int channels = colorType == PngColorType.Rgb ? 3 : 4;
        byte[] pixels = PngTests.TestImage(width, height, channels);
        byte[] png = PngEncoder.Encode(pixels, width, height, colorType);

        Assert.Equal(bands, PngImageData.BandLayout(width * channels, height).BandCount);
        Assert.Equal(bands, PngTests.ChunkTypes(png).Count(t => t == "IDAT"));

        // The project's reader (chunk CRCs, IDAT concatenation, inflate, unfiltering) ...
        Assert.Equal(pixels, PngReader.Read(png, decodePixels: true).Pixels);

        // ... and a plain ZLibStream over the joined IDAT data, unfiltered here by the spec's scalar predictors.
        byte[] zlib = ImageData(png);
        byte[] filtered = Inflate(zlib);
        Assert.Equal((width * channels + 1) * height, filtered.Length);
        Assert.Equal(pixels, Unfilter(filtered, width * channels, height, channels));

        // The trailer is the Adler-32 of everything inflated, checked here, not only by the inflater.
        Assert.Equal(TextbookAdler32(filtered), BinaryPrimitives.ReadUInt32BigEndian(zlib.AsSpan(zlib.Length - 4)));
        Assert.Equal([0x78, 0x9C], zlib[..2]); // deflate, 32 KiB window, the default-level flag ZLibStream writes
    }

    [Fact]
    public void EveryBandButTheLastEndsWithASyncFlushAndIsNotFinal()
    {
        byte[] png = PngEncoder.Encode(PngTests.TestImage(1024, 516, 3), 1024, 516);
        var idat = Chunks(png).Where(c => c.Type == "IDAT").Select(c => c.Data).ToList();

        Assert.Equal(6, idat.Count);
        foreach (byte[] band in idat[..^1])
            Assert.Equal([0x00, 0x00, 0xFF, 0xFF], band[^4..]);
        // Inflating only the first band must stop for lack of data, not at a final block.
        using var partial = new ZLibStream(new MemoryStream(idat[0]), CompressionMode.Decompress);
        var output = new MemoryStream();
        partial.CopyTo(output);
        Assert.Equal(86 * 3073, output.Length);
    }

    [Fact]
    public void ACorruptAdlerIsRejectedOnDecode()
    {
        byte[] pixels = PngTests.TestImage(640, 480, 3);
        byte[] png = PngEncoder.Encode(pixels, 640, 480);
        byte[] zlib = ImageData(png);
        zlib[^1] ^= 0x01;

        Assert.Throws<InvalidDataException>(() => Inflate(zlib));
        // Through the reader too: the chunk CRC is fixed up so that only the Adler-32 is wrong.
        byte[] damaged = ReplaceLastIdatByte(png, b => (byte)(b ^ 0x01));
        Assert.Contains("IDAT data", Assert.Throws<InvalidDataException>(() => PngReader.Read(damaged, decodePixels: true)).Message);
    }

    [Theory]
    [InlineData(CompressionLevel.Optimal, 0x9C)]
    [InlineData(CompressionLevel.Fastest, 0x01)]
    [InlineData(CompressionLevel.NoCompression, 0x01)]
    [InlineData(CompressionLevel.SmallestSize, 0xDA)]
    public void EveryLevelRoundTripsWithTheHeaderZLibStreamWrites(CompressionLevel level, byte flg)
    {
        byte[] pixels = PngTests.TestImage(600, 300, 3);
        byte[] png = PngEncoder.Encode(pixels, 600, 300, compression: level);

        Assert.Equal(pixels, PngReader.Read(png, decodePixels: true).Pixels);
        Assert.Equal([0x78, flg], ImageData(png)[..2]);
        Assert.Equal(0, (0x78 * 256 + flg) % 31); // the header check bits
    }

    [Fact]
    public void BandingCostsUnderOnePercentOfTheSingleStreamSize()
    {
        byte[] pixels = PngTests.TestImage(1024, 1024, 3);
        byte[] zlib = ImageData(PngEncoder.Encode(pixels, 1024, 1024));

        using var single = new MemoryStream();
        using (var stream = new ZLibStream(single, CompressionLevel.Optimal, leaveOpen: true))
            stream.Write(Inflate(zlib)); // the same filtered rows, deflated as one stream
        Assert.InRange(zlib.Length, single.Length, single.Length * 1.01);
    }

    [Fact]
    public void OutputDependsOnlyOnTheInput()
    {
        byte[] pixels = PngTests.TestImage(800, 700, 4);
        Assert.Equal(PngEncoder.Encode(pixels, 800, 700, PngColorType.Rgba), PngEncoder.Encode(pixels, 800, 700, PngColorType.Rgba));
    }

    [Fact]
    public void BandLayoutCoversEveryRowOnce()
    {
        foreach (var (stride, height) in new[] { (3, 1), (3072, 1024), (3, 100_000), (12_000, 7), (4096 * 4, 4096) })
        {
            var (count, rows) = PngImageData.BandLayout(stride, height);
            Assert.InRange(height - (count - 1) * rows, 1, rows); // the last band holds 1..rows rows
            Assert.True(count == 1 || (long)(stride + 1) * rows >= PngImageData.BandBytes / 2, $"{stride}x{height}: bands of {rows} rows are too small");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(6)]
    public void VectorFiltersMatchTheSpecOnEveryLength(int bpp)
    {
        var random = new Random(bpp);
        for (int length = bpp; length <= 300; length += bpp)
        {
            var row = new byte[length];
            var above = new byte[length];
            random.NextBytes(row);
            random.NextBytes(above);
            if (length % 7 == 0)
            {
                // Extremes: saturating sums and residuals of exactly -128.
                Array.Fill(row, (byte)255, 0, length / 2);
                Array.Fill(above, (byte)0, length / 3, length / 3);
            }
            for (byte filter = 0; filter < PngFilters.Count; filter++)
            {
                var output = new byte[length + 5]; // a longer output keeps its tail
                long score = PngFilters.Apply(filter, row, above, bpp, output);

                var expected = new byte[length];
                for (int i = 0; i < length; i++)
                {
                    int left = i >= bpp ? row[i - bpp] : 0, upLeft = i >= bpp ? above[i - bpp] : 0;
                    expected[i] = (byte)(row[i] - PngFilters.Predict(filter, left, above[i], upLeft));
                }
                Assert.Equal(expected, output[..length]);
                Assert.Equal(new byte[5], output[length..]);
                Assert.Equal(expected.Sum(b => (long)Math.Abs((int)(sbyte)b)), score);
            }
        }
    }

    [Fact]
    public void VectorPaethMatchesTheSpecForEveryNeighbourTriple()
    {
        // With one byte a pixel, position 2k+1 sees left = row[2k], up = above[2k+1], upLeft = above[2k]: a row of
        // constant a over an "above" holding every (upLeft, up) pair covers all 2^24 triples in 256 rows.
        var above = new byte[2 * 65536];
        for (int pair = 0; pair < 65536; pair++)
            (above[2 * pair], above[2 * pair + 1]) = ((byte)(pair >> 8), (byte)pair);
        var row = new byte[above.Length];
        var output = new byte[above.Length];
        int mismatches = 0;
        for (int a = 0; a < 256; a++)
        {
            Array.Fill(row, (byte)a);
            PngFilters.Apply(4, row, above, 1, output);
            for (int i = 1; i < row.Length; i += 2)
                if ((byte)(a - output[i]) != PngFilters.Predict(4, a, above[i], above[i - 1]))
                    mismatches++;
        }
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void Adler32MatchesTheStandardAndCombinesAcrossSplits()
    {
        Assert.Equal(0x11E60398u, PngZlib.Adler32(PngZlib.AdlerInitial, "Wikipedia"u8));
        Assert.Equal(1u, PngZlib.Adler32(PngZlib.AdlerInitial, []));

        var random = new Random(3);
        var data = new byte[200_000];
        random.NextBytes(data);
        Array.Fill(data, (byte)255, 0, 20_000); // sums near their largest before each reduction
        uint whole = PngZlib.Adler32(PngZlib.AdlerInitial, data);
        Assert.Equal(TextbookAdler32(data), whole);
        foreach (int split in new[] { 0, 1, 5552, 5553, 65521, 131_042, 199_999, 200_000 })
        {
            uint first = PngZlib.Adler32(PngZlib.AdlerInitial, data.AsSpan(0, split));
            uint second = PngZlib.Adler32(PngZlib.AdlerInitial, data.AsSpan(split));
            Assert.Equal(whole, PngZlib.CombineAdler32(first, second, data.Length - split));
        }
    }

    private static uint TextbookAdler32(ReadOnlySpan<byte> data)
    {
        uint a = 1, b = 0;
        foreach (byte d in data)
        {
            a = (a + d) % 65521;
            b = (b + a) % 65521;
        }
        return b << 16 | a;
    }

    private static byte[] Unfilter(byte[] filtered, int stride, int height, int bpp)
    {
        var pixels = new byte[stride * height];
        for (int y = 0; y < height; y++)
        {
            byte filter = filtered[y * (stride + 1)];
            for (int i = 0; i < stride; i++)
            {
                int left = i >= bpp ? pixels[y * stride + i - bpp] : 0;
                int up = y > 0 ? pixels[(y - 1) * stride + i] : 0;
                int upLeft = i >= bpp && y > 0 ? pixels[(y - 1) * stride + i - bpp] : 0;
                pixels[y * stride + i] = (byte)(filtered[y * (stride + 1) + 1 + i] + PngFilters.Predict(filter, left, up, upLeft));
            }
        }
        return pixels;
    }

    private static byte[] Inflate(byte[] zlib)
    {
        using var stream = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress);
        using var output = new MemoryStream();
        stream.CopyTo(output);
        return output.ToArray();
    }

    private static byte[] ImageData(byte[] png) => [.. Chunks(png).Where(c => c.Type == "IDAT").SelectMany(c => c.Data)];

    private static byte[] ReplaceLastIdatByte(byte[] png, Func<byte, byte> change)
    {
        var copy = (byte[])png.Clone();
        var (_, data, offset) = Chunks(png).Last(c => c.Type == "IDAT");
        int last = offset + 8 + data.Length - 1;
        copy[last] = change(copy[last]);
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(last + 1), Crc32.Compute(copy.AsSpan(offset + 4, 4 + data.Length)));
        return copy;
    }

    private static IEnumerable<(string Type, byte[] Data, int Offset)> Chunks(byte[] png)
    {
        for (int offset = 8; offset < png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            yield return (Encoding.ASCII.GetString(png, offset + 4, 4), png[(offset + 8)..(offset + 8 + length)], offset);
            offset += 12 + length;
        }
    }
}
