using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Imaging;

/// <summary>The little PNG work the server does itself: encoding step previews and embedding or reading text
/// chunks. Full images come from the engine already encoded.</summary>
internal static class Png
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Encodes an 8-bit RGB preview (filter 0 on every row; previews are tiny, so size does not matter).</summary>
    public static byte[] Encode(PreviewImage preview)
    {
        var (width, height, rgb) = (preview.Width, preview.Height, preview.Rgb);
        if (width <= 0 || height <= 0 || rgb.Length != width * height * 3)
            throw new ArgumentException($"A preview of {width}x{height} needs {width * height * 3} RGB bytes, not {rgb.Length}.", nameof(preview));

        using var output = new MemoryStream();
        output.Write(Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: truecolour
        WriteChunk(output, "IHDR", header);

        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                zlib.WriteByte(0);
                zlib.Write(rgb, y * width * 3, width * 3);
            }
        }
        WriteChunk(output, "IDAT", compressed.ToArray());
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    /// <summary>True when the bytes start with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> bytes) => bytes.Length >= 8 && bytes[..8].SequenceEqual(Signature);

    /// <summary>Every tEXt and iTXt entry (keyword → text). Unreadable or truncated files give what was read.</summary>
    public static IReadOnlyDictionary<string, string> ReadText(byte[] png)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (type, start, length) in Chunks(png))
        {
            var data = png.AsSpan(start, length);
            int zero = data.IndexOf((byte)0);
            if (zero <= 0) continue;
            string keyword = Encoding.Latin1.GetString(data[..zero]);
            if (type == "tEXt")
                entries[keyword] = Encoding.Latin1.GetString(data[(zero + 1)..]);
            else if (type == "iTXt" && data.Length > zero + 2 && data[zero + 1] == 0)
            {
                // keyword \0 compression-flag method language \0 translated \0 text; only uncompressed entries are read.
                var rest = data[(zero + 3)..];
                int language = rest.IndexOf((byte)0);
                if (language < 0) continue;
                rest = rest[(language + 1)..];
                int translated = rest.IndexOf((byte)0);
                if (translated < 0) continue;
                entries[keyword] = Encoding.UTF8.GetString(rest[(translated + 1)..]);
            }
        }
        return entries;
    }

    /// <summary>Returns the PNG with an uncompressed UTF-8 iTXt entry inserted before IEND (prompts are not Latin-1).</summary>
    public static byte[] WithText(byte[] png, string keyword, string text)
    {
        int iend = -1;
        foreach (var (type, start, _) in Chunks(png))
            if (type == "IEND") iend = start - 8;
        if (iend < 0) throw new ArgumentException("The engine returned bytes that are not a complete PNG (no IEND chunk).", nameof(png));

        var keywordBytes = Encoding.Latin1.GetBytes(keyword);
        var textBytes = Encoding.UTF8.GetBytes(text);
        var data = new byte[keywordBytes.Length + 5 + textBytes.Length];
        keywordBytes.CopyTo(data, 0);
        // After the keyword: \0, compression flag 0, method 0, empty language \0, empty translated keyword \0.
        textBytes.CopyTo(data, keywordBytes.Length + 5);

        using var output = new MemoryStream(png.Length + data.Length + 12);
        output.Write(png, 0, iend);
        WriteChunk(output, "iTXt", data);
        output.Write(png, iend, png.Length - iend);
        return output.ToArray();
    }

    private static IEnumerable<(string Type, int Start, int Length)> Chunks(byte[] png)
    {
        if (!IsPng(png)) yield break;
        int offset = 8;
        while (offset + 12 <= png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            if (length < 0 || offset + 12L + length > png.Length) yield break;
            string type = Encoding.ASCII.GetString(png, offset + 4, 4);
            yield return (type, offset + 8, length);
            offset += 12 + length;
        }
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc32.Append(Crc32.Append(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    /// <summary>The CRC-32 PNG chunks carry (ISO 3309, reflected polynomial 0xEDB88320).</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = BuildTable();

        public static uint Append(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data)
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }

        private static uint[] BuildTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++)
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }
    }
}
