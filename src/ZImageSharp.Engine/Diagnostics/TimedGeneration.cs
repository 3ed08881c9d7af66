using System.Diagnostics;
using ZImageSharp.Contracts;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>One generation with synchronized clocks: per denoise step its whole time and its transformer forward
/// alone (<see cref="ForwardSpanTimer"/>), so the forward figure excludes the scheduler step and the preview.</summary>
public sealed record TimedGeneration(GenerationResult Result, IReadOnlyList<double> StepMs, IReadOnlyList<double> ForwardMs)
{
    /// <summary>Per step, what it cost beyond its forward (scheduler step, progress report, preview).</summary>
    public IReadOnlyList<double> StepOverheadMs => StepMs.Zip(ForwardMs, (step, forward) => Math.Max(0, step - forward)).ToList();

    public double PhaseMs(GenerationPhase phase) => Result.Phases.Where(p => p.Phase == phase).Sum(p => p.Elapsed.TotalMilliseconds);

    public long PhasePeakBytes(GenerationPhase phase) => Result.Phases.Where(p => p.Phase == phase).Select(p => p.PeakBytes).DefaultIfEmpty().Max();

    /// <summary>Runs <paramref name="request"/> once on <paramref name="engine"/>, timing it.</summary>
    public static TimedGeneration Run(ZImageEngine engine, GenerationRequest request, CancellationToken cancellationToken)
    {
        var device = engine.Device;
        void Sync() => CardRateProbe.Synchronize(device);
        var steps = new List<double>();
        var clock = Stopwatch.StartNew();
        var progress = new StepClock(p =>
        {
            if (p.Phase != GenerationPhase.Denoise) return;
            Sync();
            if (p.Step > 0) steps.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
        });
        var forwards = new ForwardSpanTimer(Sync);
        var transformer = engine.Models.Transformer;
        transformer.Profile = forwards;
        try
        {
            var result = engine.GenerateAsync(request, progress, cancellationToken).GetAwaiter().GetResult();
            return new TimedGeneration(result, steps, forwards.Milliseconds.ToList());
        }
        finally { transformer.Profile = null; }
    }

    /// <summary>Called on the engine's thread as each report is made (Progress&lt;T&gt; would post it elsewhere, late).</summary>
    private sealed class StepClock(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }

    /// <summary>The median (mean of the middle two for an even count); 0 for none.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return 0;
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
