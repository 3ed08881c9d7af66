using ZImageSharp.Options;

namespace ZImageSharp.Core.Tests;

public class ByteSizeTests
{
    [Theory]
    [InlineData("12GiB", 12L << 30)]
    [InlineData("512 MiB", 512L << 20)]
    [InlineData("8GB", 8_000_000_000L)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("640k", 640L << 10)]
    [InlineData("4096", 4096L)]
    public void ParsesWhatPeopleWrite(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text).Bytes);

    [Theory]
    [InlineData(12L << 30)]
    [InlineData(3L << 29)]
    [InlineData(512L << 20)]
    [InlineData(1023L)]
    [InlineData(11_834_567_890L)]
    public void PrintedSizesParseBackWithinTheirRounding(long bytes)
    {
        var printed = new ByteSize(bytes).ToString();
        var parsed = ByteSize.Parse(printed);
        // Two decimals of GiB (or one of MiB/KiB) lose at most half a unit of the last digit.
        Assert.True(Math.Abs(parsed.Bytes - bytes) <= Math.Max(1, bytes * 0.0005), $"{bytes} -> '{printed}' -> {parsed.Bytes}");
        Assert.Equal(printed, parsed.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("twelve GiB")]
    [InlineData("-1GiB")]
    [InlineData("12 parsecs")]
    public void RejectsWhatIsNotASize(string text)
    {
        Assert.False(ByteSize.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => ByteSize.Parse(text));
        Assert.Contains("is not a size", error.Message);
    }
}
