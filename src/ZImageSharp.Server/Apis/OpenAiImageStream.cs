using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>What an OpenAI images request asked for about its answer, beside the generation itself.</summary>
/// <param name="Quality">Echoed in stream events (the engine has one quality): the client's value when it is one of
/// the GPT image models' (low, medium, high, auto), else auto.</param>
internal sealed record OpenAiOutput(string Format, bool Stream, int PartialImages, string Quality)
{
    public const int MaxPartialImages = 3;
}

/// <summary>
/// OpenAI's streamed images answer (<c>stream: true</c>, as for gpt-image-1): server-sent events
/// <c>{prefix}.partial_image</c> made of the engine's step previews, then one <c>{prefix}.completed</c> per image, or
/// an <c>error</c> event with OpenAI's error object when the job ends without images. The prefix is
/// <c>image_generation</c> or <c>image_edit</c>. It follows the job the way the native events endpoint does (the job's
/// watcher channel) and waits for it the way the synchronous answer does (<see cref="JobService.WaitAsync"/>: a client
/// that goes away, or the sync timeout, cancels the job).
/// </summary>
internal sealed class OpenAiImageStream : IResult
{
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    private readonly ActiveJob _job;
    private readonly string _prefix;
    private readonly OpenAiOutput _output;
    private readonly JobService _jobs;
    private readonly TimeProvider _time;
    private readonly ChannelReader<JobEvent>? _reader;
    private IReadOnlyList<int>? _partialSteps;
    private int _nextTarget;
    private int _partialsSent;

    /// <summary>Starts watching <paramref name="job"/> at once, so that no step is missed before the answer starts.</summary>
    public OpenAiImageStream(ActiveJob job, string prefix, OpenAiOutput output, JobService jobs, TimeProvider time)
    {
        (_job, _prefix, _output, _jobs, _time) = (job, prefix, output, jobs, time);
        _reader = output.PartialImages > 0 ? job.Watch() : null;
    }

    /// <summary>
    /// The denoising steps (1-based, of <paramref name="totalSteps"/>) whose previews become the partial images:
    /// spread evenly, the last one at the final step, so the last partial shows while the VAE decodes. Fewer than
    /// asked when there are fewer steps, as OpenAI allows ("the final image may be sent before the full number of
    /// partial images").
    /// </summary>
    public static IReadOnlyList<int> PartialSteps(int partialImages, int totalSteps) =>
        totalSteps <= 0
            ? []
            : Enumerable.Range(1, partialImages).Select(k => (k * totalSteps + partialImages - 1) / partialImages).Distinct().ToArray();

