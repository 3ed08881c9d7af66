using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Diagnostics;

/// <summary>The Prometheus series at /metrics. A registry of its own (not prometheus-net's static default) so that
/// several servers in one process, as in tests, never share counters.</summary>
internal sealed class ServerMetrics
{
    private readonly Gauge _queueDepth;
    private readonly Gauge _running;
    private readonly Histogram _jobDuration;
    private readonly Histogram _jobLatency;
    private readonly Histogram _queueWait;
    private readonly Gauge _phasePeakBytes;
    private readonly Gauge _phaseLastPeakBytes;
    private readonly Counter _plansChosen;
    private readonly Counter _weightsPrecision;
    private readonly Counter _oomRecoveries;
    private readonly Counter _jobsEnded;
    private readonly Counter _rejected;
    private readonly Gauge _workerBusy;
    private readonly Counter _workerJobs;
    private readonly Histogram _workerDuration;
    private readonly Gauge _fleetWorkers;
    private readonly Lock _averageGate = new();
    private double _averageRunSeconds = double.NaN;

    // The dispatch is resolved when scraped: it records its own outcomes here, so it cannot be a constructor argument.
    public ServerMetrics(IServiceProvider services, JobRegistry registry)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        _queueDepth = factory.CreateGauge("zimage_queue_depth", "Jobs waiting for a worker (on a shared store: the whole fleet's queue).");
        _running = factory.CreateGauge("zimage_jobs_running", "Jobs running on a worker now (known to this node).");
        _fleetWorkers = factory.CreateGauge("zimage_fleet_workers", "Workers online that take jobs from this node's queue (this node's own without a shared store).");
        _workerBusy = factory.CreateGauge("zimage_worker_busy", "1 while the worker runs a job, by worker (node/index) and device.", "worker", "device");
        _workerJobs = factory.CreateCounter("zimage_worker_jobs_total", "Jobs a worker of this node ended, by worker and outcome.", "worker", "outcome");
        _workerDuration = factory.CreateHistogram("zimage_worker_job_duration_seconds", "Time jobs ran on each worker of this node.",
            new HistogramConfiguration { LabelNames = ["worker"], Buckets = Histogram.ExponentialBuckets(0.01, 2, 17) });
        Registry.AddBeforeCollectCallback(() =>
        {
            var dispatch = services.GetRequiredService<IJobDispatch>();
            _queueDepth.Set(dispatch.QueueDepth);
            _fleetWorkers.Set(dispatch.Workers);
            _running.Set(registry.Running.Count);
        });
        var seconds = Histogram.ExponentialBuckets(0.01, 2, 17); // 10 ms … 11 min
        _jobDuration = factory.CreateHistogram("zimage_job_duration_seconds", "Time a job ran on a worker, by outcome.",
            new HistogramConfiguration { LabelNames = ["outcome"], Buckets = seconds });
        _jobLatency = factory.CreateHistogram("zimage_job_latency_seconds", "Time from submission to the end of a job, by outcome.",
            new HistogramConfiguration { LabelNames = ["outcome"], Buckets = seconds });
        _queueWait = factory.CreateHistogram("zimage_job_queue_wait_seconds", "Time a job waited in the queue.",
            new HistogramConfiguration { Buckets = seconds });
        _phasePeakBytes = factory.CreateGauge("zimage_phase_peak_bytes", "Highest peak device memory per phase since start.", "phase");
        _phaseLastPeakBytes = factory.CreateGauge("zimage_phase_last_peak_bytes", "Peak device memory per phase in the last job.", "phase");
        _plansChosen = factory.CreateCounter("zimage_plans_chosen_total", "Jobs run under each memory plan.", "plan");
        _weightsPrecision = factory.CreateCounter("zimage_jobs_by_weights_total",
            "Jobs that succeeded, by the precision their weights computed in (bf16, fp32, or fp8 e4m3 and what was stored so).", "weights");
        _oomRecoveries = factory.CreateCounter("zimage_oom_recoveries_total", "Out-of-memory errors the engine recovered from.");
        _jobsEnded = factory.CreateCounter("zimage_jobs_total", "Jobs that ended, by outcome (succeeded, failed, cancelled, requeued).", "outcome");
        _rejected = factory.CreateCounter("zimage_requests_rejected_total", "Submissions refused, by reason (invalid, no_plan_fits, queue_full).", "reason");
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Mean run time of recent jobs (exponential average), NaN before the first.</summary>
    public double AverageRunSeconds
    {
        get { lock (_averageGate) return _averageRunSeconds; }
    }

    /// <summary>Makes a worker's series appear (at zero) before its first job.</summary>
    public void WorkerOnline(WorkerSlot slot)
    {
        _workerBusy.WithLabels(slot.Name, slot.Device).Set(0);
        _workerDuration.WithLabels(slot.Name);
    }

    public void WorkerBusy(WorkerSlot slot, bool busy) => _workerBusy.WithLabels(slot.Name, slot.Device).Set(busy ? 1 : 0);

    public void WorkerEnded(WorkerSlot slot, string outcome, TimeSpan ran)
    {
        _workerJobs.WithLabels(slot.Name, outcome).Inc();
        _workerDuration.WithLabels(slot.Name).Observe(Math.Max(0, ran.TotalSeconds));
    }

    public void Rejected(string reason) => _rejected.WithLabels(reason).Inc();

    public void Started(TimeSpan waited) => _queueWait.Observe(Math.Max(0, waited.TotalSeconds));

    public void Ended(string outcome, TimeSpan ran, TimeSpan sinceSubmission)
    {
        _jobsEnded.WithLabels(outcome).Inc();
        _jobDuration.WithLabels(outcome).Observe(Math.Max(0, ran.TotalSeconds));
        if (outcome != "requeued")
            _jobLatency.WithLabels(outcome).Observe(Math.Max(0, sinceSubmission.TotalSeconds));
    }

    public void Succeeded(GenerationResult result, TimeSpan ran)
    {
        foreach (var phase in result.Phases)
        {
            string name = phase.Phase.ToString().ToLowerInvariant();
            _phaseLastPeakBytes.WithLabels(name).Set(phase.PeakBytes);
            var highest = _phasePeakBytes.WithLabels(name);
            if (phase.PeakBytes > highest.Value) highest.Set(phase.PeakBytes);
        }
        _plansChosen.WithLabels(PlanLabel(result.PlanSummary)).Inc();
        _weightsPrecision.WithLabels(result.WeightsPrecision).Inc();
        if (result.OomRecoveries > 0) _oomRecoveries.Inc(result.OomRecoveries);
        lock (_averageGate)
            _averageRunSeconds = double.IsNaN(_averageRunSeconds) ? ran.TotalSeconds : 0.8 * _averageRunSeconds + 0.2 * ran.TotalSeconds;
    }

    // A label value must stay short and on one line; plans are a handful of distinct summaries.
    private static string PlanLabel(string summary)
    {
        string line = summary.ReplaceLineEndings(" ").Trim();
        return line.Length <= 120 ? line : line[..120];
    }
}
