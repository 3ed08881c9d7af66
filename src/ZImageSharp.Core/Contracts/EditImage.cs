using ZImageSharp.Imaging;

namespace ZImageSharp.Contracts;

/// <summary>
/// An image a request starts from (image-to-image's init image, inpainting's mask): 8-bit RGB, row-major, no padding.
/// Kept as pixels rather than a file so the engine never parses client bytes; the APIs and the CLI decode PNGs with
/// <see cref="FromPng"/>.
/// </summary>
public sealed record EditImage
{
    public EditImage(int width, int height, byte[] rgb)
    {
        ArgumentNullException.ThrowIfNull(rgb);
        if (width <= 0 || height <= 0 || rgb.LongLength != (long)width * height * 3)
            throw new ArgumentException($"A {width}x{height} RGB image needs {(long)Math.Max(width, 0) * Math.Max(height, 0) * 3} bytes; got {rgb.Length}.", nameof(rgb));
        (Width, Height, Rgb) = (width, height, rgb);
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Rgb { get; }

    /// <summary>A PNG's pixels; an alpha channel is dropped (a mask is read from its colour, as diffusers reads it).</summary>
    /// <param name="field">The request field or option named in the error.</param>
    /// <exception cref="ArgumentException">Not a PNG, or one other than non-interlaced 8-bit RGB/RGBA.</exception>
    public static EditImage FromPng(ReadOnlySpan<byte> png, string field)
    {
        var info = Decode(png, field);
        if (info.ColorType == (byte)PngColorType.Rgb) return new EditImage(info.Width, info.Height, info.Pixels!);
        var rgba = info.Pixels!;
        var rgb = new byte[(long)info.Width * info.Height * 3];
        for (long i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = rgba[j];
            rgb[i + 1] = rgba[j + 1];
            rgb[i + 2] = rgba[j + 2];
        }
        return new EditImage(info.Width, info.Height, rgb);
    }

    private static PngInfo Decode(ReadOnlySpan<byte> png, string field)
    {
        try { return PngReader.Read(png, decodePixels: true); }
        catch (InvalidDataException e) { throw new ArgumentException($"{field}: {e.Message}", field, e); }
    }

    /// <summary>OpenAI's mask convention: a PNG with alpha repaints where alpha is 0 and keeps the rest; one without
    /// alpha is read as this project's masks are (white repaints).</summary>
    public static EditImage MaskFromPng(ReadOnlySpan<byte> png, string field)
    {
        var info = Decode(png, field);
        if (info.ColorType == (byte)PngColorType.Rgb) return new EditImage(info.Width, info.Height, info.Pixels!);
        var rgba = info.Pixels!;
        var rgb = new byte[(long)info.Width * info.Height * 3];
        for (long i = 0, j = 3; i < rgb.Length; i += 3, j += 4)
            rgb[i] = rgb[i + 1] = rgb[i + 2] = rgba[j] == 0 ? (byte)255 : (byte)0;
        return new EditImage(info.Width, info.Height, rgb);
    }

    /// <summary>A1111's "Init image hash": the MD5 of the pixels (<c>hashlib.md5(img.tobytes())</c>, which for an RGB
    /// image is these bytes), lower-case hex. Of the pixels, not the file, so one picture saved twice hashes once.</summary>
    public string Md5() => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Rgb));

    /// <summary>PIL's <c>convert("L")</c> of each pixel (ITU-R 601-2 luma in 16-bit fixed point, as PIL computes it),
    /// then diffusers' mask binarisation: 1 where L/255 ≥ 0.5 (repaint), 0 where it is below (keep).</summary>
    public bool[] MaskBits()
    {
        var bits = new bool[(long)Width * Height];
        for (long p = 0, i = 0; p < bits.Length; p++, i += 3)
        {
            int luma = (Rgb[i] * 19595 + Rgb[i + 1] * 38470 + Rgb[i + 2] * 7471 + 0x8000) >> 16;
            bits[p] = luma / 255f >= 0.5f;
        }
        return bits;
    }
}
