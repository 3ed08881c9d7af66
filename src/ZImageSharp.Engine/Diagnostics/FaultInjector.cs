using System.Runtime.InteropServices;
using ZImageSharp.Contracts;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>Named points where a fault can be forced, one per phase that touches device memory.</summary>
public enum FaultPoint { Encode, Denoise, Decode }

/// <summary>Forces failures at named points so recovery is tested without a GPU. The default does nothing.</summary>
public interface IFaultInjector
{
    void At(FaultPoint point);
}

public sealed class NoFaults : IFaultInjector
{
    public static NoFaults Instance { get; } = new();
    public void At(FaultPoint point) { }
}

/// <summary>
/// Throws an out-of-memory error shaped exactly like libtorch's (an <see cref="ExternalException"/> whose message
/// contains "(out of memory)") the first <c>times</c> a point is reached. Armed from tests or with
/// <c>--inject-oom denoise:2,decode</c>.
/// </summary>
public sealed class OutOfMemoryInjector : IFaultInjector
{
    private readonly Dictionary<FaultPoint, int> _remaining;
    private readonly Lock _gate = new();

    public OutOfMemoryInjector(IReadOnlyDictionary<FaultPoint, int> times) => _remaining = new(times);

    /// <summary>Parses "encode", "denoise:3,decode" (a count after the colon; 1 when omitted).</summary>
    public static OutOfMemoryInjector Parse(string spec)
    {
        var times = new Dictionary<FaultPoint, int>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':', 2);
            if (!Enum.TryParse<FaultPoint>(pieces[0], ignoreCase: true, out var point))
                throw new ArgumentException($"--inject-oom: '{pieces[0]}' is not a phase (encode, denoise, decode).");
            int count = 1;
            if (pieces.Length == 2 && (!int.TryParse(pieces[1], out count) || count < 1))
                throw new ArgumentException($"--inject-oom: '{part}' needs a positive count after the colon.");
            times[point] = times.GetValueOrDefault(point) + count;
        }
        return new OutOfMemoryInjector(times);
    }

    public int Remaining(FaultPoint point)
    {
        lock (_gate) return _remaining.GetValueOrDefault(point);
    }

    public void At(FaultPoint point)
    {
        lock (_gate)
        {
            if (_remaining.GetValueOrDefault(point) <= 0) return;
            _remaining[point]--;
        }
        throw new InjectedOutOfMemoryException(point);
    }
}

public sealed class InjectedOutOfMemoryException(FaultPoint point)
    : ExternalException($"CUDA error: out of memory (out of memory) [injected at {point}]");

internal static class FaultPoints
{
    public static FaultPoint For(GenerationPhase phase) => phase switch
    {
        GenerationPhase.Encode => FaultPoint.Encode,
        GenerationPhase.Denoise => FaultPoint.Denoise,
        GenerationPhase.Decode => FaultPoint.Decode,
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "No fault point for this phase."),
    };
}
