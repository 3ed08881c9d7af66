using System.IO.Compression;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Diagnostics;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;

namespace ZImageSharp.Server.Jobs;

/// <summary>Runs queued jobs: one loop per GPU. At start it re-queues what a previous run left unfinished; at
/// shutdown the running job gets <see cref="ZImageServerOptions.ShutdownGraceSeconds"/> to finish, then is
/// cancelled and left queued in history for the next start.</summary>
internal sealed class GenerationWorker(
    JobStore store,
    JobQueue queue,
    JobRegistry registry,
    ImageFiles files,
    IServiceProvider services,
    ServerMetrics metrics,
    IOptions<ZImageServerOptions> options,
    TimeProvider time,
    ILogger<GenerationWorker> logger) : BackgroundService
{
    private volatile bool _running;

    /// <summary>True once recovery is done and the worker loops are waiting for jobs.</summary>
    public bool IsRunning => _running;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Recovered jobs are queued before the server takes requests, so they keep their place at the front.
        var unfinished = await store.RecoverUnfinishedAsync().ConfigureAwait(false);
        foreach (var job in unfinished)
        {
            registry.Add(job);
            queue.Enqueue(job.Id);
        }
        if (unfinished.Count > 0) Log.Recovered(logger, unfinished.Count);
        var generators = Generators();
        Log.Serving(logger, options.Value.GpuCount, options.Value.QueueCapacity, options.Value.ResolvedDataDirectory, generators[0].Model.Name);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var generators = Generators();
        var loops = Enumerable.Range(0, options.Value.GpuCount)
            .Select(worker => Task.Run(() => LoopAsync(worker, generators[worker % generators.Count], stoppingToken), CancellationToken.None))
            .ToArray();
        _running = true;
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        finally
        {
            _running = false;
        }
    }

    // One generator per GPU when the host registered several (worker i takes the i-th); otherwise all share one.
    private List<IImageGenerator> Generators() => services.GetServices<IImageGenerator>().ToList() is { Count: > 0 } list
        ? list
        : throw new InvalidOperationException("No IImageGenerator is registered; register the engine before AddZImageServer.");

    private async Task LoopAsync(int worker, IImageGenerator generator, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            string id;
            try
            {
                id = await queue.DequeueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (registry.TryGet(id, out var job))
                await RunAsync(worker, job, generator, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(int worker, ActiveJob job, IImageGenerator generator, CancellationToken stoppingToken)
    {
        string id = job.Id;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = id, ["Worker"] = worker });
        if (job.UserCancel.IsCancellationRequested)
        {
            // Cancelled between leaving the queue and starting.
            await store.TryCancelQueuedAsync(id, time.GetUtcNow()).ConfigureAwait(false);
            await EndAsync(job, "cancelled", TimeSpan.Zero).ConfigureAwait(false);
            return;
        }

        var submitted = job.Record;
        int attempt = submitted.Attempt + 1;
        var startedAt = time.GetUtcNow();
        if (!await store.TryStartAsync(id, attempt, startedAt).ConfigureAwait(false))
        {
            await EndAsync(job, null, TimeSpan.Zero).ConfigureAwait(false);
            return;
        }
        job.MarkRunning(attempt, startedAt);
        metrics.Started(startedAt - submitted.CreatedAt);
        Log.JobStarted(logger, id, worker, attempt);

        using var shutdownDeadline = new CancellationTokenSource();
        var grace = TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds);
        using var onStopping = stoppingToken.Register(() => shutdownDeadline.CancelAfter(grace));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.UserCancel.Token, shutdownDeadline.Token);
        var progress = new JobProgress(job, logger);
        try
        {
            var result = await generator.GenerateAsync(submitted.Request, progress, cancel.Token).ConfigureAwait(false);
            var ran = time.GetUtcNow() - startedAt;
            // Files first, then the row: a crash in between re-runs the job, which rewrites the same files.
            var images = await files.SaveAsync(submitted, result, generator.Model.Name, CancellationToken.None).ConfigureAwait(false);
            if (await store.TryCompleteAsync(id, attempt, time.GetUtcNow(), result.PlanSummary, ran.TotalSeconds, images).ConfigureAwait(false))
            {
                metrics.Succeeded(result, ran);
                Log.JobSucceeded(logger, id, ran.TotalSeconds, result.PlanSummary);
                await EndAsync(job, "succeeded", ran).ConfigureAwait(false);
            }
            else
            {
                await EndAsync(job, null, ran).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            var ran = time.GetUtcNow() - startedAt;
            string phase = progress.PhaseName;
            if (job.UserCancel.IsCancellationRequested)
            {
                Log.JobCancelled(logger, id, phase);
                await store.TryEndAsync(id, attempt, JobState.Cancelled, time.GetUtcNow(), null).ConfigureAwait(false);
                await EndAsync(job, "cancelled", ran).ConfigureAwait(false);
            }
            else
            {
                Log.JobRequeued(logger, id, phase);
                await store.TryRequeueAsync(id, attempt).ConfigureAwait(false);
                await EndAsync(job, "requeued", ran).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            var ran = time.GetUtcNow() - startedAt;
            var error = e switch
            {
                NoPlanFitsException noPlan => new JobError(ErrorCodes.Wire(noPlan.Code), noPlan.Phase, noPlan.Message),
                ZImageException known => new JobError(ErrorCodes.Wire(known.Code), progress.PhaseName, known.Message),
                _ => new JobError(ErrorCodes.Wire(ErrorCode.Internal), progress.PhaseName,
                    $"The engine failed unexpectedly in phase {progress.PhaseName}; the server log has the details."),
            };
            if (e is ZImageException) Log.JobFailed(logger, id, error.Phase ?? "unknown", error.Code, e.Message);
            else Log.JobCrashed(logger, e, id, progress.PhaseName, e.GetType().Name);
            await store.TryEndAsync(id, attempt, JobState.Failed, time.GetUtcNow(), error).ConfigureAwait(false);
            await EndAsync(job, "failed", ran).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the job out of memory and tells its watchers, with the record as history now has it.</summary>
    private async Task EndAsync(ActiveJob job, string? outcome, TimeSpan ran)
    {
        var final = await store.GetAsync(job.Id).ConfigureAwait(false) ?? job.Record;
        if (outcome is null) Log.StaleFinish(logger, job.Id, final.State.ToWire());
        else metrics.Ended(outcome, ran, time.GetUtcNow() - final.CreatedAt);
        registry.Remove(job.Id);
        job.End(final);
    }

    /// <summary>Turns engine progress into snapshots for watchers. Runs on the engine's thread, so it stays cheap:
    /// previews are a few dozen pixels a side.</summary>
    private sealed class JobProgress(ActiveJob job, ILogger logger) : IProgress<GenerationProgress>
    {
        private volatile string _phase = "queued";

        public string PhaseName => _phase;

        public void Report(GenerationProgress value)
        {
            _phase = value.Phase.ToString().ToLowerInvariant();
            byte[]? preview = null;
            if (value.Preview is { } image)
            {
                try
                {
                    // A preview is shown once and replaced a step later: fast compression beats small files.
                    preview = PngEncoder.Encode(image.Rgb, image.Width, image.Height, PngColorType.Rgb, compression: CompressionLevel.Fastest);
                }
                catch (ArgumentException e)
                {
                    Log.BadPreview(logger, e);
                }
            }
            Log.Step(logger, job.Id, _phase, value.Step, value.TotalSteps);
            job.Report(new ProgressSnapshot(value.Phase, value.Step, value.TotalSteps, value.Elapsed, value.Eta, preview));
        }
    }
}
