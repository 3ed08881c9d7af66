using System.Diagnostics;

namespace ZImageSharp.Engine.Weights;

/// <summary>How the benchmark reads each tensor.</summary>
public enum WeightReadMode
{
    /// <summary>As <see cref="WeightLoader"/> does: into one reused staging buffer per dtype, faulted in before the clock starts.</summary>
    Staged,

    /// <summary>Into a new tensor per read (<see cref="IWeightSource.Read"/>): adds a page fault per 4 KiB of fresh memory.</summary>
    FreshTensors,
}

/// <summary>Passes over a weight source: bytes read per pass, the time of each pass, and the rate of the fastest.</summary>
public sealed record WeightReadResult(string Origin, WeightReadMode Mode, int Tensors, long Bytes, IReadOnlyList<TimeSpan> PassTimes)
{
    public TimeSpan Fastest => PassTimes.Min();

    public double GigabytesPerSecond => Fastest.TotalSeconds > 0 ? Bytes / Fastest.TotalSeconds / 1e9 : 0;

    public override string ToString() =>
        $"{Origin} ({Mode}): {Tensors} tensors, {Bytes / 1e9:F3} GB, passes " +
        string.Join(", ", PassTimes.Select(t => $"{Bytes / t.TotalSeconds / 1e9:F2}")) + $" GB/s; best {GigabytesPerSecond:F2} GB/s";
}

/// <summary>
/// Reads every tensor of a source into CPU memory, one at a time, <c>passes</c> times, and times each pass (for
/// <c>zimage bench</c>). The first pass over a cold file measures the disk; later passes the warm page cache.
/// </summary>
public static class WeightReadBenchmark
{
    public static WeightReadResult Run(IWeightSource source, WeightReadMode mode = WeightReadMode.Staged, int passes = 1,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        var names = source.Names.ToList();
        using var staging = new StagingBuffers();
        if (mode == WeightReadMode.Staged)
        {
            // The loader faults its staging buffer in once per load (≤ one tensor against gigabytes); keep that out of the rate.
            foreach (var group in names.Select(source.Describe).GroupBy(e => e.DType))
                staging.Reserve(SafetensorsDType.ToScalarType(group.Key), group.Max(e => e.ElementCount));
        }
        var times = new List<TimeSpan>();
        long bytes = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            bytes = 0;
            var clock = Stopwatch.StartNew();
            foreach (var name in names)
            {
                cancellationToken.ThrowIfCancellationRequested();
                bytes += mode == WeightReadMode.Staged ? ReadStaged(source, name, staging) : ReadFresh(source, name);
            }
            times.Add(clock.Elapsed);
        }
        return new WeightReadResult(source.Origin, mode, names.Count, bytes, times);
    }

    private static long ReadStaged(IWeightSource source, string name, StagingBuffers staging)
    {
        var entry = source.Describe(name);
        if (source is not IDirectReadSource direct || !direct.CanReadInto(name)) return ReadFresh(source, name);
        using var buffer = staging.Get(SafetensorsDType.ToScalarType(entry.DType), entry.Shape);
        direct.ReadInto(name, buffer);
        return entry.ByteCount;
    }

    private static long ReadFresh(IWeightSource source, string name)
    {
        using var tensor = source.Read(name);
        return tensor.numel() * tensor.element_size();
    }
}
