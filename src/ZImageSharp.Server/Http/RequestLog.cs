using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Diagnostics;

namespace ZImageSharp.Server.Http;

/// <summary>One line per request: method, path, status, the error code when it failed, and the time it took. It stands
/// in for ASP.NET Core's own request logging (about ten lines a request), which the server turns down to warnings.
/// Category <c>ZImageSharp.Server.Requests</c>.</summary>
internal sealed class RequestLog(RequestDelegate next, ILoggerFactory loggers)
{
    public const string Category = "ZImageSharp.Server.Requests";

    // Machines poll these every second or two; a successful answer there is noise at the default level.
    private static readonly string[] PolledPaths = ["/health/live", "/health/ready", "/metrics", "/api/system", "/sdapi/v1/progress"];

    private readonly ILogger _logger = loggers.CreateLogger(Category);

    public async Task InvokeAsync(HttpContext context)
    {
        long start = Stopwatch.GetTimestamp();
        bool threw = false;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch
        {
            threw = true;
            throw;
        }
        finally
        {
            Write(context, threw, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }

    private void Write(HttpContext context, bool threw, double milliseconds)
    {
        int status = threw && !context.Response.HasStarted ? StatusCodes.Status500InternalServerError : context.Response.StatusCode;
        string? code = context.Items.TryGetValue(Problems.CodeItem, out var item) ? item as string : null;
        if (context.RequestAborted.IsCancellationRequested) code = "aborted";
        var level = status >= 500 ? LogLevel.Warning
            : status < 400 && HttpMethods.IsGet(context.Request.Method) && PolledPaths.Contains(context.Request.Path.Value) ? LogLevel.Debug
            : LogLevel.Information;
        if (!_logger.IsEnabled(level)) return;

        string path = Printable(context.Request.PathBase + context.Request.Path);
        string method = Printable(context.Request.Method);
        if (code is null) Log.Request(_logger, level, method, path, status, milliseconds);
        else Log.RequestFailed(_logger, level, method, path, status, code, milliseconds);
    }

    /// <summary>The path as the client sent it, decoded: cut short and with control characters escaped, so that a
    /// request cannot forge log lines.</summary>
    private static string Printable(PathString path) => Printable(path.Value is { Length: > 0 } value ? value : "/");

    private static string Printable(string text)
    {
        if (text.Length > 200) text = text[..200] + "…";
        if (!text.Any(char.IsControl)) return text;
        var builder = new StringBuilder(text.Length + 16);
        foreach (char c in text)
            builder.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c);
        return builder.ToString();
    }
}
