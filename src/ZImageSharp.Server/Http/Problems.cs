using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ZImageSharp.Server.Http;

/// <summary>Every error answer of the server: problem+json with a <c>code</c>, written the same way whether it comes
/// from an exception (<see cref="ProblemExceptionHandler"/>), the request guard (401, 403, 421) or a status with no
/// body (404, 405).</summary>
internal static class Problems
{
    /// <summary>Where the request log finds the code of the problem a request was answered with.</summary>
    public static readonly object CodeItem = new();

    public static ProblemDetails Create(string code, string detail, int? status = null)
    {
        var problem = new ProblemDetails
        {
            Type = ErrorCodes.Type(code),
            Title = ErrorCodes.Title(code),
            Status = status ?? ErrorCodes.Status(code),
            Detail = detail,
        };
        problem.Extensions["code"] = code;
        return problem;
    }

    /// <summary>Writes <paramref name="problem"/> with its status. On the OpenAI routes the body also carries OpenAI's
    /// <c>error</c> object, so their SDKs show the message.</summary>
    public static async ValueTask WriteAsync(HttpContext context, ProblemDetails problem, Exception? exception = null)
    {
        problem.Instance ??= context.Request.Path;
        if (context.Request.Path.StartsWithSegments("/v1"))
            problem.Extensions["error"] = OpenAiError(problem);
        context.Response.StatusCode = problem.Status ?? StatusCodes.Status500InternalServerError;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem,
            Exception = exception,
        }).ConfigureAwait(false);
    }

    /// <summary>OpenAI's <c>error</c> object for <paramref name="problem"/>: in the /v1 answers' bodies and in the
    /// error event of an OpenAI stream.</summary>
    public static Dictionary<string, object?> OpenAiError(ProblemDetails problem) => new()
    {
        ["message"] = problem.Detail,
        ["type"] = problem.Status is >= 500 ? "server_error" : "invalid_request_error",
        ["param"] = (problem as ValidationProblemDetails)?.Errors.Keys.FirstOrDefault(),
        ["code"] = problem.Extensions.TryGetValue("code", out var code) ? code : null,
    };

    /// <summary>The body of an answer that has a status and nothing else: no route (404), a method the route does not
    /// serve (405, the routing's Allow header already set).</summary>
    public static ValueTask WriteStatusAsync(HttpContext context)
    {
        int status = context.Response.StatusCode;
        string request = $"{context.Request.Method} {Shorten(context.Request.Path.Value ?? "/")}";
        var problem = status switch
        {
            StatusCodes.Status404NotFound => Create(ErrorCodes.NotFound, $"No route matches {request}; docs/api.md lists the routes."),
            StatusCodes.Status405MethodNotAllowed => Create(ErrorCodes.MethodNotAllowed,
                $"{request} is not served; this route accepts {string.Join(", ", context.Response.Headers.Allow.ToArray())}."),
            _ => Create(ErrorCodes.ForStatus(status), ErrorCodes.Title(ErrorCodes.ForStatus(status)), status),
        };
        return WriteAsync(context, problem);
    }

    private static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "…";
}

/// <summary>The only problem writer. ASP.NET Core's own writes only for clients whose Accept admits JSON, so an
/// EventSource (<c>Accept: text/event-stream</c>), an &lt;img&gt; or a browser got nothing: the exception handler
/// then found no writer, saw the 404 already set and threw, and Kestrel answered an empty 500. An error is
/// problem+json whatever the client said it accepts.</summary>
internal sealed class ProblemJsonWriter(IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        if (problem.Type is null)
        {
            // Written by the framework (an unexpected exception's 500): give it a code like every other error.
            string fallback = ErrorCodes.ForStatus(problem.Status.Value);
            problem.Type = ErrorCodes.Type(fallback);
            problem.Title ??= ErrorCodes.Title(fallback);
            problem.Extensions.TryAdd("code", fallback);
        }
        problem.Extensions.TryAdd("trace_id", Activity.Current?.Id ?? http.TraceIdentifier);
        http.Items[Problems.CodeItem] = problem.Extensions.TryGetValue("code", out var code) ? code as string : null;
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions,
            "application/problem+json", http.RequestAborted));
    }
}
