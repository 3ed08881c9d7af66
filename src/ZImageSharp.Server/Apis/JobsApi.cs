using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using ZImageSharp.Errors;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>The native asynchronous API: submit, status, progress events, cancel, images, history.</summary>
internal static class JobsApi
{
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/jobs").WithTags("Jobs");

        jobs.MapPost("/", Submit)
            .WithName("SubmitJob")
            .WithSummary("Queue a generation; answers 202 with the job and its links.")
            .Accepts<JobSubmission>("application/json")
            .Produces<JobStatusDto>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        jobs.MapGet("/", List)
            .WithName("ListJobs")
            .WithSummary("History, newest first. Page with ?before=<next_before>; filter with ?state=.")
            .Produces<JobListDto>()
            .ProducesValidationProblem();

        jobs.MapGet("/{id}", Get)
            .WithName("GetJob")
            .Produces<JobStatusDto>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        jobs.MapGet("/{id}/events", Events)
            .WithName("JobEvents")
            .WithSummary("Server-sent events: 'state', then 'progress' per step (step, ETA, preview), then 'done'.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);

        jobs.MapPost("/{id}/cancel", Cancel)
            .WithName("CancelJob")
            .WithSummary("A queued job is removed (200); a running one stops at its next step (202).")
            .Produces<JobStatusDto>()
            .Produces<JobStatusDto>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        jobs.MapDelete("/{id}", Delete)
            .WithName("DeleteJob")
            .WithSummary("Deletes a finished job and its images.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        jobs.MapGet("/{id}/images/{index}", Image)
            .WithName("GetJobImage")
            .WithSummary("One result image, a PNG with its parameters embedded.")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    private static async Task<Accepted<JobStatusDto>> Submit(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options)
    {
        var body = await NativeRequest.ReadBodyAsync(http, options.Value);
        var request = NativeRequest.Parse(body, jobs.Limits);
        LoraSyntax.Check(http.HttpContext, request);
        var (job, position) = await jobs.SubmitAsync(request, JobSource.Native, http.HttpContext.RequestAborted);
        var view = new JobView(job.Record, null, position);
        return TypedResults.Accepted($"/api/jobs/{job.Id}", JobStatusDto.From(view));
    }

    private static async Task<Ok<JobListDto>> List(JobService jobs, IOptions<ZImageServerOptions> options,
        string? limit, string? before, string? state)
    {
        int max = options.Value.MaxHistoryPage;
        var errors = new List<FieldError>();
        int pageSize = Math.Min(20, max);
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize < 1 || pageSize > max))
            errors.Add(new FieldError("limit", $"must be an integer between 1 and {max} (got \"{Shorten(limit)}\")."));
        long? cursor = null;
        if (before is not null)
        {
            if (long.TryParse(before, NumberStyles.None, CultureInfo.InvariantCulture, out long parsed)) cursor = parsed;
            else errors.Add(new FieldError("before", $"must be the next_before value of a previous page (got \"{Shorten(before)}\")."));
        }
        JobState? filter = null;
        if (state is not null)
        {
            filter = Enum.GetValues<JobState>().Cast<JobState?>().FirstOrDefault(s => s!.Value.ToWire() == state);
            if (filter is null)
                errors.Add(new FieldError("state", $"must be one of queued, running, succeeded, failed, cancelled (got \"{Shorten(state)}\")."));
        }
        if (errors.Count > 0) throw new InvalidRequestException(errors);

        var page = await jobs.ListAsync(pageSize, cursor, filter);
        long? next = page.Count == pageSize ? page[^1].Job.Sequence : null;
        return TypedResults.Ok(new JobListDto(page.Select(JobStatusDto.From).ToArray(), next));
    }

    private static async Task<Ok<JobStatusDto>> Get(string id, JobService jobs) =>
        TypedResults.Ok(JobStatusDto.From(await jobs.GetAsync(id)));

    private static async Task<IResult> Cancel(string id, JobService jobs)
    {
        var (job, ended) = await jobs.CancelAsync(id);
        var dto = JobStatusDto.From(new JobView(job, null, 0));
        return ended ? TypedResults.Ok(dto) : TypedResults.Accepted($"/api/jobs/{id}", dto);
    }

    private static async Task<NoContent> Delete(string id, JobService jobs)
    {
        await jobs.DeleteAsync(id);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> Image(string id, string index, JobService jobs)
    {
        var view = await jobs.GetAsync(id);
        var image = int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            ? view.Job.Images.FirstOrDefault(x => x.Index == i)
            : null;
        if (image is null)
            throw new JobNotFoundException(id, view.Job.Images.Count == 0
                ? $"Job {id} has no images (it is {view.Job.State.ToWire()})."
                : $"Job {id} has images 0 to {view.Job.Images.Count - 1}; there is no image '{Shorten(index)}'.");
        string path = jobs.ImagePath(image);
        if (!File.Exists(path))
            throw new JobNotFoundException(id, $"The file of image {i} of job {id} is missing from the images folder.");
        return TypedResults.PhysicalFile(path, "image/png", fileDownloadName: null, enableRangeProcessing: false);
    }

    private static async Task Events(string id, HttpContext context, JobService jobs, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        var serializer = json.Value.SerializerOptions;
        var aborted = context.RequestAborted;
        // Unknown ids fail here, before the stream starts, so they still get a 404 problem.
        _ = await jobs.GetAsync(id);
        var reader = jobs.TryGetActive(id, out var active) ? active.Watch() : null;

        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        try
        {
            if (reader is null)
            {
                // Already finished (or finished just now): the final state is the whole story.
                var final = await jobs.GetAsync(id);
                await WriteEvent(response, "done", JobStatusDto.From(final), serializer, aborted);
                return;
            }
            await WriteEvent(response, "state", JobStatusDto.From(await jobs.GetAsync(id)), serializer, aborted);
            if (active.Progress is { } latest)
                await WriteEvent(response, "progress", ProgressDto.From(id, latest), serializer, aborted);

            var waiting = reader.WaitToReadAsync(aborted).AsTask();
            while (true)
            {
                var first = await Task.WhenAny(waiting, Task.Delay(KeepAlive, aborted));
                if (first != waiting)
                {
                    await response.WriteAsync(": keep-alive\n\n", aborted);
                    await response.Body.FlushAsync(aborted);
                    continue;
                }
                if (!await waiting) return;
                while (reader.TryRead(out var e))
                {
                    switch (e)
                    {
                        case JobEvent.Progressed p:
                            await WriteEvent(response, "progress", ProgressDto.From(id, p.Progress), serializer, aborted);
                            break;
                        case JobEvent.StateChanged s:
                            await WriteEvent(response, "state", JobStatusDto.From(new JobView(s.Job, null, 0)), serializer, aborted);
                            break;
                        case JobEvent.Ended end:
                            await WriteEvent(response, "done", JobStatusDto.From(new JobView(end.Job, null, 0)), serializer, aborted);
                            return;
                    }
                }
                waiting = reader.WaitToReadAsync(aborted).AsTask();
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The watcher closed the stream.
        }
        finally
        {
            if (reader is not null) active.Unwatch(reader);
        }
    }

    private static async Task WriteEvent<T>(HttpResponse response, string name, T payload, JsonSerializerOptions options, CancellationToken cancellationToken)
    {
        var text = new StringBuilder().Append("event: ").Append(name).Append("\ndata: ")
            .Append(JsonSerializer.Serialize(payload, options)).Append("\n\n").ToString();
        await response.WriteAsync(text, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
