using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>The README's main command, in-process: the demo model writes a real PNG carrying its parameters.</summary>
[Collection(CliCollection.Name)]
public class GenerateCommandTests(ITestOutputHelper output)
{
    /// <summary>The README's command, with a seed so that its output can be reproduced at all.</summary>
    private static readonly string[] ReadmeCommand = ["generate", "--prompt", "a red fox in the snow", "--seed", "42"];

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
            Assert.StartsWith("a red fox in the snow\nSteps: 2, Sampler: Euler, CFG scale: 1, Seed: 42, Size: 128x96", png.GetText("parameters"));
            var parameters = ImageParameters.FromPng(png)!;
            Assert.Equal(42, parameters.Seed);
            Assert.False(File.Exists(output + ".partial"));
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>--sampler, --scheduler and --shift reach the engine and the PNG records them as A1111 names them.</summary>
    [Fact]
    public void SamplerSchedulerAndShiftReachTheImage()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-generate-");
        try
        {
            var output = Path.Combine(dir.FullName, "fox.png");
            var (code, text) = RunCli("generate", "--device", "cpu", "--prompt", "a red fox", "--width", "64", "--height", "64",
                "--steps", "3", "--seed", "7", "--sampler", "euler_ancestral", "--scheduler", "karras", "--shift", "2", "--output", output);
            Assert.True(code == 0, text);
            var png = PngReader.Read(File.ReadAllBytes(output));
            Assert.Equal("a red fox\nSteps: 3, Sampler: Euler a, Schedule type: Karras, CFG scale: 1, Seed: 7, Size: 64x64, Model: ",
                png.GetText("parameters")![..104]);
            Assert.EndsWith(", Shift: 2, Weights: fp32", png.GetText("parameters"));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [InlineData(new[] { "--sampler", "ddim" }, "--sampler must be one of: euler, euler_ancestral, res_multistep, dpmpp_2m, lcm (got 'ddim').")]
    [InlineData(new[] { "--scheduler", "exponential" }, "--scheduler must be one of: simple, beta, karras (got 'exponential').")]
    [InlineData(new[] { "--shift", "0" }, "--shift must be above 0 and at most 100 (got 0).")]
    [InlineData(new[] { "--shift", "big" }, "--shift: 'big' is not a number; it must be above 0 and at most 100.")]
    public void ABadSamplerScheduleOrShiftNamesTheOptionAndTheValidValues(string[] extra, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run(["generate", "--device", "cpu", "--prompt", "x", .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Equal("", stdout);
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

    /// <summary>
    /// Issue #10: the README's image was black, grey or magenta noise, a different PNG on every run with the same seed,
    /// because the demo VAE's GroupNorms normalised with uninitialised memory. Twice in one process at the README's
    /// size, the PNG must be the same to the byte, and show what the banner says: soft coloured blobs, neither flat
    /// nor pixel noise.
    /// </summary>
    [Fact]
    public void The_readme_command_with_a_seed_writes_the_same_png_every_time_and_it_shows_soft_blobs()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-readme-");
        try
        {
            var pngs = new List<byte[]>();
            for (int run = 0; run < 2; run++)
            {
                var path = Path.Combine(dir.FullName, $"fox{run}.png");
                var (code, text) = RunCli([.. ReadmeCommand, "--output", path]);
                Assert.True(code == 0, text);
                Assert.Contains("soft coloured blobs", Regex.Replace(text, @"\s+", " "));
                pngs.Add(File.ReadAllBytes(path));
            }
            Assert.Equal(Convert.ToHexString(SHA256.HashData(pngs[0])), Convert.ToHexString(SHA256.HashData(pngs[1])));

            var png = PngReader.Read(pngs[0], decodePixels: true);
            Assert.Equal((1024, 1024), (png.Width, png.Height));
            var (spread, step) = LuminanceStatistics(png.Pixels!, png.Width, png.Height);
            output.WriteLine($"luminance standard deviation {spread:0.0} of 255; mean step between neighbours {step:0.00}");
            // A flat grey has no spread; pixel noise changes as much from one pixel to the next as across the image.
            Assert.True(spread > 12, $"the image is nearly flat: luminance standard deviation {spread:0.0}");
            Assert.True(step < spread / 5, $"the image is pixel noise: neighbours differ by {step:0.00}, the image spreads {spread:0.0}");
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>Two fresh processes (new allocator, new JIT, nothing shared) write the same bytes for the same seed.</summary>
    [Fact]
    public async Task Two_fresh_processes_write_byte_identical_pngs_for_one_seed()
    {
        var dir = Directory.CreateTempSubdirectory("zimage-processes-");
        try
        {
            string cli = Path.Combine(AppContext.BaseDirectory, "zimage.dll");
            var hashes = new List<string>();
            for (int run = 0; run < 2; run++)
            {
                var path = Path.Combine(dir.FullName, $"fox{run}.png");
                // 256² keeps the two start-ups and runs short; the fault this pins does not depend on the size.
                var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                foreach (var arg in (string[])[cli, .. ReadmeCommand, "--width", "256", "--height", "256", "--output", path])
                    start.ArgumentList.Add(arg);
                using var process = Process.Start(start)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
                await process.WaitForExitAsync(timeout.Token);
                Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stdout}{await stderr}");
                hashes.Add(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))));
            }
            output.WriteLine($"sha256 {hashes[0]}");
            Assert.Equal(hashes[0], hashes[1]);
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>Standard deviation of the luminance, and the mean absolute luminance step to the right-hand neighbour.</summary>
    private static (double Spread, double Step) LuminanceStatistics(byte[] rgb, int width, int height)
    {
        var luma = new double[width * height];
        for (int i = 0; i < luma.Length; i++)
            luma[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
        double mean = luma.Average();
        double spread = Math.Sqrt(luma.Average(v => (v - mean) * (v - mean)));
        double step = 0;
        for (int y = 0; y < height; y++)
            for (int x = 1; x < width; x++)
                step += Math.Abs(luma[y * width + x] - luma[y * width + x - 1]);
        return (spread, step / (height * (width - 1.0)));
    }
}
