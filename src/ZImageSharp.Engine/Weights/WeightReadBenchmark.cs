using System.Diagnostics;

namespace ZImageSharp.Engine.Weights;

/// <summary>How the benchmark reads each tensor.</summary>
public enum WeightReadMode
{
    /// <summary>As <see cref="WeightLoader"/> does: into one reused staging buffer per dtype (memory faulted in once).</summary>
    Staged,

    /// <summary>Into a new tensor per read (<see cref="IWeightSource.Read"/>): adds a page fault per 4 KiB of fresh memory.</summary>
    FreshTensors,
}

/// <summary>One pass over a weight source: how many bytes were read into tensor memory, and how fast.</summary>
public sealed record WeightReadResult(string Origin, WeightReadMode Mode, int Tensors, long Bytes, TimeSpan Elapsed)
{
    public double GigabytesPerSecond => Elapsed.TotalSeconds > 0 ? Bytes / Elapsed.TotalSeconds / 1e9 : 0;

    public override string ToString() =>
        $"{Origin} ({Mode}): {Tensors} tensors, {Bytes / 1e9:F3} GB in {Elapsed.TotalSeconds:F3} s = {GigabytesPerSecond:F2} GB/s";
}

/// <summary>
/// Reads every tensor of a source into CPU memory, one at a time, and times it (for <c>zimage bench</c>). Run it twice
/// to see the warm page-cache rate; the first pass over a cold file measures the disk.
/// </summary>
public static class WeightReadBenchmark
{
    public static WeightReadResult Run(IWeightSource source, WeightReadMode mode = WeightReadMode.Staged,
        CancellationToken cancellationToken = default)
    {
        var names = source.Names.ToList();
        using var staging = new StagingBuffers();
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        foreach (var name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bytes += mode == WeightReadMode.Staged ? ReadStaged(source, name, staging) : ReadFresh(source, name);
        }
        clock.Stop();
        return new WeightReadResult(source.Origin, mode, names.Count, bytes, clock.Elapsed);
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
