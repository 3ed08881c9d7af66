using ZImageSharp.Engine.Host;
using ZImageSharp.Engine.Tests.Weights;

namespace ZImageSharp.Engine.Tests.Host;

/// <summary>The host reading on fake /proc and cgroup v2 trees: the bound the kernel will enforce wins.</summary>
public sealed class HostMemoryProbeTests : IDisposable
{
    private const long GiB = 1L << 30;
    private readonly TempFolder _root = new();

    public void Dispose() => _root.Dispose();

    private (string Proc, string Cgroup) Tree(long availableKiB, long rssKiB, string? cgroup = null,
        long? max = null, long current = 0, long inactiveFile = 0, long file = 0)
    {
        File.WriteAllText(_root.File("proc/meminfo"), $"MemTotal:       {64 * 1024 * 1024} kB\nMemAvailable:   {availableKiB} kB\n");
        File.WriteAllText(_root.File("proc/self/status"), $"Name:\tzimage\nVmRSS:\t{rssKiB} kB\n");
        File.WriteAllText(_root.File("proc/self/cgroup"), $"0::/{cgroup ?? ""}\n");
        if (cgroup is not null)
        {
            File.WriteAllText(_root.File($"cg/{cgroup}/memory.max"), max is { } m ? $"{m}\n" : "max\n");
            File.WriteAllText(_root.File($"cg/{cgroup}/memory.current"), $"{current}\n");
            File.WriteAllText(_root.File($"cg/{cgroup}/memory.stat"), $"anon {current - file}\nfile {file}\ninactive_file {inactiveFile}\n");
        }
        Directory.CreateDirectory(Path.Combine(_root.Path, "cg"));
        return (Path.Combine(_root.Path, "proc"), Path.Combine(_root.Path, "cg"));
    }

    [Fact]
    public void WithoutACgroupLimitMemAvailableIsTheBound()
    {
        var (proc, cg) = Tree(availableKiB: 100L * 1024 * 1024, rssKiB: 2 * 1024 * 1024);
        var memory = HostMemoryProbe.Read(proc, cg)!;
        Assert.Equal(100 * GiB, memory.AvailableBytes);
        Assert.Equal("MemAvailable", memory.Source);
        Assert.Equal(2 * GiB, memory.ProcessResidentBytes);
        Assert.Null(memory.CgroupLimitBytes);
    }

    [Fact]
    public void ACgroupLimitCountsOnlyInactivePageCacheAsFree()
    {
        var (proc, cg) = Tree(availableKiB: 100L * 1024 * 1024, rssKiB: 1024 * 1024, cgroup: "zimage",
            max: 16 * GiB, current: 4 * GiB, inactiveFile: 1 * GiB, file: 3 * GiB);
        var memory = HostMemoryProbe.Read(proc, cg)!;
        Assert.Equal(13 * GiB, memory.AvailableBytes); // 16 − 4 + 1 (inactive page cache), not + 3 (all of it)
        Assert.Equal("cgroup memory.max", memory.Source);
        Assert.Equal(16 * GiB, memory.CgroupLimitBytes);
    }

    [Fact]
    public void NeverMoreThanTheLimitLessThisProcessWhateverTheCountersSay()
    {
        // Counters that disagree with each other (a process moved in after it allocated): RSS still bounds it.
        var (proc, cg) = Tree(availableKiB: 100L * 1024 * 1024, rssKiB: 2L * 1024 * 1024, cgroup: "zimage",
            max: 16 * GiB, current: 0, inactiveFile: 6 * GiB);
        var memory = HostMemoryProbe.Read(proc, cg)!;
        Assert.Equal(14 * GiB, memory.AvailableBytes);
    }

    [Fact]
    public void AnUnlimitedCgroupLeavesMemAvailable()
    {
        var (proc, cg) = Tree(availableKiB: 20L * 1024 * 1024, rssKiB: 1024, cgroup: "zimage", max: null);
        var memory = HostMemoryProbe.Read(proc, cg)!;
        Assert.Equal(20 * GiB, memory.AvailableBytes);
        Assert.Equal("MemAvailable", memory.Source);
    }
}
