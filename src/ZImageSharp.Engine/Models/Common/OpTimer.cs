using System.Diagnostics;
using System.Text;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// Receives a Begin/End pair around every named op of a forward pass (the DiT's <c>Profile</c> hook). Names repeat
/// across blocks, so an implementation aggregates per name. Nested names are allowed (an outer op's time includes its
/// inner ops'). Models call it only when one is installed: with none, profiling costs one null test per op.
/// </summary>
public interface IOpTimer
{
    void Begin(string op);
    void End(string op);
}

/// <summary>One op's aggregate: how often it ran and its summed wall time.</summary>
public sealed record OpTiming(string Name, int Calls, TimeSpan Total)
{
    public double TotalMs => Total.TotalMilliseconds;
    public double MeanMs => Calls == 0 ? 0 : TotalMs / Calls;
}

/// <summary>
/// Times ops on a stopwatch between two device synchronisations, so each op's time is the GPU time of its kernels
/// (plus their launch cost). The synchronisations serialise CPU and GPU, so the profiled forward is slower than a
/// normal one: use it to see where the time goes, not for the total.
/// </summary>
/// <param name="synchronize">Waits for the device, e.g. <c>() =&gt; torch.cuda.synchronize(device)</c>; a no-op on the CPU.</param>
public sealed class SynchronizedOpTimer(Action synchronize) : IOpTimer
{
    private readonly Dictionary<string, long> _started = [];
    private readonly Dictionary<string, (int Calls, long Ticks)> _totals = [];
    private readonly List<string> _order = [];

    public void Begin(string op)
    {
        synchronize();
        _started[op] = Stopwatch.GetTimestamp();
    }

    public void End(string op)
    {
        synchronize();
        long now = Stopwatch.GetTimestamp();
        if (!_started.Remove(op, out long start))
            throw new InvalidOperationException($"The op '{op}' ended without having begun.");
        if (!_totals.TryGetValue(op, out var total)) _order.Add(op);
        _totals[op] = (total.Calls + 1, total.Ticks + (now - start));
    }

    /// <summary>Per op name, in the order each name first ran.</summary>
    public IReadOnlyList<OpTiming> Results =>
        _order.Select(n => new OpTiming(n, _totals[n].Calls, Stopwatch.GetElapsedTime(0, _totals[n].Ticks))).ToList();

    public void Reset()
    {
        _started.Clear();
        _totals.Clear();
        _order.Clear();
    }

    /// <summary>A plain-text table: op, calls, total ms, mean ms, share of the summed time (the ops do not nest).</summary>
    public string Format()
    {
        var results = Results;
        double sum = results.Sum(r => r.TotalMs);
        var text = new StringBuilder();
        text.AppendLine($"{"op",-28} {"calls",6} {"total ms",10} {"mean ms",9} {"share",6}");
        foreach (var r in results.OrderByDescending(r => r.TotalMs))
            text.AppendLine($"{r.Name,-28} {r.Calls,6} {r.TotalMs,10:0.000} {r.MeanMs,9:0.000} {(sum > 0 ? r.TotalMs / sum : 0),6:P1}");
        return text.ToString();
    }
}

/// <summary><c>using (OpScope.Of(timer, "name")) { ... }</c>: Begin/End around a region, free when the timer is null.</summary>
public readonly struct OpScope : IDisposable
{
    private readonly IOpTimer? _timer;
    private readonly string _op;

    private OpScope(IOpTimer? timer, string op)
    {
        _timer = timer;
        _op = op;
    }

    public static OpScope Of(IOpTimer? timer, string op)
    {
        timer?.Begin(op);
        return new OpScope(timer, op);
    }

    public void Dispose() => _timer?.End(_op);
}
