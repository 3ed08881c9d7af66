namespace ZImageSharp.Server.Jobs;

/// <summary>Job ids waiting for a worker, oldest first. Unlike a Channel it can drop a cancelled id from the
/// middle and report a job's position. Capacity is enforced by <see cref="JobService"/> at admission; ids
/// recovered at startup are always taken, so a restart never loses a job.</summary>
internal sealed class JobQueue
{
    private readonly LinkedList<string> _ids = new();
    private readonly Lock _gate = new();
    // Completed (and replaced) at every enqueue: a worker that found nothing it takes waits for the next arrival.
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Count
    {
        get { lock (_gate) return _ids.Count; }
    }

    /// <summary>Adds an id at the back and returns its 1-based position.</summary>
    public int Enqueue(string id)
    {
        int position;
        TaskCompletionSource arrived;
        lock (_gate)
        {
            _ids.AddLast(id);
            position = _ids.Count;
            arrived = _arrived;
            _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        arrived.TrySetResult();
        return position;
    }

    /// <summary>Wakes every waiting worker to look at the queue again (a worker that some were leaving jobs to became busy).</summary>
    public void Wake()
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            arrived = _arrived;
            _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        arrived.TrySetResult();
    }

    public bool TryRemove(string id)
    {
        lock (_gate) return _ids.Remove(id);
    }

    /// <summary>1-based position, or 0 when the id is not waiting.</summary>
    public int PositionOf(string id)
    {
        lock (_gate)
        {
            int position = 1;
            for (var node = _ids.First; node is not null; node = node.Next, position++)
                if (node.Value == id) return position;
            return 0;
        }
    }

    /// <summary>Removes and returns the oldest id that <paramref name="takes"/> accepts, waiting for arrivals while
    /// there is none. The test runs outside the lock (a worker plans the job there), so an id another worker removed
    /// meanwhile is passed over.</summary>
    public async Task<string> DequeueAsync(Func<string, bool> takes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task arrived;
            string[] waiting;
            lock (_gate)
            {
                arrived = _arrived.Task;
                waiting = [.. _ids];
            }
            foreach (string id in waiting)
            {
                if (!takes(id)) continue;
                lock (_gate)
                {
                    if (_ids.Remove(id)) return id;
                }
            }
            await arrived.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public Task<string> DequeueAsync(CancellationToken cancellationToken) => DequeueAsync(_ => true, cancellationToken);
}
