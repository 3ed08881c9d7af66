using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>How the CLI treats what it is given: unknown options and unparsable values are usage errors (exit code 2)
/// naming the option and what it accepts, errors go to stderr, and --version answers.</summary>
[Collection(CliCollection.Name)]
public sealed partial class CommandLineTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("zimage-cli-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Output => Path.Combine(_dir.FullName, "out.png");

    [Theory]
    [InlineData(new[] { "--widht", "64" }, "Unknown option --widht for 'zimage generate'; did you mean --width?")]
    [InlineData(new[] { "--step", "2" }, "Unknown option --step for 'zimage generate'; did you mean --steps?")]
    [InlineData(new[] { "--Seed", "3" }, "Unknown option --Seed for 'zimage generate'; did you mean --seed?")]
    [InlineData(new[] { "-w", "64" }, "Unknown option -w for 'zimage generate'; did you mean -W?")]
    [InlineData(new[] { "--negative", "fog" }, "did you mean --negative-prompt?")]
    [InlineData(new[] { "--frobnicate" }, "Unknown option --frobnicate for 'zimage generate'; 'zimage generate --help' lists its options.")]
    [InlineData(new[] { "--width=64", "--heigth=64" }, "Unknown option --heigth for 'zimage generate'; did you mean --height?")]
    public void AnUnknownOptionIsAUsageErrorThatSuggestsTheClosestOne(string[] extra, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run(["generate", "--device", "cpu", "--prompt", "x", "--output", Output, .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Equal("", stdout);
        Assert.Empty(_dir.GetFiles());
    }

    [Theory]
    [InlineData("bench", "--sizs", "--sizes")]
    [InlineData("plan", "--widht", "--width")]
    [InlineData("doctor", "--devcie", "--device")]
    [InlineData("parity", "--refrence", "--reference")]
    [InlineData("serve", "--queu", "--queue")]
    public void EveryCommandRefusesUnknownOptions(string command, string typo, string meant)
    {
        var (code, _, stderr) = CliRunner.Run(command, typo, "1");
        Assert.Equal(2, code);
        Assert.Contains($"Unknown option {typo} for 'zimage {command}'; did you mean {meant}?", stderr);
    }

    [Fact]
    public void ServeStillPassesConfigurationKeysToAspNetCore()
    {
        // docs/server.md: --ZImage:Server:QueueCapacity=32 binds ZImageServerOptions; --help stops before the server starts.
        var (code, stdout, stderr) = CliRunner.Run("serve", "--ZImage:Server:QueueCapacity=32", "--help");
        Assert.True(code == 0, stderr);
        Assert.Contains("--queue", stdout);
    }

    [Theory]
    [InlineData(new[] { "-W", "abc" }, "-W: 'abc' is not an integer; it must be a multiple of 16 between 64 and 4096.")]
    [InlineData(new[] { "--height=1.5" }, "--height: '1.5' is not an integer; it must be a multiple of 16 between 64 and 4096.")]
    [InlineData(new[] { "--seed", "abc" }, "--seed: 'abc' is not an integer; it must be between 0 and 9223372036854775807, or omitted for a random seed.")]
    [InlineData(new[] { "--seed", "99999999999999999999" }, "--seed: '99999999999999999999' is not an integer; it must be between 0")]
    [InlineData(new[] { "-g", "lots" }, "-g: 'lots' is not a number; it must be between 0 and 30.")]
    [InlineData(new[] { "--count" }, "--count needs an integer after it; it must be between 1 and 8.")]
    [InlineData(new[] { "--steps", "--seed", "1" }, "--steps needs an integer after it; it must be between 1 and 100.")]
    public void AValueThatDoesNotParseNamesTheOptionAndWhatItAccepts(string[] extra, string message)
    {
        var (code, stdout, stderr) = CliRunner.Run(["generate", "--device", "cpu", "--prompt", "x", "--output", Output, .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("Failed to convert", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void AnOptionOutsideTheRequestSaysItsTypeAndItsHelp()
    {
        var (code, _, stderr) = CliRunner.Run("plan", "--caption-tokens", "many");
        Assert.Equal(2, code);
        Assert.Contains("--caption-tokens: 'many' is not an integer. --caption-tokens <N>: Caption length the plan assumes", stderr);
    }

    [Fact]
    public void OutOfRangeValuesNameTheOptionNotTheRequestField()
    {
        var (code, _, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--width", "100", "--steps", "0");
        Assert.Equal(2, code);
        Assert.Contains("--width must be a multiple of 16 between 64 and 4096 (got 100). --steps must be between 1 and 100 (got 0).", stderr);
    }

    [Fact]
    public void VersionPrintsTheInformationalVersionOnStdout()
    {
        var (code, stdout, stderr) = CliRunner.Run("--version");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(ZImageSharp.Cli.Program.Version, stdout.Trim());
        var informational = typeof(ZImageSharp.Cli.Program).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
        Assert.Equal(informational, ZImageSharp.Cli.Program.Version);
        Assert.Matches(@"^\d+\.\d+\.\d+", stdout);
    }

    // ------------------------------------------------------------------ the real executable

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ZImageSharp.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"No ZImageSharp.slnx above {AppContext.BaseDirectory}.");
    }

    /// <summary>The test binaries sit in tests/…/bin/{Configuration}/{tfm}/{rid}/; the CLI project builds to the same
    /// place under its own folder.</summary>
    private static string BuiltExecutable()
    {
        var parts = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory).Split(Path.DirectorySeparatorChar);
        int bin = Array.LastIndexOf(parts, "bin");
        return Path.Combine([RepoRoot(), "src", "ZImageSharp.Cli", .. parts[bin..], "zimage"]);
    }

    private static (int Code, string Out, string Err) RunProcess(string executable, params string[] args)
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), $"{executable} did not exit");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void TheExecutableWritesErrorsToStderrAndResultsToStdout()
    {
        string zimage = BuiltExecutable();
        Assert.True(File.Exists(zimage), $"the CLI was not built at {zimage}");

        var (code, stdout, stderr) = RunProcess(zimage, "generate", "--prompt", "x", "--widht", "64");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal("error: Unknown option --widht for 'zimage generate'; did you mean --width?", stderr.Trim());

        (code, stdout, stderr) = RunProcess(zimage, "--version");
        Assert.Equal(0, code);
        Assert.Equal(ZImageSharp.Cli.Program.Version, stdout.Trim());
        Assert.Equal("", stderr);
    }

    [Fact]
    public void ServeOnAnAddressInUseSaysSoInOneLineWithoutAStackTrace()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        int port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var data = Path.Combine(_dir.FullName, "data");

        var (code, stdout, stderr) = RunProcess(BuiltExecutable(), "serve", "--device", "cpu", "--urls", $"http://127.0.0.1:{port}",
            $"--ZImage:Server:DataDirectory={data}");

        Assert.Equal(2, code);
        Assert.Equal($"error: Cannot listen on http://127.0.0.1:{port}: the address is already in use (another server, or a " +
                     "zimage serve still running). Stop it, or choose another address with --urls.", stderr.Trim());
        Assert.DoesNotContain("Hosting failed to start", stdout);
        Assert.DoesNotContain("   at ", stdout + stderr);
    }

    [GeneratedRegex(@"`(src/ZImageSharp\.Cli/bin/Release/[^`\s]+/zimage)`")]
    private static partial Regex BuiltPathInReadme();

    [SkippableFact]
    public void TheReadmeSaysHowToGetTheZimageCommandAndThatWayWorks()
    {
        string root = RepoRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        Assert.Contains("dotnet run --project src/ZImageSharp.Cli -c Release --", readme);
        Assert.Contains("<AssemblyName>zimage</AssemblyName>", File.ReadAllText(Path.Combine(root, "src/ZImageSharp.Cli/ZImageSharp.Cli.csproj")));
        Assert.Contains("dotnet build src/ZImageSharp.Cli -c Release", readme);
        var named = BuiltPathInReadme().Match(readme);
        Assert.True(named.Success, "README.md names no built zimage executable");

        // The README's path is the Release build; under that configuration it is the very file the tests built.
        string built = BuiltExecutable();
        Skip.IfNot(built.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}"), "tests built in another configuration");
        Assert.Equal(Path.GetFullPath(Path.Combine(root, named.Groups[1].Value)), built);
        var (code, stdout, _) = RunProcess(built, "--version");
        Assert.Equal(0, code);
        Assert.Equal(ZImageSharp.Cli.Program.Version, stdout.Trim());
    }
}
