using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using ZImageSharp.Server.Diagnostics;
using ZImageSharp.Server.Hosting;

namespace ZImageSharp.Server.Jobs;

/// <summary>Admission, cancellation, history and waiting: everything the APIs do with jobs. Workers run them.</summary>
internal sealed class JobService(
    IJobStore store,
    IJobDispatch dispatch,
    JobRegistry registry,
    ImageFiles files,
    IImageGenerator generator,
    IGenerationPlanner planner,
    ServerMetrics metrics,
    IOptions<ZImageServerOptions> options,
    TimeProvider time,
    ILogger<JobService> logger)
{
    // Admission checks the queue length and then enqueues; one submission at a time keeps the two consistent.
    private readonly SemaphoreSlim _admission = new(1, 1);

    public RequestLimits Limits => generator.Model.Limits;

    public ModelInfo Model => generator.Model;

    public int QueueDepth => dispatch.QueueDepth;

    public int QueueCapacity => options.Value.QueueCapacity;

    public int Workers => dispatch.Workers;

    /// <summary>The nodes sharing the queue, null without a shared store.</summary>
    public IReadOnlyList<FleetNode>? Fleet => dispatch.Fleet;

    public IReadOnlyList<ActiveJob> Running => registry.Running;

    /// <summary>Validates, plans and queues a request. Throws <see cref="InvalidRequestException"/> (400),
    /// <see cref="NoPlanFitsException"/> (422) or <see cref="QueueFullException"/> (429).</summary>
    public async Task<(ActiveJob Job, int Position)> SubmitAsync(GenerationRequest request, JobSource source, CancellationToken cancellationToken)
    {
        try
        {
            GenerationRequestValidator.Validate(request, Limits);
        }
        catch (InvalidRequestException e)
        {
            metrics.Rejected("invalid");
            Log.Refused(logger, "invalid", e.Message);
            throw;
        }
        // The seed is drawn now and stored, so a job re-run after a restart makes the same images.
        request = request with { Seed = request.Seed ?? Random.Shared.NextInt64(0, 1L << 32) };

        var plan = planner.Plan(request);
        var match = dispatch.Match(request, plan);
        if (!match.Fits)
        {
            metrics.Rejected("no_plan_fits");
            // On a shared store the fleet decides, not this node's own card (an API-only node has none).
            throw Refused("no_plan_fits", dispatch.Fleet is not null ? FitsNoWorker(request, plan, match) : NoPlanFits(request, plan));
        }

        await _admission.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // On a shared store the count is the fleet's, taken under a lock that every node's admission takes.
            var admitted = await dispatch.AdmitAsync(new JobRecord
            {
                Id = Guid.CreateVersion7().ToString("N"),
                Request = request,
                Source = source,
                CreatedAt = time.GetUtcNow(),
            }, options.Value.QueueCapacity).ConfigureAwait(false);
            if (admitted is not var (job, position))
            {
                metrics.Rejected("queue_full");
                throw Refused("queue_full", new QueueFullException(options.Value.QueueCapacity, RetryAfterSeconds(plan)));
            }
            var record = job.Record;
            Log.JobQueued(logger, record.Id, source.ToString(), request.Width, request.Height, request.Steps, request.Count, position);
            return (job, position);
        }
        finally
        {
            _admission.Release();
        }
    }

    /// <summary>Plans a request without queueing it (validation errors still throw).</summary>
    public PlanReport Plan(GenerationRequest request)
    {
        GenerationRequestValidator.Validate(request, Limits);
        return planner.Plan(request);
    }

    /// <summary>Removes a queued job at once (true), or asks a running one to stop between steps (false).</summary>
    public async Task<(JobRecord Job, bool Ended)> CancelAsync(string id)
    {
        if (await dispatch.CancelAsync(id).ConfigureAwait(false) is { } cancelled)
        {
            if (cancelled.Ended) metrics.Ended("cancelled", TimeSpan.Zero, time.GetUtcNow() - cancelled.Job.CreatedAt);
            return cancelled;
        }
        var job = await store.GetAsync(id).ConfigureAwait(false) ?? throw new JobNotFoundException(id);
        if (job.State == JobState.Cancelled) return (job, true);
        throw new JobConflictException(id, $"Job {id} has already {job.State.ToWire()}; there is nothing to cancel.");
    }

    /// <summary>Stops running jobs submitted through the given API (A1111's interrupt stops "the current job").</summary>
    public int Interrupt(JobSource source)
    {
        int count = 0;
        foreach (var job in registry.Running.Where(j => j.Record.Source == source))
        {
            job.UserCancel.Cancel();
            // On a shared store the job may run on another node: the cancel request travels through the store.
            if (dispatch.Fleet is not null) _ = dispatch.CancelAsync(job.Id);
            count++;
        }
        return count;
    }

    /// <summary>The job as it is now: live for queued and running jobs, from history otherwise.</summary>
    public async Task<JobView> GetAsync(string id)
    {
        if (registry.TryGet(id, out var active)) return await ViewAsync(active).ConfigureAwait(false);
        var job = await store.GetAsync(id).ConfigureAwait(false) ?? throw new JobNotFoundException(id);
        if (job.State.IsTerminal()) return new JobView(job, null, 0);
        // Active on another node: follow it from here, so that this node's watchers see its progress.
        if (await dispatch.AttachAsync(job).ConfigureAwait(false) is { } attached) return await ViewAsync(attached).ConfigureAwait(false);
        var latest = await store.GetAsync(id).ConfigureAwait(false) ?? throw new JobNotFoundException(id);
        return new JobView(latest, null, 0);
    }

    public bool TryGetActive(string id, out ActiveJob job) => registry.TryGet(id, out job);

    public async Task<IReadOnlyList<JobView>> ListAsync(int limit, long? before, JobState? state)
    {
        var jobs = await store.ListAsync(limit, before, state).ConfigureAwait(false);
        var views = new JobView[jobs.Count];
        for (int i = 0; i < jobs.Count; i++)
        {
            var j = jobs[i];
            views[i] = registry.TryGet(j.Id, out var active) ? await ViewAsync(active).ConfigureAwait(false)
                : j.State == JobState.Queued ? new JobView(j, null, await dispatch.PositionOfAsync(j.Id).ConfigureAwait(false))
                : new JobView(j, null, 0);
        }
        return views;
    }

    private async Task<JobView> ViewAsync(ActiveJob active)
    {
        var record = active.Record;
        int position = record.State == JobState.Queued ? await dispatch.PositionOfAsync(active.Id).ConfigureAwait(false) : 0;
        return new JobView(record, active.Progress, position);
    }

    /// <summary>Deletes a finished job and its image files.</summary>
    public async Task DeleteAsync(string id)
    {
        if (registry.TryGet(id, out var active))
            throw new JobConflictException(id,
                $"Job {id} is {active.Record.State.ToWire()}; cancel it first (POST /api/jobs/{id}/cancel), then delete it.");
        var job = await store.DeleteFinishedAsync(id).ConfigureAwait(false) ?? throw new JobNotFoundException(id);
        if (!job.State.IsTerminal())
            throw new JobConflictException(id, $"Job {id} is {job.State.ToWire()}; cancel it first, then delete it.");
        files.Delete(job);
    }

    public string ImagePath(JobImage image) => files.PathOf(image);

    /// <summary>Waits for a job the caller submitted; if the caller goes away or waits too long, the job is cancelled.</summary>
    public async Task<JobRecord> WaitAsync(ActiveJob job, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.SyncTimeoutSeconds));
        try
        {
            return await job.Completion.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                await CancelAsync(job.Id).ConfigureAwait(false);
            }
            catch (Exception e) when (e is JobConflictException or JobNotFoundException)
            {
                // It ended (or was deleted) while we gave up on it; nothing left to stop.
            }
            if (cancellationToken.IsCancellationRequested) throw;
            throw new SyncTimeoutException(job.Id, options.Value.SyncTimeoutSeconds);
        }
    }

    /// <summary>About how long until a queue slot frees: one job's run time shared by the workers.</summary>
    private int RetryAfterSeconds(PlanReport plan)
    {
        double seconds = metrics.AverageRunSeconds;
        if (double.IsNaN(seconds)) seconds = plan.PredictedTime > TimeSpan.Zero ? plan.PredictedTime.TotalSeconds : 10;
        return (int)Math.Clamp(Math.Ceiling(seconds / Math.Max(1, dispatch.Workers)), 1, 3600);
    }

    private static NoPlanFitsException NoPlanFits(GenerationRequest request, PlanReport plan)
    {
        // The phase that needs the most memory is the one that does not fit.
        string phase = plan.Phases.Count == 0 ? "plan" : plan.Phases.MaxBy(p => p.PredictedPeakBytes)!.Phase;
        // A planner's summary may already name the largest size (the engine's does); say it once, as one sentence.
        string summary = plan.Summary.TrimEnd().TrimEnd('.');
        string largest = plan.LargestFittingSize is { } size
            ? summary.Contains(size.ToString(), StringComparison.Ordinal) ? "" : $" The largest size that fits is {size}."
            : summary.Contains("No size fits", StringComparison.Ordinal) ? "" : " No size fits this device.";
        return new NoPlanFitsException(
            $"A {request.Width}x{request.Height} request with {request.Count} image(s) cannot run here: {summary}.{largest}",
            phase, plan.LargestFittingSize);
    }

    /// <summary>No worker online (on a shared store) has a plan for the request: each one's reason.</summary>
    private static NoPlanFitsException FitsNoWorker(GenerationRequest request, PlanReport plan, WorkerMatch match)
    {
        string phase = plan.Phases.Count == 0 ? "plan" : plan.Phases.MaxBy(p => p.PredictedPeakBytes)!.Phase;
        return new NoPlanFitsException(
            $"A {request.Width}x{request.Height} request with {request.Count} image(s) fits no worker online: {match.Why.TrimEnd().TrimEnd('.')}.", phase, null);
    }

    private Exception Refused(string reason, Exception e)
    {
        Log.Refused(logger, reason, e.Message);
        return e;
    }
}

/// <summary>A job with its live progress and queue position (0 unless queued).</summary>
internal sealed record JobView(JobRecord Job, ProgressSnapshot? Progress, int QueuePosition);
