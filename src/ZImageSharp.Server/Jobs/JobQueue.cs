namespace ZImageSharp.Server.Jobs;

/// <summary>Job ids waiting for a worker, oldest first. Unlike a Channel it can drop a cancelled id from the
/// middle and report a job's position. Capacity is enforced by <see cref="JobService"/> at admission; ids
/// recovered at startup are always taken, so a restart never loses a job.</summary>
internal sealed class JobQueue
{
    private readonly LinkedList<string> _ids = new();
    private readonly Lock _gate = new();
    // One permit per enqueue. Removing an id leaves a spare permit; a dequeuer that finds the list empty waits again.
    private readonly SemaphoreSlim _available = new(0);

    public int Count
    {
        get { lock (_gate) return _ids.Count; }
    }

    /// <summary>Adds an id at the back and returns its 1-based position.</summary>
    public int Enqueue(string id)
    {
        int position;
        lock (_gate)
        {
            _ids.AddLast(id);
            position = _ids.Count;
        }
        _available.Release();
        return position;
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

    public async Task<string> DequeueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                if (_ids.First is { } first)
                {
                    _ids.RemoveFirst();
                    return first.Value;
                }
            }
        }
    }
}
