using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Host;
using ZImageSharp.Engine.Native;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>Which card a speed profile is for: the GPU by its name, memory and driver; the CPU by its model name and
/// the host's memory.</summary>
public static class CardIdentities
{
    public static CardIdentity Of(ComputeDevice device)
    {
        if (device.Memory is { } probe)
        {
            string driver = Nvml.DriverVersion() ?? (CudaRuntime.cudaDriverGetVersion(out int version) == 0 ? $"CUDA {version / 1000}.{version % 1000 / 10}" : "unknown");
            return new CardIdentity(CudaRuntime.DeviceName(probe.Device), probe.DeviceMemory().TotalBytes, driver);
        }
        return new CardIdentity($"CPU ({CpuModelName()})", HostMemoryProbe.Read()?.TotalBytes ?? 0, null);
    }

    /// <summary>The first "model name" of /proc/cpuinfo, else the architecture and thread count.</summary>
    internal static string CpuModelName(string cpuinfo = "/proc/cpuinfo")
    {
        try
        {
            foreach (var line in File.ReadLines(cpuinfo))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                    return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} threads";
    }
}
