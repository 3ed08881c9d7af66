using System.Threading.Channels;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>The latest progress of a running job; <see cref="PreviewPng"/> is the most recent preview seen so far.</summary>
internal sealed record ProgressSnapshot(
    GenerationPhase Phase,
    int Step,
    int TotalSteps,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    byte[]? PreviewPng)
{
    /// <summary>Share of the whole job done, for progress bars: denoising is most of the work.</summary>
    public double Fraction => Phase switch
    {
        GenerationPhase.Queued => 0,
        GenerationPhase.Tokenize => 0.01,
        GenerationPhase.Encode => 0.01 + 0.04 * Part,
        GenerationPhase.Denoise => 0.05 + 0.85 * Part,
        GenerationPhase.Decode => 0.90 + 0.08 * Part,
        GenerationPhase.Png => 0.98,
        _ => 1,
    };

    private double Part => TotalSteps <= 0 ? 0 : Math.Clamp(Step / (double)TotalSteps, 0, 1);
}

/// <summary>What a job's watchers are told: a state change, a progress step, or the end (the last event).</summary>
internal abstract record JobEvent
{
    public sealed record StateChanged(JobRecord Job) : JobEvent;
    public sealed record Progressed(JobRecord Job, ProgressSnapshot Progress) : JobEvent;
    public sealed record Ended(JobRecord Job) : JobEvent;
}

/// <summary>A queued or running job in memory: its cancellation, latest progress, watchers and completion.
/// Finished jobs live only in the store.</summary>
internal sealed class ActiveJob
{
    // Slow watchers lose old progress events, never the newest (and the end is always the newest).
    private static readonly BoundedChannelOptions WatcherChannel = new(32)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    };

    private readonly Lock _gate = new();
    private readonly List<Channel<JobEvent>> _watchers = [];
    private readonly TaskCompletionSource<JobRecord> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private JobRecord _record;
    private ProgressSnapshot? _progress;
    private bool _ended;

    public ActiveJob(JobRecord record) => _record = record;

    public string Id => _record.Id;

    /// <summary>Cancelled by a user (cancel endpoint, A1111 interrupt, a synchronous client that went away).</summary>
    public CancellationTokenSource UserCancel { get; } = new();

    public JobRecord Record
    {
        get { lock (_gate) return _record; }
    }

    public ProgressSnapshot? Progress
    {
        get { lock (_gate) return _progress; }
    }

    /// <summary>Completes with the job's last record (succeeded, failed, cancelled, or queued when shutdown re-queued it).</summary>
    public Task<JobRecord> Completion => _completion.Task;

    public void MarkRunning(int attempt, DateTimeOffset startedAt)
    {
        JobRecord record;
        lock (_gate)
        {
            _record = record = _record with { State = JobState.Running, Attempt = attempt, StartedAt = startedAt };
            _progress = null;
        }
        Publish(new JobEvent.StateChanged(record));
    }

    /// <summary>Back to waiting: on a shared store, the node that ran it shut down and re-queued it.</summary>
    public void MarkQueued()
    {
        JobRecord record;
        lock (_gate)
        {
            if (_ended) return;
            _record = record = _record with { State = JobState.Queued, StartedAt = null };
            _progress = null;
        }
        Publish(new JobEvent.StateChanged(record));
    }

    public void Report(ProgressSnapshot progress)
    {
        JobRecord record;
        lock (_gate)
        {
            _progress = progress with { PreviewPng = progress.PreviewPng ?? _progress?.PreviewPng };
            progress = _progress;
            record = _record;
        }
        Publish(new JobEvent.Progressed(record, progress));
    }

    /// <summary>Publishes the end and completes every watcher; later calls do nothing.</summary>
    public void End(JobRecord final)
    {
        lock (_gate)
        {
            if (_ended) return;
            _ended = true;
            _record = final;
        }
        Publish(new JobEvent.Ended(final));
        lock (_gate)
        {
            foreach (var watcher in _watchers) watcher.Writer.TryComplete();
            _watchers.Clear();
        }
        _completion.TrySetResult(final);
    }

    /// <summary>A stream of this job's events from now on; completes after the end event. Null when already ended.</summary>
    public ChannelReader<JobEvent>? Watch()
    {
        lock (_gate)
        {
            if (_ended) return null;
            var channel = Channel.CreateBounded<JobEvent>(WatcherChannel);
            _watchers.Add(channel);
            return channel.Reader;
        }
    }

    public void Unwatch(ChannelReader<JobEvent> reader)
    {
        lock (_gate) _watchers.RemoveAll(c => c.Reader == reader);
    }

    private void Publish(JobEvent e)
    {
        lock (_gate)
            foreach (var watcher in _watchers)
                watcher.Writer.TryWrite(e);
    }
}
