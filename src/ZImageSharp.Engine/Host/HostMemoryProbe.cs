using System.Globalization;

namespace ZImageSharp.Engine.Host;

/// <summary>What the host can give this process, read the way the kernel will enforce it.</summary>
/// <param name="AvailableBytes">MemAvailable, bounded by the cgroup limit less the cgroup's non-reclaimable use.</param>
/// <param name="Source">Which bound applied: "MemAvailable" or "cgroup memory.max".</param>
/// <param name="ProcessResidentBytes">This process's resident set (VmRSS).</param>
/// <param name="CgroupLimitBytes">The cgroup v2 memory.max when one is set.</param>
public sealed record HostMemory(long AvailableBytes, string Source, long ProcessResidentBytes, long? CgroupLimitBytes, long TotalBytes);

/// <summary>
/// Reads host memory from /proc and the cgroup v2 files. Page cache counts as available (the kernel reclaims it
/// before it kills anything), both in MemAvailable and in a cgroup, whose <c>memory.current</c> includes it.
/// </summary>
public static class HostMemoryProbe
{
    /// <summary>The current reading; null where /proc/meminfo cannot be read (not Linux).</summary>
    public static HostMemory? Read(string procRoot = "/proc", string cgroupRoot = "/sys/fs/cgroup")
    {
        var meminfo = ReadKeyValues(Path.Combine(procRoot, "meminfo"), kib: true);
        if (meminfo is null || !meminfo.TryGetValue("MemAvailable", out long available)) return null;
        long total = meminfo.GetValueOrDefault("MemTotal", available);
        long rss = ReadKeyValues(Path.Combine(procRoot, "self", "status"), kib: true)?.GetValueOrDefault("VmRSS") ?? 0;
        string source = "MemAvailable";
        long? limit = CgroupLimit(procRoot, cgroupRoot, out string? cgroupDir);
        if (limit is { } max && cgroupDir is not null)
        {
            // Only inactive page cache is counted as free to take: active and mapped file pages (the CUDA libraries)
            // are not given up quickly, and a limit is enforced by killing. Never more than the limit less this
            // process's own resident set, whatever the counters say (the H200 run of 2026-12-03 read a 16 GiB
            // cgroup as 21.7 GiB available through memory.current - file and the child was killed).
            long current = ReadNumber(Path.Combine(cgroupDir, "memory.current")) ?? max;
            long inactiveFile = ReadKeyValues(Path.Combine(cgroupDir, "memory.stat"), kib: false)?.GetValueOrDefault("inactive_file") ?? 0;
            long cgroupAvailable = Math.Max(0, Math.Min(max - current + inactiveFile, max - rss));
            if (cgroupAvailable < available)
            {
                available = cgroupAvailable;
                source = "cgroup memory.max";
            }
        }
        return new HostMemory(available, source, rss, limit, limit is { } l ? Math.Min(l, total) : total);
    }

    /// <summary>The memory.max of this process's cgroup (v2), or of the nearest ancestor that sets one.</summary>
    private static long? CgroupLimit(string procRoot, string cgroupRoot, out string? directory)
    {
        directory = null;
        string? line = null;
        try
        {
            line = File.ReadLines(Path.Combine(procRoot, "self", "cgroup")).FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (line is null) return null;
        string relative = line[3..].Trim().TrimStart('/');
        for (var dir = Path.Combine(cgroupRoot, relative); dir.Length >= cgroupRoot.Length; dir = Path.GetDirectoryName(dir) ?? "")
        {
            string maxFile = Path.Combine(dir, "memory.max");
            if (File.Exists(maxFile) && ReadNumber(maxFile) is { } max)
            {
                directory = dir;
                return max;
            }
            if (dir.Length == cgroupRoot.Length) break;
        }
        return null;
    }

    private static long? ReadNumber(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null; // "max" → null
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>"Key: value [kB]" or "key value" lines; values in bytes.</summary>
    private static Dictionary<string, long>? ReadKeyValues(string path, bool kib)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var parts = line.Split([' ', ':', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                values[parts[0]] = kib && parts.Length >= 3 && parts[2] == "kB" ? value * 1024 : value;
        }
        return values;
    }
}
