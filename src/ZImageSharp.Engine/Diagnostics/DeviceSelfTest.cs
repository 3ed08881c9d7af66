using TorchSharp;
using ZImageSharp.Engine.Native;

namespace ZImageSharp.Engine.Diagnostics;

public sealed record SelfTestResult(string Check, string Outcome, bool Passed);

/// <summary>
/// A short proof that the device works end to end: a bf16 matrix product, the pool statistics that the memory planner
/// relies on, a caught out-of-memory error, and trimming back to the baseline. `zimage doctor` runs it.
/// </summary>
public static class DeviceSelfTest
{
    public static IReadOnlyList<SelfTestResult> Run(ComputeDevice device)
    {
        var results = new List<SelfTestResult>();
        var dev = device.Device;
        {
            long n = CardRateProbe.SquareSide(device);
            double tflops = CardRateProbe.SquareMatmulTeraflops(device);
            results.Add(new($"bf16 matmul {n}³", $"{tflops:0.00} TFLOP/s", tflops > 0));
        }
        if (device.Memory is not { } probe) return results;

        probe.Trim();
        var baseline = probe.Pool();
        probe.ResetPeak();
        using (var block = torch.empty([1L << 30], torch.uint8, device.Device))
        {
            var during = probe.Pool();
            bool exact = during.AllocatedBytes - baseline.AllocatedBytes == 1L << 30;
            results.Add(new("pool statistics", $"1 GiB tensor seen as {during.AllocatedBytes - baseline.AllocatedBytes} bytes allocated, peak {during.PeakAllocatedBytes}", exact));
        }
        try
        {
            var memory = probe.DeviceMemory();
            using var tooLarge = torch.empty([memory.TotalBytes * 2], torch.uint8, device.Device);
            results.Add(new("out-of-memory is catchable", "an allocation of twice the card succeeded?!", false));
        }
        catch (Exception e)
        {
            results.Add(new("out-of-memory is catchable", $"{e.GetType().Name}: {e.Message.Split('\n')[0]}", OutOfMemory.IsOutOfMemory(e)));
        }
        probe.Trim();
        var after = probe.Pool();
        results.Add(new("trim returns memory", $"allocated {after.AllocatedBytes} B, reserved {after.ReservedBytes} B after trim (baseline {baseline.AllocatedBytes} B)",
            after.AllocatedBytes == baseline.AllocatedBytes));
        return results;
    }

    private static void Synchronize(ComputeDevice device)
    {
        if (device.IsCuda) torch.cuda.synchronize(device.Device);
    }
}
