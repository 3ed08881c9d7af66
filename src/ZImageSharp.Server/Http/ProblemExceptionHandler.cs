using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using ZImageSharp.Errors;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Http;

/// <summary>Turns every exception an endpoint throws into problem+json. Client mistakes get 4xx naming the field;
/// only the server's own failures are 5xx. <see cref="Problems"/> writes them.</summary>
internal sealed class ProblemExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.RequestAborted.IsCancellationRequested)
            return true; // The client went away; nobody reads an answer.

        var problem = ToProblem(exception);
        if (problem is null) return false; // Unexpected: the default handler logs it and answers a 500 saying nothing more.
        if (exception is QueueFullException full)
            context.Response.Headers.RetryAfter = full.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        await Problems.WriteAsync(context, problem, exception).ConfigureAwait(false);
        return true;
    }

    /// <summary>The problem an exception is answered with, or null for an unexpected one (a 500 that says nothing
    /// more). Also what a stream that already started reports as its error event.</summary>
    public static ProblemDetails? ToProblem(Exception exception) =>
        exception switch
        {
            InvalidRequestException invalid => Invalid(invalid),
            NoPlanFitsException noPlan => NoPlanFits(noPlan),
            QueueFullException full => QueueFull(full),
            JobNotFoundException notFound => Problem(ErrorCodes.NotFound, notFound.Message),
            JobConflictException conflict => Problem(ErrorCodes.Conflict, conflict.Message),
            JobEndedException ended => Ended(ended),
            SyncTimeoutException timeout => Problem(ErrorCodes.Timeout, timeout.Message),
            Store.S3StoreException store => Problem(ErrorCodes.ImageStoreFailed, store.Message),
            ZImageException known => Problem(ErrorCodes.Wire(known.Code), known.Message),
            BadHttpRequestException bad => Problem("invalid_request", bad.Message, bad.StatusCode),
            _ => null,
        };

    private static ProblemDetails Invalid(InvalidRequestException e)
    {
        var errors = e.Errors
            .GroupBy(f => f.Field)
            .ToDictionary(g => g.Key, g => g.Select(f => f.Message).ToArray());
        var problem = new ValidationProblemDetails(errors)
        {
            Type = ErrorCodes.Type("invalid_request"),
            Title = ErrorCodes.Title("invalid_request"),
            Status = StatusCodes.Status400BadRequest,
            Detail = string.Join(" ", e.Errors.Select(f => $"{f.Field} {f.Message}")),
        };
        problem.Extensions["code"] = "invalid_request";
        return problem;
    }

    private static ProblemDetails NoPlanFits(NoPlanFitsException e)
    {
        var problem = Problem("no_plan_fits", e.Message);
        problem.Extensions["phase"] = e.Phase;
        problem.Extensions["largest_fitting_size"] = e.LargestFittingSize is { } size
            ? new Dictionary<string, int> { ["width"] = size.Width, ["height"] = size.Height }
            : null;
        return problem;
    }

    private static ProblemDetails QueueFull(QueueFullException e)
    {
        var problem = Problem(ErrorCodes.QueueFull, e.Message);
        problem.Extensions["queue_capacity"] = e.Capacity;
        problem.Extensions["retry_after_seconds"] = e.RetryAfterSeconds;
        return problem;
    }

    private static ProblemDetails Ended(JobEndedException e)
    {
        string code = e.Job.State switch
        {
            JobState.Cancelled => ErrorCodes.Cancelled,
            JobState.Queued => ErrorCodes.ShuttingDown,
            _ => e.Job.Error?.Code ?? "internal",
        };
        var problem = Problem(code, e.Message);
        problem.Extensions["job_id"] = e.Job.Id;
        if (e.Job.Error?.Phase is { } phase) problem.Extensions["phase"] = phase;
        return problem;
    }

    private static ProblemDetails Problem(string code, string detail, int? status = null) => Problems.Create(code, detail, status);
}
