using ZImageSharp.Engine.Models.Common;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>
/// Times whole transformer forwards and nothing else: installed as the transformer's <c>Profile</c>, it synchronizes
/// the device only where a forward starts (its embedding) and where it ends (its final layer), and ignores every op in
/// between, so the forwards run as they do unprofiled. What a denoise step does around its forward (the scheduler step,
/// progress, the preview) falls outside the span.
/// </summary>
public sealed class ForwardSpanTimer(Action synchronize) : IOpTimer
{
    // The first and last stage names of ZImageTransformer.forward (ForwardSpanTimerTests fails if they change).
    internal const string FirstStage = "embed + rope tables";
    internal const string LastStage = "final layer";

    private readonly List<double> _milliseconds = [];
    private long _start = -1;

    /// <summary>Each finished forward's milliseconds, in order.</summary>
    public IReadOnlyList<double> Milliseconds => _milliseconds;

    public void Begin(string op)
    {
        if (op != FirstStage) return;
        synchronize();
        _start = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public void End(string op)
    {
        if (op != LastStage || _start < 0) return;
        synchronize();
        _milliseconds.Add(System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalMilliseconds);
        _start = -1;
    }
}
