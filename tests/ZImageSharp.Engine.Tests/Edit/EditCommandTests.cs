using ZImageSharp.Engine.Tests.Engine;
using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Edit;

/// <summary><c>zimage generate --init-image --strength --mask</c> on the demo model, and its usage errors.</summary>
[Collection(CliCollection.Name)]
public class EditCommandTests
{
    private static readonly string Init = Path.Combine(TinyEditModel.EditDir, "init64.png");
    private static readonly string Mask = Path.Combine(TinyEditModel.EditDir, "mask64.png");
    private static readonly string KeepAll = Path.Combine(TinyEditModel.EditDir, "keep64.png");

    private static (int Code, string Output) RunCli(params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        return (code, stdout + stderr);
    }

    [Fact]
    public void InpaintingWritesAnImageOfTheInitImagesSize()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-edit-");
        try
        {
            var output = Path.Combine(dir.FullName, "edit.png");
            var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "a fox", "--steps", "4", "--seed", "3",
                "--init-image", Init, "--strength", "0.5", "--mask", Mask, "--output", output);
            Assert.True(code == 0, text);
            var init = PngReader.Read(File.ReadAllBytes(Init));
            var png = PngReader.Read(File.ReadAllBytes(output), decodePixels: true);
            Assert.Equal((init.Width, init.Height), (png.Width, png.Height));
            Assert.False(File.Exists(output + ".partial"));
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>A mask that keeps everything ends on the init latents whatever the prompt: the pixels cannot differ.</summary>
    [Fact]
    public void AMaskThatKeepsEverythingIgnoresThePrompt()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-edit-");
        try
        {
            byte[] Run(string prompt)
            {
                var output = Path.Combine(dir.FullName, $"{prompt}.png");
                var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", prompt, "--steps", "3", "--seed", "5",
                    "--init-image", Init, "--strength", "0.7", "--mask", KeepAll, "--output", output);
                Assert.True(code == 0, text);
                return PngReader.Read(File.ReadAllBytes(output), decodePixels: true).Pixels!;
            }
            var fox = Run("fox");
            Assert.Equal(fox, Run("lighthouse"));
            // The init image does matter: the same request without the keep-all mask repaints.
            var output = Path.Combine(dir.FullName, "free.png");
            var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "fox", "--steps", "3", "--seed", "5",
                "--init-image", Init, "--strength", "0.7", "--output", output);
            Assert.True(code == 0, text);
            Assert.NotEqual(fox, PngReader.Read(File.ReadAllBytes(output), decodePixels: true).Pixels!);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [InlineData("--strength", "0", "--strength must be above 0 and at most 1 (got 0).")]
    [InlineData("--strength", "1.5", "--strength must be above 0 and at most 1 (got 1.5).")]
    public void AStrengthOutOfRangeIsAUsageError(string option, string value, string message)
    {
        var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "x", "--init-image", Init, option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(message, text);
    }

    [Fact]
    public void AMissingInitImageIsAUsageError()
    {
        var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "x", "--init-image", "/nonexistent/in.png");
        Assert.NotEqual(0, code);
        Assert.Contains("--init-image '/nonexistent/in.png' does not exist.", text);
    }

    [Fact]
    public void ASizeOtherThanTheInitImagesIsAUsageError()
    {
        var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "x", "--init-image", Init, "--width", "128", "--height", "64");
        Assert.NotEqual(0, code);
        Assert.Contains("--init-image must be the requested size 128x64 (got 64x64)", text);
    }

    [Fact]
    public void AMaskWithoutAnInitImageOrNotAPngIsAUsageError()
    {
        var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "x", "--mask", Mask);
        Assert.NotEqual(0, code);
        Assert.Contains("--mask needs --init-image", text);
        var notPng = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notPng, "not an image");
            (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "x", "--init-image", notPng);
            Assert.NotEqual(0, code);
            Assert.Contains("The data is not a PNG", text);
        }
        finally { File.Delete(notPng); }
    }
}
