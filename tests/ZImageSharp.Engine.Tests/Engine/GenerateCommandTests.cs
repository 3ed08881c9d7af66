using Spectre.Console;
using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>The README's main command, in-process: the demo model writes a real PNG carrying its parameters.</summary>
public class GenerateCommandTests
{
    /// <summary>Runs the CLI with Spectre's console writing into a string (it is a process-wide static).</summary>
    private static (int Code, string Output) RunCli(params string[] args)
    {
        var previous = AnsiConsole.Console;
        using var writer = new StringWriter();
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        try { return (ZImageSharp.Cli.Program.Run(args), writer.ToString()); }
        finally { AnsiConsole.Console = previous; }
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
        var (code, text) = RunCli(["generate", "--device", "cpu", "--prompt", "x", .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, text.Replace("\n", " "));
    }
}
