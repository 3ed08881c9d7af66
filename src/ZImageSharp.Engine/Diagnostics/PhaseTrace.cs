using System.Diagnostics;
using TorchSharp;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>Sub-phase timings on stderr when ZIMAGE_TRACE=1: a cheap way to see where a phase spends its time on a
/// machine without a profiler. Off, it costs one bool test.</summary>
public static class PhaseTrace
{
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("ZIMAGE_TRACE") == "1";

    /// <summary>Prints the time since the last mark (after synchronizing <paramref name="device"/> when it is CUDA) and restarts the clock.</summary>
    public static void Mark(string what, Stopwatch clock, torch.Device? device = null)
    {
        if (!Enabled) return;
        if (device is { type: DeviceType.CUDA }) torch.cuda.synchronize(device);
        Console.Error.WriteLine($"[trace] {what}: {clock.Elapsed.TotalMilliseconds:0.00} ms");
        clock.Restart();
    }
}
