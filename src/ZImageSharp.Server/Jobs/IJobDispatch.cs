using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>How jobs reach workers and how their progress reaches watchers. <see cref="LocalDispatch"/> is the
/// embedded default: an in-memory queue over SQLite history, one process. <see cref="Store.PostgresDispatch"/> is
/// the fleet: PostgreSQL is the queue (claims with FOR UPDATE SKIP LOCKED, leases kept by heartbeats), LISTEN/NOTIFY
/// wakes workers and carries progress, state and cancel requests to every node.</summary>
internal interface IJobDispatch
{
    /// <summary>Before the server takes requests: recover what a previous run left (local), or join the fleet.</summary>
    Task StartAsync(IReadOnlyList<WorkerSlot> slots, CancellationToken cancellationToken);

    /// <summary>At shutdown, after the workers stopped: leave the fleet.</summary>
    Task StopAsync();

    /// <summary>Jobs waiting for a worker: this process's queue, or the whole fleet's.</summary>
    int QueueDepth { get; }

    /// <summary>Workers online: this process's, or the whole fleet's.</summary>
    int Workers { get; }

    /// <summary>The nodes sharing the queue and their workers; null without a shared store.</summary>
    IReadOnlyList<FleetNode>? Fleet { get; }

    /// <summary>Whether some worker online fits the request by its own plan; <paramref name="localPlan"/> is this
    /// node's plan (its first worker's).</summary>
    WorkerMatch Match(GenerationRequest request, PlanReport localPlan);

    /// <summary>Stores and queues a job unless <paramref name="capacity"/> jobs already wait (then null).</summary>
    Task<(ActiveJob Job, int Position)?> AdmitAsync(JobRecord record, int capacity);

    /// <summary>1-based position of a queued job, 0 when it is not waiting.</summary>
    Task<int> PositionOfAsync(string id);

    /// <summary>Cancels an active job: (record, true) when it was queued and is now cancelled, (record, false) when a
    /// running one was asked to stop, null when the job is not active anywhere.</summary>
    Task<(JobRecord Job, bool Ended)?> CancelAsync(string id);

    /// <summary>An active job this node does not hold yet (submitted on another node): a local view that follows
    /// the fleet's events, so that watchers here see it; null when there is no such thing (local dispatch) or the job
    /// ended meanwhile.</summary>
    Task<ActiveJob?> AttachAsync(JobRecord record);

    /// <summary>Waits for the next job this worker can run and starts it; null when stopping.</summary>
    Task<WorkerLease?> NextAsync(WorkerSlot slot, CancellationToken stoppingToken);

    /// <summary>A worker started a job (its record now says running).</summary>
    void Started(ActiveJob job);

    /// <summary>A running job made progress.</summary>
    void Progressed(ActiveJob job, ProgressSnapshot progress);

    /// <summary>A job ended (or was handed back to the queue); <paramref name="final"/> is history's record.</summary>
    Task EndedAsync(ActiveJob job, JobRecord final);
}

/// <summary>A server process sharing the queue, as it last reported itself.</summary>
internal sealed record FleetNode(string Name, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, IReadOnlyList<FleetWorker> Workers);

/// <summary>One worker of a node: its device, the largest square request it fits (for people: matching plans the
/// request itself), the job it runs (null when idle) and its capacity, which other nodes plan requests for it with
/// (<see cref="IGenerationPlanner.DescribeCapacity"/>; not shown in /api/system).</summary>
internal sealed record FleetWorker(string Name, string Device, long MaxPixels, string? Job,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? Capacity = null);
