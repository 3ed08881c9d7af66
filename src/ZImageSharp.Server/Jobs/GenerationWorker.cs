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

/// <summary>Runs queued jobs: one loop per worker slot (one engine on one device each). At start the dispatch
/// recovers (SQLite) or joins the fleet (PostgreSQL); at shutdown the running job gets
/// <see cref="ZImageServerOptions.ShutdownGraceSeconds"/> to finish, then is cancelled and left queued for the next
/// worker (after a restart, or at once on another node).</summary>
internal sealed class GenerationWorker(
    IJobStore store,
    IJobDispatch dispatch,
    JobRegistry registry,
    ImageFiles files,
    IServiceProvider services,
    ServerMetrics metrics,
    IOptions<ZImageServerOptions> options,
    TimeProvider time,
    ILogger<GenerationWorker> logger) : BackgroundService
{
    private volatile bool _running;
    private IReadOnlyList<WorkerSlot> _slots = [];

    /// <summary>True once recovery is done and the worker loops are waiting for jobs.</summary>
    public bool IsRunning => _running;

    /// <summary>This node's workers (none on an API-only node).</summary>
    public IReadOnlyList<WorkerSlot> Slots => _slots;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _slots = BuildSlots(services.GetServices<IImageGenerator>().ToList(), services.GetRequiredService<IGenerationPlanner>());
        foreach (var slot in _slots) metrics.WorkerOnline(slot);
        await dispatch.StartAsync(_slots, cancellationToken).ConfigureAwait(false);
        var model = services.GetRequiredService<IImageGenerator>().Model.Name;
        Log.Serving(logger, _slots.Count, options.Value.QueueCapacity, options.Value.ResolvedDataDirectory, model);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await dispatch.StopAsync().ConfigureAwait(false);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = _slots.Select(slot => Task.Run(() => LoopAsync(slot, stoppingToken), CancellationToken.None)).ToList();
        // An API-only node has no loops, and is ready for as long as it runs.
        if (loops.Count == 0) loops.Add(Task.Delay(Timeout.Infinite, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default));
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

    // GpuCount workers; worker i takes the i-th generator when the host registered several (one engine per device,
    // each its own planner when it is one), otherwise all share the one.
    private List<WorkerSlot> BuildSlots(List<IImageGenerator> generators, IGenerationPlanner sharedPlanner)
    {
        if (generators.Count == 0)
            throw new InvalidOperationException("No IImageGenerator is registered; register the engine before AddZImageServer.");
        string node = options.Value.ResolvedNodeName;
        return Enumerable.Range(0, options.Value.GpuCount).Select(index =>
        {
            var generator = generators[index % generators.Count];
            var planner = generators.Count > 1 && generator is IGenerationPlanner own ? own : sharedPlanner;
            string device = generator is ISystemInfo info ? info.Describe().Device : "unknown";
            return new WorkerSlot(index, $"{node}/{index}", device, generator, planner)
            {
                MaxPixels = WorkerSlot.LargestFit(planner, generator.Model.Limits),
            };
        }).ToList();
    }

    private async Task LoopAsync(WorkerSlot slot, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            WorkerLease? lease;
            try
            {
                lease = await dispatch.NextAsync(slot, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The shared store went away for a moment: wait, then ask again (a claim is one transaction).
                Log.ClaimFailed(logger, slot.Name, e.Message);
                try { await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            if (lease is null) return;
            await using (lease.ConfigureAwait(false))
            {
                metrics.WorkerBusy(slot, true);
                try
                {
                    await RunAsync(slot, lease, stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    metrics.WorkerBusy(slot, false);
                }
            }
        }
    }

    private async Task RunAsync(WorkerSlot slot, WorkerLease lease, CancellationToken stoppingToken)
    {
        var job = lease.Job;
        string id = job.Id;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = id, ["Worker"] = slot.Index });
        var submitted = job.Record;
        int attempt = lease.Attempt;
        var startedAt = lease.StartedAt;
        dispatch.Started(job);
        metrics.Started(startedAt - submitted.CreatedAt);
        Log.JobStarted(logger, id, slot.Index, attempt);

        using var shutdownDeadline = new CancellationTokenSource();
        var grace = TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds);
        using var onStopping = stoppingToken.Register(() => shutdownDeadline.CancelAfter(grace));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.UserCancel.Token, shutdownDeadline.Token, lease.Lost);
        var progress = new JobProgress(job, dispatch, logger);
        var generator = slot.Generator;
        try
        {
            var result = await generator.GenerateAsync(submitted.Request, progress, cancel.Token).ConfigureAwait(false);
            var ran = time.GetUtcNow() - startedAt;
            // Files first, then the row: a crash in between re-runs the job, which rewrites the same files.
            var images = await files.SaveAsync(submitted, result, generator.Model.Name, CancellationToken.None).ConfigureAwait(false);
            // The attempt fences the completion: a worker whose lease expired (and whose job another claimed) loses here.
            if (await store.TryCompleteAsync(id, attempt, time.GetUtcNow(), result.PlanSummary, ran.TotalSeconds, images, result.WeightsPrecision).ConfigureAwait(false))
            {
                metrics.Succeeded(result, ran);
                Log.JobSucceeded(logger, id, ran.TotalSeconds, result.PlanSummary);
                await EndAsync(slot, job, "succeeded", ran).ConfigureAwait(false);
            }
            else
            {
                await EndAsync(slot, job, null, ran).ConfigureAwait(false);
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
                await EndAsync(slot, job, "cancelled", ran).ConfigureAwait(false);
            }
            else if (lease.IsLost)
            {
                // Another worker owns the job now; its events keep this node's watchers informed.
                Log.LeaseLost(logger, id, slot.Name, phase);
                metrics.WorkerEnded(slot, "lease_lost", ran);
            }
            else
            {
                Log.JobRequeued(logger, id, phase);
                await store.TryRequeueAsync(id, attempt).ConfigureAwait(false);
                await EndAsync(slot, job, "requeued", ran).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            var ran = time.GetUtcNow() - startedAt;
            var error = e switch
            {
                NoPlanFitsException noPlan => new JobError(ErrorCodes.Wire(noPlan.Code), noPlan.Phase, noPlan.Message),
                Store.S3StoreException store => new JobError(ErrorCodes.ImageStoreFailed, progress.PhaseName, store.Message),
                ZImageException known => new JobError(ErrorCodes.Wire(known.Code), progress.PhaseName, known.Message),
                _ => new JobError(ErrorCodes.Wire(ErrorCode.Internal), progress.PhaseName,
                    $"The engine failed unexpectedly in phase {progress.PhaseName}; the server log has the details."),
            };
            if (e is ZImageException) Log.JobFailed(logger, id, error.Phase ?? "unknown", error.Code, e.Message);
            else Log.JobCrashed(logger, e, id, progress.PhaseName, e.GetType().Name);
            await store.TryEndAsync(id, attempt, JobState.Failed, time.GetUtcNow(), error).ConfigureAwait(false);
            await EndAsync(slot, job, "failed", ran).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the job out of memory and tells its watchers, here and on other nodes, with the record as
    /// history now has it.</summary>
    private async Task EndAsync(WorkerSlot slot, ActiveJob job, string? outcome, TimeSpan ran)
    {
        var final = await store.GetAsync(job.Id).ConfigureAwait(false) ?? job.Record;
        if (outcome is null && !final.State.IsTerminal() && dispatch.Fleet is not null)
        {
            // Fenced out: another worker owns the job now. This node's view stays, following that worker's events.
            Log.LeaseLost(logger, job.Id, slot.Name, "done");
            metrics.WorkerEnded(slot, "lease_lost", ran);
            return;
        }
        if (outcome is null) Log.StaleFinish(logger, job.Id, final.State.ToWire());
        else metrics.Ended(outcome, ran, time.GetUtcNow() - final.CreatedAt);
        metrics.WorkerEnded(slot, outcome ?? "stale", ran);
        registry.Remove(job.Id);
        job.End(final);
        await dispatch.EndedAsync(job, final).ConfigureAwait(false);
    }

    /// <summary>Turns engine progress into snapshots for watchers. Runs on the engine's thread, so it stays cheap:
    /// previews are a few dozen pixels a side.</summary>
    private sealed class JobProgress(ActiveJob job, IJobDispatch dispatch, ILogger logger) : IProgress<GenerationProgress>
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
            var snapshot = new ProgressSnapshot(value.Phase, value.Step, value.TotalSteps, value.Elapsed, value.Eta, preview);
            job.Report(snapshot);
            dispatch.Progressed(job, snapshot);
        }
    }
}