    public async Task ExecuteAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        var json = context.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var response = context.Response;
        var final = _jobs.WaitAsync(_job, aborted);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        try
        {
            // Headers now, not at the first event: the client knows it was accepted while the job waits in the queue.
            await response.Body.FlushAsync(aborted);
            await FollowAsync(response, final, json, aborted);
            var record = await final;
            if (record.State != JobState.Succeeded) throw new JobEndedException(record);
            foreach (var image in record.Images)
            {
                string b64 = Convert.ToBase64String(await File.ReadAllBytesAsync(_jobs.ImagePath(image), aborted));
                await WriteEventAsync(response, $"{_prefix}.completed", new OpenAiCompletedEvent(
                    $"{_prefix}.completed", b64, Now, $"{image.Width}x{image.Height}", _output.Quality, Background, OutputFormat,
                    OpenAiUsage.None), json, aborted);
            }
        }
        catch (Exception e) when (aborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away; WaitAsync cancels its job.
        }
        catch (Exception e) when (!aborted.IsCancellationRequested)
        {
            var problem = ProblemExceptionHandler.ToProblem(e);
            if (problem is null)
            {
                StreamLog.Crashed(context.RequestServices.GetRequiredService<ILogger<OpenAiImageStream>>(), e, _job.Id, e.GetType().Name);
                problem = Problems.Create("internal", $"The server failed while streaming job {_job.Id}; the server log has the details.");
            }
            await WriteEventAsync(response, "error", new OpenAiErrorEvent("error", Problems.OpenAiError(problem)), json, aborted);
        }
        finally
        {
            if (_reader is not null) _job.Unwatch(_reader);
            // Only an unexpected failure of this stream gets here with the job still going: nobody will read it.
            if (!final.IsCompleted)
            {
                try { await _jobs.CancelAsync(_job.Id); }
                catch (Exception e) when (e is JobConflictException or JobNotFoundException) { }
            }
            try { await final; }
            catch (Exception e) when (e is OperationCanceledException or JobEndedException or SyncTimeoutException) { }
        }
    }

    /// <summary>Partial images from the job's progress until it ends (or the wait for it does).</summary>
    private async Task FollowAsync(HttpResponse response, Task<JobRecord> final, JsonSerializerOptions json, CancellationToken aborted)
    {
        // Stops the pending keep-alive timer when the job ends, rather than leaving it to run out.
        using var following = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        try
        {
            await FollowUntilEndAsync(response, final, json, following.Token);
        }
        finally
        {
            await following.CancelAsync();
        }
    }

    private async Task FollowUntilEndAsync(HttpResponse response, Task<JobRecord> final, JsonSerializerOptions json, CancellationToken aborted)
    {
        var keepAlive = Task.Delay(KeepAlive, _time, aborted);
        if (_reader is null)
        {
            // No partial images: only keep the connection alive while the job waits and runs.
            while (await Task.WhenAny(final, keepAlive) == keepAlive)
            {
                await WriteKeepAliveAsync(response, aborted);
                keepAlive = Task.Delay(KeepAlive, _time, aborted);
            }
            return;
        }
        var waiting = _reader.WaitToReadAsync(aborted).AsTask();
        while (true)
        {
            var first = await Task.WhenAny(waiting, final, keepAlive);
            if (first == keepAlive)
            {
                await WriteKeepAliveAsync(response, aborted);
                keepAlive = Task.Delay(KeepAlive, _time, aborted);
                continue;
            }
            // The job's end is published to its watchers before the wait completes: draining sees every step.
            bool open = first == waiting && await waiting;
            while (_reader.TryRead(out var e))
                if (e is JobEvent.Progressed p) await OnProgressAsync(response, p.Progress, json, aborted);
            if (!open) return;
            waiting = _reader.WaitToReadAsync(aborted).AsTask();
        }
    }

    private async Task OnProgressAsync(HttpResponse response, ProgressSnapshot progress, JsonSerializerOptions json, CancellationToken aborted)
    {
        if (progress.Phase != GenerationPhase.Denoise || progress.PreviewPng is not { } png) return;
        var steps = _partialSteps ??= PartialSteps(_output.PartialImages, progress.TotalSteps);
        // A watcher that fell behind may have lost the target step: the next preview stands in for it, once.
        if (_nextTarget >= steps.Count || progress.Step < steps[_nextTarget]) return;
        while (_nextTarget < steps.Count && steps[_nextTarget] <= progress.Step) _nextTarget++;
        var request = _job.Record.Request;
        await WriteEventAsync(response, $"{_prefix}.partial_image", new OpenAiPartialImageEvent(
            $"{_prefix}.partial_image", Convert.ToBase64String(png), Now, $"{request.Width}x{request.Height}", _output.Quality,
            Background, OutputFormat, _partialsSent++), json, aborted);
    }

    private long Now => _time.GetUtcNow().ToUnixTimeSeconds();

    // The engine writes RGB PNGs: never transparent, whatever background or output_format the client asked for.
    private const string Background = "opaque";
    private const string OutputFormat = "png";

    private static async Task WriteKeepAliveAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        await response.WriteAsync(": keep-alive\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static async Task WriteEventAsync(HttpResponse response, string name, object payload, JsonSerializerOptions options, CancellationToken cancellationToken)
    {
        var text = new StringBuilder().Append("event: ").Append(name).Append("\ndata: ")
            .Append(JsonSerializer.Serialize(payload, payload.GetType(), options)).Append("\n\n").ToString();
        await response.WriteAsync(text, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}

/// <summary>OpenAI's ImageGenPartialImageEvent / ImageEditPartialImageEvent. The image is the engine's step preview:
/// the latent mapped to RGB without the VAE, 1/8 of the image's size (at most 128 pixels a side); size names the
/// requested image.</summary>
internal sealed record OpenAiPartialImageEvent(
    string Type, string B64Json, long CreatedAt, string Size, string Quality, string Background, string OutputFormat, int PartialImageIndex);

/// <summary>OpenAI's ImageGenCompletedEvent / ImageEditCompletedEvent: one final PNG.</summary>
internal sealed record OpenAiCompletedEvent(
    string Type, string B64Json, long CreatedAt, string Size, string Quality, string Background, string OutputFormat, OpenAiUsage Usage);

/// <summary>The SDKs' usage object, which a completed event always carries. This server meters no tokens: zeros.</summary>
internal sealed record OpenAiUsage(int InputTokens, OpenAiInputTokensDetails InputTokensDetails, int OutputTokens, int TotalTokens)
{
    public static readonly OpenAiUsage None = new(0, new OpenAiInputTokensDetails(0, 0), 0, 0);
}

internal sealed record OpenAiInputTokensDetails(int ImageTokens, int TextTokens);

/// <summary>A stream's error: OpenAI's error object under <c>error</c>, which OpenAI's SDKs raise as an APIError.</summary>
internal sealed record OpenAiErrorEvent(string Type, IReadOnlyDictionary<string, object?> Error);

internal static partial class StreamLog
{
    [LoggerMessage(60, LogLevel.Error, "The OpenAI stream of job {JobId} failed: unexpected {ExceptionType}")]
    public static partial void Crashed(ILogger logger, Exception exception, string jobId, string exceptionType);
}
