using TorchSharp;
using ZImageSharp.Engine.Imaging;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Imaging;

public class ImageConversionTests
{
    /// <summary>x → byte by clamp(x/2 + 0.5, 0, 1) · 255 in float32 and round half to even. The four ties were found
    /// by stepping float32 values until (x/2 + 0.5) · 255 is exactly m + 0.5.</summary>
    public static TheoryData<float, byte> Cases => new()
    {
        { -1f, 0 },
        { 1f, 255 },
        { -3f, 0 },      // clamped
        { 2.5f, 255 },   // clamped
        { 0.5f, 191 },   // 191.25
        { -0.5f, 64 },   // 63.75
        { 0f, 128 },     // 127.5 ties to even (up)
        { BitConverter.Int32BitsToSingle(unchecked((int)0xBE58D8D9)), 100 }, // 100.5 ties to even (down)
        { BitConverter.Int32BitsToSingle(0x3F7CFCFD), 254 }, // 253.5 ties to even (up)
        { BitConverter.Int32BitsToSingle(0x3F7EFEFF), 254 }, // 254.5 ties to even (down)
    };

    [Fact]
    public void MapsValuesAsTheReferenceIncludingTies()
    {
        var cases = Cases.Select(row => ((float)row[0], (byte)row[1])).ToArray();
        // One image, one row, the red channel holds the cases; green and blue are fixed.
        var input = zeros(1, 3, 1, cases.Length);
        input[0, 0, 0] = tensor(cases.Select(c => c.Item1).ToArray());
        input[0, 1, 0] = full(cases.Length, -1f);
        input[0, 2, 0] = full(cases.Length, 1f);

        var image = Assert.Single(ImageConversion.ToRgb(input));

        Assert.Equal((cases.Length, 1), (image.Width, image.Height));
        Assert.Equal(cases.Select(c => c.Item2), image.Pixels.Where((_, i) => i % 3 == 0));
        Assert.All(image.Pixels.Where((_, i) => i % 3 == 1), g => Assert.Equal(0, g));
        Assert.All(image.Pixels.Where((_, i) => i % 3 == 2), b => Assert.Equal(255, b));
    }

    [Fact]
    public void SplitsTheBatchIntoHwcImages()
    {
        // value = (b*100 + c*10 + y*2 + x) / 255 * 2 - 1 maps back to byte b*100 + c*10 + y*2 + x exactly.
        var bytes = arange(0, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2);
        var codes = bytes.select(1, 0) * 0; // placeholder shape helper
        var expectedCode = new float[2, 3, 2, 2];
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 2; y++)
                    for (int x = 0; x < 2; x++)
                        expectedCode[b, c, y, x] = b * 100 + c * 10 + y * 2 + x;
        var input = tensor(expectedCode.Cast<float>().ToArray(), [2, 3, 2, 2]) / 255 * 2 - 1;

        var images = ImageConversion.ToRgb(input);

        Assert.Equal(2, images.Count);
        for (int b = 0; b < 2; b++)
        {
            Assert.Equal((2, 2), (images[b].Width, images[b].Height));
            var expected = new List<byte>();
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 2; x++)
                    for (int c = 0; c < 3; c++)
                        expected.Add((byte)(b * 100 + c * 10 + y * 2 + x));
            Assert.Equal(expected, images[b].Pixels);
        }
        codes.Dispose();
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.Float64)]
    public void AcceptsOtherFloatTypes(ScalarType dtype)
    {
        // Values exact in every dtype: -1, -0.5, 0, 0.5, 1 → 0, 64, 128, 191, 255.
        var input = tensor(new[] { -1f, -0.5f, 0f, 0.5f, 1f }).reshape(1, 1, 1, 5).expand(1, 3, 1, 5).to(dtype);
        var image = Assert.Single(ImageConversion.ToRgb(input));
        Assert.Equal(new byte[] { 0, 0, 0, 64, 64, 64, 128, 128, 128, 191, 191, 191, 255, 255, 255 }, image.Pixels);
    }

    [Fact]
    public void RejectsOtherShapes()
    {
        Assert.Throws<ArgumentException>(() => ImageConversion.ToRgb(zeros(3, 4, 4)));
        Assert.Throws<ArgumentException>(() => ImageConversion.ToRgb(zeros(1, 4, 4, 4)));
        Assert.Throws<ArgumentException>(() => ImageConversion.ToRgb(zeros(1, 3, 4, 4, dtype: ScalarType.Int32)));
    }
}
