using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Diagnostics;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Store;

/// <summary>The fleet: every server process on one PostgreSQL database shares its queue and history. A worker claims
/// the oldest job its own plan fits (<see cref="PostgresJobStore.ClaimAsync"/>, <see cref="WorkerFit"/>) and keeps the job's lease alive while it
/// runs; NOTIFY carries a node's events (queued, started, progress, ended, cancel) to every other node, where jobs
/// that node's clients watch follow them. Once a second each node also polls what NOTIFY may have missed: the queue's
/// length, the nodes online, jobs it follows that ended, and cancelled jobs whose worker died.</summary>
internal sealed class PostgresDispatch : IJobDispatch, IAsyncDisposable
{
    private static readonly TimeSpan UpkeepInterval = TimeSpan.FromSeconds(1);
    // A worker also looks for work this often with no wake-up at all (a missed NOTIFY, a lease that ran out).
    private static readonly TimeSpan ClaimPoll = TimeSpan.FromSeconds(3);
    // A followed job seen ended in history waits this long for its runner's own events before the upkeep ends it.
    private const double EndGraceSeconds = 3;
    private const int MaxBatch = 200;

    private readonly PostgresJobStore _store;
    private readonly JobRegistry _registry;
    // Plans requests for other nodes' workers from their published capacities (this node's tokenizer and LoRAs).
    private readonly IGenerationPlanner _planner;
    private readonly ZImageServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PostgresDispatch> _logger;
    private readonly string _node;
    private readonly DateTimeOffset _startedAt;
    private readonly ConcurrentDictionary<string, FleetLease> _runningHere = new(StringComparer.Ordinal);
    // Per followed job whose previews come through the store: the last of its events, which the next one waits for.
    private readonly Dictionary<string, Task> _inOrder = new(StringComparer.Ordinal);
    private readonly Channel<OutgoingEvent> _outgoing = Channel.CreateUnbounded<OutgoingEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IReadOnlyList<WorkerSlot> _slots = [];
    private IReadOnlyList<FleetNode> _fleet = [];
    private volatile int _depth;
    private Task _listener = Task.CompletedTask, _upkeep = Task.CompletedTask, _publisher = Task.CompletedTask;
    private DateTimeOffset _lastNodeBeat = DateTimeOffset.MinValue;

    public PostgresDispatch(PostgresJobStore store, JobRegistry registry, IGenerationPlanner planner, IOptions<ZImageServerOptions> options,
        TimeProvider time, ILogger<PostgresDispatch> logger)
    {
        _store = store;
        _registry = registry;
        _planner = planner;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _node = _options.ResolvedNodeName;
        _startedAt = time.GetUtcNow();
    }

    public int QueueDepth => _depth;

    public int Workers => Volatile.Read(ref _fleet).Sum(n => n.Workers.Count);

    public IReadOnlyList<FleetNode>? Fleet => Volatile.Read(ref _fleet);

    private int LeaseSeconds => _options.LeaseSeconds;

    private TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(Math.Max(0.5, LeaseSeconds / 3.0));

