using ZImageSharp.Cli.Commands;
using ZImageSharp.Engine.Tests.Weights;
using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>generate with real checkpoint files (the tiny one): it runs, and files that cannot work are named before
/// anything is built, with exit code 3.</summary>
[Collection(CliCollection.Name)]
public sealed class CheckpointCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private (int Code, string Out, string Err) Generate(params string[] weights) =>
        CliRunner.Run(["generate", "--device", "cpu", "--prompt", "a fox", "--width", "64", "--height", "64", "--steps", "1",
            "--seed", "7", "--output", _dir.File("out/fox.png"), .. weights]);

    [Fact]
    public void ADiffusersFolderGenerates()
    {
        var (code, stdout, stderr) = Generate("--model", TinyCheckpoint.Folder);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("demo model", stdout);
        Assert.Equal(7, ImageParameters.FromPng(PngReader.Read(File.ReadAllBytes(_dir.File("out/fox.png"))))!.Seed);
    }

    [Fact]
    public void MismatchedComfyFilesAreNamedBeforeTheModelsAreBuilt()
    {
        var (code, stdout, stderr) = Generate("--diffusion-model", TinyCheckpoint.TransformerFile,
            "--text-encoder", TinyCheckpoint.VaeFile, "--vae", TinyCheckpoint.VaeFile);
        Assert.Equal(ErrorReporter.EngineError, code);
        Assert.Contains($"'{TinyCheckpoint.VaeFile}' was given as the text encoder but holds a VAE (it has 'decoder.conv_in.weight'), " +
            "and no 'embed_tokens.weight'", stderr);
        Assert.Contains($"'{TinyCheckpoint.TransformerFile}': tensor 'x_pad_token' has shape [1, 64], but the released Z-Image-Turbo " +
            "transformer config (a single file carries none) needs [1, 3840]", stderr);
        Assert.DoesNotContain("plan:", stdout);
        Assert.False(File.Exists(_dir.File("out/fox.png")));
    }

    [Fact]
    public void AZeroShiftInTheSchedulerConfigIsACheckpointErrorBeforeLoading()
    {
        string folder = TinyCheckpoint.CopyTo(_dir.File("model"));
        string scheduler = Path.Combine(folder, "scheduler", "scheduler_config.json");
        File.WriteAllText(scheduler, """{"shift": 0}""");
        var (code, stdout, stderr) = Generate("--model", folder);
        Assert.Equal(ErrorReporter.EngineError, code);
        Assert.Contains($"error: The checkpoint cannot be used: '{scheduler}': \"shift\" is 0; the flow-matching shift must be a number above 0", stderr);
        Assert.DoesNotContain("plan:", stdout);
    }
}
