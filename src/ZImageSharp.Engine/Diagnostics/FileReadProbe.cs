using System.Diagnostics;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>How fast weight bytes come off a file when the page cache holds them (what loading a component from its
/// files costs at best; conversion and placement come on top and are not in this figure).</summary>
public static class FileReadProbe
{
    private const int BufferBytes = 16 << 20;

    /// <summary>Reads up to <paramref name="maxBytes"/> of <paramref name="file"/> twice and times the second, warm read;
    /// without a file, writes a temporary one of that size (so it sits in the page cache), times reading it back and
    /// deletes it.</summary>
    public static (double BytesPerSecond, string Source) Measure(string? file, long maxBytes)
    {
        if (file is not null)
        {
            long bytes = Math.Min(new FileInfo(file).Length, maxBytes);
            Read(file, bytes);
            return (bytes / Timed(() => Read(file, bytes)), $"{bytes >> 20} MiB of {file}, warm page cache");
        }
        string temp = Path.Combine(Path.GetTempPath(), $"zimage-read-probe-{Environment.ProcessId}.bin");
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, BufferBytes))
            {
                var chunk = new byte[BufferBytes];
                Random.Shared.NextBytes(chunk);
                for (long written = 0; written < maxBytes; written += chunk.Length)
                    stream.Write(chunk, 0, (int)Math.Min(chunk.Length, maxBytes - written));
            }
            return (maxBytes / Timed(() => Read(temp, maxBytes)), $"a {maxBytes >> 20} MiB temporary file just written (page cache; no weight file given)");
        }
        finally { File.Delete(temp); }
    }

    private static double Timed(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
    }

    private static void Read(string file, long bytes)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = new byte[BufferBytes];
        long left = bytes;
        while (left > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read == 0) break;
            left -= read;
        }
    }
}
