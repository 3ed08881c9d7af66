using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Errors;

namespace ZImageSharp.Cli.Commands;

/// <summary>Turns every failure into one clear message and an exit code; stack traces only with ZIMAGE_DEBUG=1.</summary>
internal static class ErrorReporter
{
    public const int UsageError = 2;
    public const int EngineError = 3;
    public const int Cancelled = 130;

    public static int Report(Exception exception)
    {
        var (message, code) = exception switch
        {
            CommandParseException or CommandRuntimeException => (exception.Message, UsageError),
            InvalidRequestException e => (e.Message, UsageError),
            ArgumentException or FormatException => (exception.Message, UsageError),
            ZImageException e => (e.Message, EngineError),
            OperationCanceledException => ("Cancelled.", Cancelled),
            _ => ($"Unexpected error: {exception.Message}", 1),
        };
        AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {message}");
        if (Environment.GetEnvironmentVariable("ZIMAGE_DEBUG") == "1")
            AnsiConsole.WriteException(exception);
        return code;
    }
}
