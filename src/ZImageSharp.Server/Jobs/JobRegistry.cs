using System.Collections.Concurrent;

namespace ZImageSharp.Server.Jobs;

/// <summary>Queued and running jobs by id. A job enters at admission (or recovery) and leaves when it ends.</summary>
internal sealed class JobRegistry
{
    private readonly ConcurrentDictionary<string, ActiveJob> _jobs = new(StringComparer.Ordinal);

    public ActiveJob Add(JobRecord record)
    {
        var job = new ActiveJob(record);
        if (!_jobs.TryAdd(record.Id, job))
            throw new InvalidOperationException($"Job {record.Id} is already active.");
        return job;
    }

    /// <summary>The job's entry, added when absent (a job this node follows or claims after another node submitted it).</summary>
    public ActiveJob GetOrAdd(JobRecord record) => _jobs.GetOrAdd(record.Id, _ => new ActiveJob(record));

    public IReadOnlyList<ActiveJob> All => _jobs.Values.ToArray();

    public bool TryGet(string id, out ActiveJob job) => _jobs.TryGetValue(id, out job!);

    public void Remove(string id) => _jobs.TryRemove(id, out _);

    public IReadOnlyList<ActiveJob> Running =>
        _jobs.Values.Where(j => j.Record.State == JobState.Running).OrderBy(j => j.Record.StartedAt).ToArray();

    public int Count => _jobs.Count;
}
