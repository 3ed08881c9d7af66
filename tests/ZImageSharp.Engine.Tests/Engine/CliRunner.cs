using Spectre.Console;
using ZImageSharp.Cli.Commands;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>The CLI's consoles (stdout through <see cref="AnsiConsole.Console"/>, stderr through
/// <see cref="ErrorReporter.Console"/>) are process-wide, so the tests that swap them run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliCollection
{
    public const string Name = "cli";
}

/// <summary>Runs the whole CLI in-process, capturing what it writes to stdout and to stderr separately.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var previousOut = AnsiConsole.Console;
        var previousErr = ErrorReporter.Console;
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        AnsiConsole.Console = Capture(stdout);
        ErrorReporter.Console = Capture(stderr);
        try { return (ZImageSharp.Cli.Program.Run(args), stdout.ToString(), stderr.ToString()); }
        finally
        {
            AnsiConsole.Console = previousOut;
            ErrorReporter.Console = previousErr;
        }
    }

    private static IAnsiConsole Capture(StringWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No });
        console.Profile.Width = 4096; // one message, one line
        return console;
    }
}
