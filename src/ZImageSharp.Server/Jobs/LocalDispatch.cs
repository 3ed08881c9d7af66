using Microsoft.Extensions.Logging;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Diagnostics;

namespace ZImageSharp.Server.Jobs;

/// <summary>The embedded default: one process, an in-memory <see cref="JobQueue"/> over <see cref="JobStore"/>
/// (SQLite). At start, jobs a previous run left running go back to the front of the queue.</summary>
internal sealed class LocalDispatch(
    IJobStore store,
    JobQueue queue,
    JobRegistry registry,
    ServerMetrics metrics,
    TimeProvider time,
    ILogger<LocalDispatch> logger) : IJobDispatch
{
    private IReadOnlyList<WorkerSlot> _slots = [];
    // Workers waiting for a job now: a job both fit goes to the much faster one (WorkerFit.PreferFasterFactor).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<WorkerSlot, byte> _idle = new();

    public int QueueDepth => queue.Count;

    public int Workers => _slots.Count;

    public IReadOnlyList<FleetNode>? Fleet => null;

    public async Task StartAsync(IReadOnlyList<WorkerSlot> slots, CancellationToken cancellationToken)
    {
        _slots = slots;
        if (store is not JobStore sqlite) return;
        // Recovered jobs are queued before the server takes requests, so they keep their place at the front.
        var unfinished = await sqlite.RecoverUnfinishedAsync().ConfigureAwait(false);
        foreach (var job in unfinished)
        {
            registry.Add(job);
            queue.Enqueue(job.Id);
        }
        if (unfinished.Count > 0) Log.Recovered(logger, unfinished.Count);
    }

    public Task StopAsync() => Task.CompletedTask;

    // One engine, or several of one process (--devices): the first worker's plan decides unless another worker fits.
    public WorkerMatch Match(GenerationRequest request, PlanReport localPlan) =>
        localPlan.Fits || _slots.Skip(1).Any(s => WorkerFit.Plan(s, request).Fits) ? WorkerMatch.Fit : new WorkerMatch(false, localPlan.Summary);

    /// <summary>A worker takes a job its own plan fits, unless another idle worker is predicted to run it much
    /// faster; it leaves one it does not fit to a worker that does. A job that no worker fits any more (the card
    /// filled up since admission) is taken, and fails saying why.</summary>
    private bool Takes(WorkerSlot slot, string id)
    {
        if (_slots.Count == 1 || !registry.TryGet(id, out var job)) return true;
        var request = job.Record.Request;
        var mine = WorkerFit.Plan(slot, request);
        var others = _slots.Where(other => other != slot).ToList();
        if (mine.Fits) return !others.Any(other => _idle.ContainsKey(other) && WorkerFit.MuchFaster(WorkerFit.Plan(other, request), mine));
        return !others.Any(other => WorkerFit.Plan(other, request).Fits);
    }

    public async Task<(ActiveJob Job, int Position)?> AdmitAsync(JobRecord record, int capacity)
    {
        if (queue.Count >= capacity) return null;
        record = await store.InsertAsync(record, CancellationToken.None).ConfigureAwait(false);
        var job = registry.Add(record);
        return (job, queue.Enqueue(record.Id));
    }

    public Task<int> PositionOfAsync(string id) => Task.FromResult(queue.PositionOf(id));

    public async Task<(JobRecord Job, bool Ended)?> CancelAsync(string id)
    {
        if (!registry.TryGet(id, out var active)) return null;
        active.UserCancel.Cancel();
        if (!queue.TryRemove(id)) return (active.Record, false);
        await store.TryCancelQueuedAsync(id, time.GetUtcNow()).ConfigureAwait(false);
        var final = await store.GetAsync(id).ConfigureAwait(false) ?? active.Record with { State = JobState.Cancelled };
        registry.Remove(id);
        active.End(final);
        return (final, true);
    }

    public Task<ActiveJob?> AttachAsync(JobRecord record) => Task.FromResult<ActiveJob?>(null);

    public async Task<WorkerLease?> NextAsync(WorkerSlot slot, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            string id;
            _idle[slot] = 0;
            try
            {
                id = await queue.DequeueAsync(candidate => Takes(slot, candidate), stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            finally
            {
                _idle.TryRemove(slot, out _);
            }
            // The others may have left a job to this worker, which is busy now: they look again.
            if (_slots.Count > 1) queue.Wake();
            if (!registry.TryGet(id, out var job)) continue;
            if (job.UserCancel.IsCancellationRequested)
            {
                // Cancelled between leaving the queue and starting.
                await store.TryCancelQueuedAsync(id, time.GetUtcNow()).ConfigureAwait(false);
                var cancelled = await EndWithHistoryAsync(job).ConfigureAwait(false);
                metrics.Ended("cancelled", TimeSpan.Zero, time.GetUtcNow() - cancelled.CreatedAt);
                continue;
            }
            int attempt = job.Record.Attempt + 1;
            var startedAt = time.GetUtcNow();
            if (!await store.TryStartAsync(id, attempt, startedAt).ConfigureAwait(false))
            {
                var stale = await EndWithHistoryAsync(job).ConfigureAwait(false);
                Log.StaleFinish(logger, id, stale.State.ToWire());
                continue;
            }
            job.MarkRunning(attempt, startedAt);
            return new WorkerLease(job, attempt, startedAt);
        }
        return null;
    }

    public void Started(ActiveJob job) { }

    public void Progressed(ActiveJob job, ProgressSnapshot progress) { }

    public Task EndedAsync(ActiveJob job, JobRecord final) => Task.CompletedTask;

    private async Task<JobRecord> EndWithHistoryAsync(ActiveJob job)
    {
        var final = await store.GetAsync(job.Id).ConfigureAwait(false) ?? job.Record;
        registry.Remove(job.Id);
        job.End(final);
        return final;
    }
}
