using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>The README's main command, in-process: the demo model writes a real PNG carrying its parameters.</summary>
[Collection(CliCollection.Name)]
public class GenerateCommandTests
{
    private static (int Code, string Output) RunCli(params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        return (code, stdout + stderr);
    }

    [Fact]
    public void GenerateWritesAPngWithTheParametersChunk()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-generate-");
        try
        {
            var output = Path.Combine(dir.FullName, "fox.png");
            var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "a red fox in the snow",
                "--width", "128", "--height", "96", "--steps", "2", "--seed", "42", "--output", output);
            Assert.True(code == 0, text);
            Assert.Contains("demo model", text);
            var png = PngReader.Read(File.ReadAllBytes(output), decodePixels: true);
            Assert.Equal(128, png.Width);
            Assert.Equal(96, png.Height);
            Assert.Equal(128 * 96 * 3, png.Pixels!.Length);
            Assert.StartsWith("a red fox in the snow\nSteps: 2, Sampler: Euler, CFG scale: 0, Seed: 42, Size: 128x96", png.GetText("parameters"));
            var parameters = ImageParameters.FromPng(png)!;
            Assert.Equal(42, parameters.Seed);
            Assert.False(File.Exists(output + ".partial"));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [InlineData(new[] { "--width", "100" }, "width must be a multiple of 16")]
    [InlineData(new[] { "--steps", "0" }, "steps must be between 1 and 100")]
    [InlineData(new[] { "--output", "out.jpg" }, "--output must name a .png file")]
    public void BadInputGetsAClearErrorAndExitCode2(string[] extra, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run(["generate", "--device", "cpu", "--prompt", "x", .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void ASeedWhoseLastImageWouldLeaveTheRangeIsRefusedBeforeTheModelLoads()
    {
        var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--seed", "9223372036854775807", "--count", "2");
        Assert.Equal(2, code);
        Assert.Contains("--seed must be at most 9223372036854775806 for 2 images: image i uses seed + i, and every image seed must stay " +
            "between 0 and 9223372036854775807 (got 9223372036854775807).", stderr);
        Assert.DoesNotContain("demo model", stdout);
    }

    [Fact]
    public void TheHighestSeedsAreUsedExactlyAndRecordedInEachPng()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-seeds-");
        try
        {
            var output = Path.Combine(dir.FullName, "top.png");
            var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--width", "64", "--height", "64",
                "--steps", "1", "--seed", "9223372036854775806", "--count", "2", "--output", output);
            Assert.True(code == 0, stderr);
            for (int i = 1; i <= 2; i++)
            {
                long expected = 9223372036854775805 + i;
                var png = PngReader.Read(File.ReadAllBytes(Path.Combine(dir.FullName, $"top-{i}.png")));
                Assert.Equal(expected, ImageParameters.FromPng(png)!.Seed);
                Assert.Contains($"Seed: {expected},", png.GetText("parameters"));
                Assert.Contains(expected.ToString(), stdout);
            }
        }
        finally { dir.Delete(recursive: true); }
    }
}
