using System.Diagnostics;

namespace ZImageSharp.Engine.Weights;

/// <summary>One pass over a weight source: how many bytes were read into tensor memory, and how fast.</summary>
public sealed record WeightReadResult(string Origin, int Tensors, long Bytes, TimeSpan Elapsed)
{
    public double GigabytesPerSecond => Elapsed.TotalSeconds > 0 ? Bytes / Elapsed.TotalSeconds / 1e9 : 0;

    public override string ToString() =>
        $"{Origin}: {Tensors} tensors, {Bytes / 1e9:F3} GB in {Elapsed.TotalSeconds:F3} s = {GigabytesPerSecond:F2} GB/s";
}

/// <summary>
/// Reads every tensor of a source into fresh CPU tensors, one at a time, and times it (for <c>zimage bench</c>).
/// Run it twice to see the warm page-cache rate; the first pass of a cold file measures the disk.
/// </summary>
public static class WeightReadBenchmark
{
    public static WeightReadResult Run(IWeightSource source, CancellationToken cancellationToken = default)
    {
        var names = source.Names.ToList();
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        foreach (var name in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var tensor = source.Read(name);
            bytes += tensor.numel() * tensor.element_size();
        }
        clock.Stop();
        return new WeightReadResult(source.Origin, names.Count, bytes, clock.Elapsed);
    }
}