    public async Task StartAsync(IReadOnlyList<WorkerSlot> slots, CancellationToken cancellationToken)
    {
        _slots = slots;
        _listener = Task.Run(() => ListenAsync(_stop.Token), CancellationToken.None);
        // Listening first: a node that joins must not miss the events of jobs it is about to be asked about.
        await _listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        await UpkeepOnceAsync().ConfigureAwait(false);
        _publisher = Task.Run(() => PublishAsync(_stop.Token), CancellationToken.None);
        _upkeep = Task.Run(() => UpkeepAsync(_stop.Token), CancellationToken.None);
        Log.JoinedFleet(_logger, StoreLocation.Redact(_options.Store), _node, slots.Count);
    }

    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested) return;
        // What the workers said last (a job re-queued at shutdown) still goes out.
        _outgoing.Writer.TryComplete();
        await Task.WhenAny(_publisher, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        _stop.Cancel();
        try { await Task.WhenAll(_listener, _upkeep).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        try { await _store.RemoveNodeAsync(_node).ConfigureAwait(false); }
        catch (Exception e) when (e is NpgsqlException or TimeoutException) { Log.UpkeepFailed(_logger, e.Message); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    public WorkerMatch Match(GenerationRequest request, PlanReport localPlan)
    {
        var reasons = new List<string>();
        foreach (var slot in _slots)
        {
            // Admission planned for this node's planner already: a slot that plans with it is not planned again.
            var plan = ReferenceEquals(slot.Planner, _planner) ? localPlan : WorkerFit.Plan(slot, request);
            if (plan.Fits) return WorkerMatch.Fit;
            reasons.Add(WorkerFit.Reason(slot.Name, slot.Device, plan));
        }
        foreach (var worker in OtherNodesWorkers())
        {
            var plan = WorkerFit.Plan(_planner, worker, request);
            if (plan?.Fits == true) return WorkerMatch.Fit;
            reasons.Add(WorkerFit.Reason(worker.Name, worker.Device, plan));
        }
        return new WorkerMatch(false, reasons.Count == 0 ? "no worker is online" : string.Join("; ", reasons));
    }

    private IEnumerable<FleetWorker> OtherNodesWorkers() =>
        Volatile.Read(ref _fleet).Where(n => n.Name != _node).SelectMany(n => n.Workers);

    /// <summary>A worker takes a job its own plan fits, unless an idle worker (here or on another node; idle: running
    /// no job in the database, <paramref name="busy"/>) is predicted to run it much faster: then, for one heartbeat, it
    /// leaves the job to that one, which the job's NOTIFY has woken too. A job it does not fit it leaves to the workers
    /// that do. A job no worker online fits any more (cards filled up since admission) is taken, to fail saying why
    /// rather than wait for ever, but only once it has waited a lease: by then this node has heard every worker's
    /// heartbeat, so a view of the fleet that lacks a newly joined worker does not steal its jobs.</summary>
    private bool Takes(WorkerSlot slot, JobRecord job, IReadOnlySet<string> busy)
    {
        var request = job.Request;
        var age = _time.GetUtcNow() - job.CreatedAt;
        var mine = WorkerFit.Plan(slot, request);
        if (mine.Fits) return age >= HeartbeatInterval || !FasterIdleWorker(slot, request, mine, busy);
        if (age < TimeSpan.FromSeconds(LeaseSeconds)) return false;
        return !(_slots.Any(other => other != slot && WorkerFit.Plan(other, request).Fits)
                 || OtherNodesWorkers().Any(worker => WorkerFit.Plan(_planner, worker, request)?.Fits == true));
    }

    private bool FasterIdleWorker(WorkerSlot slot, GenerationRequest request, PlanReport mine, IReadOnlySet<string> busy) =>
        _slots.Any(other => other != slot && !busy.Contains(other.Name) && WorkerFit.MuchFaster(WorkerFit.Plan(other, request), mine))
        || OtherNodesWorkers().Any(worker => !busy.Contains(worker.Name) && WorkerFit.MuchFaster(WorkerFit.Plan(_planner, worker, request), mine));

    public async Task<(ActiveJob Job, int Position)?> AdmitAsync(JobRecord record, int capacity)
    {
        if (await _store.TryAdmitAsync(record, capacity).ConfigureAwait(false) is not var (stored, position)) return null;
        var job = _registry.GetOrAdd(stored);
        _depth = Math.Max(_depth, position);
        Publish(new FleetEvent { Node = _node, Kind = FleetEvent.Queued, Id = stored.Id });
        Pulse();
        return (job, position);
    }

    public Task<int> PositionOfAsync(string id) => _store.PositionOfAsync(id);

    public async Task<(JobRecord Job, bool Ended)?> CancelAsync(string id)
    {
        if (await _store.TryCancelQueuedAsync(id, _time.GetUtcNow()).ConfigureAwait(false))
        {
            var final = await _store.GetAsync(id).ConfigureAwait(false);
            if (final is null) return null;
            if (_registry.TryGet(id, out var queued))
            {
                queued.UserCancel.Cancel();
                _registry.Remove(id);
                queued.End(final);
            }
            Publish(new FleetEvent { Node = _node, Kind = FleetEvent.Ended, Id = id });
            return (final, true);
        }
        if (await _store.RequestCancelAsync(id).ConfigureAwait(false) is { } running)
        {
            if (_runningHere.TryGetValue(id, out var lease)) lease.Job.UserCancel.Cancel();
            Publish(new FleetEvent { Node = _node, Kind = FleetEvent.Cancel, Id = id });
            return (_registry.TryGet(id, out var active) ? active.Record : running, false);
        }
        return null;
    }

    public async Task<ActiveJob?> AttachAsync(JobRecord record)
    {
        var job = _registry.GetOrAdd(record);
        if (Followed(record.Id) is null) return job; // this node runs it: its own view is current
        // Events that came between reading the record and listening on the view were not applied to it: now that it
        // listens, read history once more, so that the view is never older than the job.
        var latest = await _store.GetAsync(record.Id).ConfigureAwait(false);
        if (latest is null || latest.State.IsTerminal())
        {
            _registry.Remove(record.Id);
            job.End(latest ?? job.Record);
            return null;
        }
        if (latest.State == JobState.Running && (job.Record.State != JobState.Running || job.Record.Attempt != latest.Attempt))
            job.MarkRunning(latest.Attempt, latest.StartedAt ?? _time.GetUtcNow());
        return job;
    }

    public async Task<WorkerLease?> NextAsync(WorkerSlot slot, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before the claim: a wake-up that comes while it runs is not lost.
            var wake = Volatile.Read(ref _wake).Task;
            var startedAt = _time.GetUtcNow();
            var busy = await _store.BusyWorkersAsync().ConfigureAwait(false);
            if (await _store.ClaimAsync(slot.Name, job => Takes(slot, job, busy), LeaseSeconds, startedAt).ConfigureAwait(false) is { } record)
            {
                var job = _registry.GetOrAdd(record);
                job.MarkRunning(record.Attempt, startedAt);
                var lease = new FleetLease(this, slot, job, record.Attempt, startedAt);
                _runningHere[record.Id] = lease;
                Interlocked.Decrement(ref _depth);
                Log.Claimed(_logger, slot.Name, record.Id, record.Attempt);
                lease.StartHeartbeat();
                return lease;
            }
            await Task.WhenAny(wake, Task.Delay(ClaimPoll, stoppingToken)).ConfigureAwait(false);
        }
        return null;
    }

    public void Started(ActiveJob job)
    {
        var record = job.Record;
        Publish(new FleetEvent { Node = _node, Kind = FleetEvent.Started, Id = job.Id, Attempt = record.Attempt, StartedAt = record.StartedAt });
    }

    public void Progressed(ActiveJob job, ProgressSnapshot progress)
    {
        var e = FleetEvent.ForProgress(_node, job.Id, job.Record.Attempt, progress);
        _outgoing.Writer.TryWrite(new OutgoingEvent(e.ToPayload(),
            e.PreviewStored ? new StoredPreview(job.Id, e.Attempt, e.Step, progress.PreviewPng!) : null));
    }

    public Task EndedAsync(ActiveJob job, JobRecord final)
    {
        // Re-queued (shutdown): another worker may take it at once.
        var e = new FleetEvent { Node = _node, Kind = final.State.IsTerminal() ? FleetEvent.Ended : FleetEvent.Queued, Id = job.Id };
        _outgoing.Writer.TryWrite(new OutgoingEvent(e.ToPayload(), ForgetPreviewOf: job.Id));
        return Task.CompletedTask;
    }

    internal Task<bool?> RenewAsync(FleetLease lease) => _store.RenewAsync(lease.Job.Id, lease.Attempt, LeaseSeconds);

    internal void Released(FleetLease lease) => _runningHere.TryRemove(new KeyValuePair<string, FleetLease>(lease.Job.Id, lease));

    internal TimeSpan LeaseHeartbeat => HeartbeatInterval;

    internal TimeSpan LeaseLength => TimeSpan.FromSeconds(LeaseSeconds);

    internal ILogger Logger => _logger;

    private void Publish(FleetEvent e) => _outgoing.Writer.TryWrite(new OutgoingEvent(e.ToPayload()));

    private void Pulse() => Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    // One connection, one batch at a time: a node's events reach the others in the order it sent them. Whatever
    // queued up while a batch was on the wire goes in the next one, so a busy node does not fall behind its events.
    private async Task PublishAsync(CancellationToken stop)
    {
        NpgsqlConnection? connection = null;
        var batch = new List<OutgoingEvent>();
        try
        {
            while (await _outgoing.Reader.WaitToReadAsync(stop).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < MaxBatch && _outgoing.Reader.TryRead(out var next)) batch.Add(next);
                for (int attempt = 0; attempt < 2; attempt++)
                {
                    try
                    {
                        connection ??= await _store.DataSource.OpenConnectionAsync(stop).ConfigureAwait(false);
                        await _store.NotifyAsync(connection, batch).ConfigureAwait(false);
                        break;
                    }
                    catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
                    {
                        // Dropped after a second failure: the others' once-a-second upkeep catches up on state anyway.
                        Log.UpkeepFailed(_logger, e.Message);
                        if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs a job's event after the ones before it (a stored preview's read can take longer than the next
    /// event takes to arrive); the chain goes when the job ends.</summary>
    private void InOrder(string id, Func<Task> work)
    {
        lock (_inOrder)
        {
            var previous = _inOrder.GetValueOrDefault(id, Task.CompletedTask);
            _inOrder[id] = previous.ContinueWith(_ => work(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    private bool HasOrder(string id)
    {
        lock (_inOrder) return _inOrder.ContainsKey(id);
    }

    /// <summary>Reports a progress event, with its preview read from the store when it was too large for the event.</summary>
    private async Task ReportAsync(ActiveJob job, string id, FleetEvent e)
    {
        byte[]? png = null;
        if (e.PreviewStored)
        {
            try
            {
                png = await _store.PreviewAsync(id, e.Attempt, e.Step).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                Log.UpkeepFailed(_logger, ex.Message);
            }
        }
        var progress = e.ToProgress();
        job.Report(png is null ? progress : progress with { PreviewPng = png });
    }

    private async Task ListenAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _store.DataSource.OpenConnectionAsync(stop).ConfigureAwait(false);
                connection.Notification += (_, e) => OnNotification(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresJobStore.Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                _listening.TrySetResult();
                Pulse(); // after a reconnect, look for what arrived meanwhile
                while (!stop.IsCancellationRequested)
                {
                    // A connection that died quietly (a cut network) would wait forever: a quiet spell gets a ping.
                    if (await connection.WaitAsync(TimeSpan.FromSeconds(15), stop).ConfigureAwait(false)) continue;
                    await using var ping = new NpgsqlCommand("SELECT 1", connection);
                    await ping.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.ListenerLost(_logger, e.Message);
                try { await Task.Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private void OnNotification(string payload)
    {
        if (FleetEvent.Parse(payload) is not { } e || e.Node == _node) return;
        string? id = e.Id;
        switch (e.Kind)
        {
            case FleetEvent.Queued:
                // A job another node re-queued at its shutdown: the views here wait again, until the next claim.
                if (id is not null && Followed(id) is { Record.State: JobState.Running } requeued) requeued.MarkQueued();
                Pulse();
                break;
            case FleetEvent.Cancel when id is not null:
                if (_runningHere.TryGetValue(id, out var lease)) lease.Job.UserCancel.Cancel();
                break;
            case FleetEvent.Started when id is not null && Followed(id) is { } started:
                started.MarkRunning(e.Attempt, e.StartedAt ?? _time.GetUtcNow());
                break;
            case FleetEvent.Progress when id is not null && Followed(id) is { } progressed:
                if (progressed.Record.State != JobState.Running || progressed.Record.Attempt != e.Attempt)
                    progressed.MarkRunning(e.Attempt, progressed.Record.StartedAt ?? _time.GetUtcNow());
                // A step whose preview is in the store is told once the preview is read (told without it, watchers
                // would see the previous step's preview as this one's); the job's later events wait their turn.
                if (e.PreviewStored || HasOrder(id)) InOrder(id, () => ReportAsync(progressed, id, e));
                else progressed.Report(e.ToProgress());
                break;
            case FleetEvent.Ended when id is not null && Followed(id) is not null:
                if (HasOrder(id)) InOrder(id, () => EndFollowedAsync([id]));
                else _ = Task.Run(() => EndFollowedAsync([id]));
                break;
        }
    }

    /// <summary>A job this node follows but does not run (submitted or watched here, running elsewhere).</summary>
    private ActiveJob? Followed(string id) =>
        !_runningHere.ContainsKey(id) && _registry.TryGet(id, out var job) ? job : null;

    private async Task EndFollowedAsync(IReadOnlyCollection<string> ids)
    {
        foreach (string id in ids)
        {
            if (Followed(id) is not { } job) continue;
            try
            {
                var final = await _store.GetAsync(id).ConfigureAwait(false);
                if (final is not null && !final.State.IsTerminal()) continue;
                _registry.Remove(id);
                job.End(final ?? job.Record);
                lock (_inOrder) _inOrder.Remove(id);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                Log.UpkeepFailed(_logger, e.Message); // the next upkeep tries again
            }
        }
    }

    private async Task UpkeepAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(UpkeepInterval, _time, stop).ConfigureAwait(false);
                await UpkeepOnceAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                Log.UpkeepFailed(_logger, e.Message);
            }
        }
    }

    private async Task UpkeepOnceAsync()
    {
        var now = _time.GetUtcNow();
        if (now - _lastNodeBeat >= HeartbeatInterval)
        {
            var workers = _slots.Select(s => new FleetWorker(s.Name, s.Device, s.MaxPixels,
                _runningHere.Values.FirstOrDefault(l => l.Slot == s)?.Job.Id, WorkerFit.Capacity(s))).ToArray();
            await _store.HeartbeatNodeAsync(_node, _startedAt, workers).ConfigureAwait(false);
            _lastNodeBeat = now;
        }
        // A node not heard from within a lease is gone (its jobs' leases run out too).
        Volatile.Write(ref _fleet, await _store.NodesAsync(LeaseSeconds).ConfigureAwait(false));
        _depth = await _store.QueuedCountAsync().ConfigureAwait(false);

        foreach (string id in await _store.ReapCancelledAsync().ConfigureAwait(false))
            Publish(new FleetEvent { Node = _node, Kind = FleetEvent.Ended, Id = id });
        var followed = _registry.All.Select(j => j.Id).Where(id => !_runningHere.ContainsKey(id)).ToArray();
        var ended = await _store.EndedAmongAsync(followed, EndGraceSeconds).ConfigureAwait(false);
        if (ended.Count > 0) await EndFollowedAsync(ended).ConfigureAwait(false);
        Pulse(); // leases may have run out since the last look
    }
}

/// <summary>A claimed job's lease: renewed every third of its length; lost when a renewal finds the job no longer
/// this attempt's (re-claimed after an expiry, ended, deleted) or when renewals fail for a whole lease (this node
/// cannot tell whether another has taken the job). A cancel request seen on renewal reaches the job too.</summary>
internal sealed class FleetLease(PostgresDispatch dispatch, WorkerSlot slot, ActiveJob job, int attempt, DateTimeOffset startedAt)
    : WorkerLease(job, attempt, startedAt)
{
    private readonly CancellationTokenSource _stop = new();
    private Task _heartbeat = Task.CompletedTask;

    public WorkerSlot Slot { get; } = slot;

    public void StartHeartbeat() => _heartbeat = Task.Run(() => BeatAsync(_stop.Token));

    private async Task BeatAsync(CancellationToken stop)
    {
        var lastRenewed = DateTimeOffset.UtcNow;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(dispatch.LeaseHeartbeat, stop).ConfigureAwait(false);
                switch (await dispatch.RenewAsync(this).ConfigureAwait(false))
                {
                    case null:
                        MarkLost();
                        return;
                    case true:
                        Job.UserCancel.Cancel();
                        break;
                }
                lastRenewed = DateTimeOffset.UtcNow;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                Log.UpkeepFailed(dispatch.Logger, e.Message);
                if (DateTimeOffset.UtcNow - lastRenewed >= dispatch.LeaseLength)
                {
                    MarkLost();
                    return;
                }
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _heartbeat.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        dispatch.Released(this);
        _stop.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
