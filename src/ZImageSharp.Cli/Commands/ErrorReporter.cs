using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Errors;

namespace ZImageSharp.Cli.Commands;

/// <summary>
/// Turns every failure into one clear message on stderr and an exit code; stack traces only with ZIMAGE_DEBUG=1.
/// Exit codes: 0 done, 1 unexpected error, 2 usage error (bad option or value, fixable by changing the command line),
/// 3 engine error (weights, device, memory), 4 the output could not be written, 130 cancelled.
/// </summary>
internal static class ErrorReporter
{
    public const int UsageError = 2;
    public const int EngineError = 3;
    public const int OutputError = 4;
    public const int Cancelled = 130;

    /// <summary>Where errors go: stderr, so a script reading stdout (the results table, --version) never gets one.
    /// Tests swap it, as they swap <see cref="AnsiConsole.Console"/> for stdout.</summary>
    public static IAnsiConsole Console { get; set; } = CreateStderr();

    private static IAnsiConsole CreateStderr()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) });
        // Redirected, Spectre would wrap at 80 columns; a log or a grep wants each message on one line.
        if (System.Console.IsErrorRedirected) console.Profile.Width = 4096;
        return console;
    }

    public static int Report(Exception exception)
    {
        var (message, code) = exception switch
        {
            CommandParseException or CommandRuntimeException => (exception.Message, UsageError),
            UsageException e => (e.Message, UsageError),
            InvalidRequestException e => (e.Message, UsageError),
            ArgumentException or FormatException => (exception.Message, UsageError),
            ZImageException e => (e.Message, EngineError),
            OutputWriteException e => (e.Message, OutputError),
            OperationCanceledException => ("Cancelled.", Cancelled),
            _ => ($"Unexpected error: {exception.Message}", 1),
        };
        Console.MarkupLineInterpolated($"[red]error:[/] {message}");
        if (Environment.GetEnvironmentVariable("ZIMAGE_DEBUG") == "1")
            Console.WriteException(exception);
        return code;
    }

    /// <summary>A usage error found before Spectre ran (<see cref="CommandLineCheck"/>).</summary>
    public static int Usage(string message) => Report(new UsageException(message));
}

/// <summary>A command line that cannot run as written; the message names the option and what it accepts.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>An output file that could not be written; the message names it and says what was left on disk.</summary>
internal sealed class OutputWriteException(string message, Exception inner) : Exception(message, inner);
