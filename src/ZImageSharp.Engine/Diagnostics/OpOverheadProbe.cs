using System.Diagnostics;
using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>One kind of call: how long the host spends issuing it, and how long it takes once the device has run it.</summary>
/// <param name="HostMicroseconds">Host time per call without waiting for the device (what limits a launch-bound phase).</param>
/// <param name="SynchronizedMicroseconds">Time per call including one synchronize at the end of the batch.</param>
public sealed record OpOverhead(string Op, int Calls, double HostMicroseconds, double SynchronizedMicroseconds);

/// <summary>
/// Measures what one TorchSharp call costs on the host for tiny tensors, where the kernel itself is negligible: the
/// text encoder over a short caption is about two thousand such calls, so this cost, not the GPU, sets its time.
/// </summary>
public static class OpOverheadProbe
{
    public static IReadOnlyList<OpOverhead> Measure(Device device, int calls = 5000)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var a = ones([1, 16, 128], ScalarType.BFloat16, device);
        var b = ones([1, 16, 128], ScalarType.BFloat16, device);
        var w = ones([128, 128], ScalarType.BFloat16, device);
        var rows = new List<OpOverhead>
        {
            Time("in-place add_ (no allocation)", device, calls, () => a.add_(b, Scalars.One)),
            Time("add (allocates, disposed at once)", device, calls, () => { using var r = a.add(b, Scalars.One); }),
            Time("add inside a dispose scope", device, calls, () => { using var s = NewDisposeScope(); var r = a.add(b, Scalars.One); }),
            Time("linear 16x128 · 128x128", device, calls, () => { using var r = nn.functional.linear(a, w); }),
            Time("view + transpose (no kernel)", device, calls, () => { using var v = a.view(16, 128); using var t = v.transpose(0, 1); }),
            Time("to(float32) copy", device, calls, () => { using var r = a.to(ScalarType.Float32); }),
            Time("shape read", device, calls, () => { _ = a.shape[^1]; }),
        };
        return rows;
    }

    private static OpOverhead Time(string op, Device device, int calls, Action body)
    {
        for (int i = 0; i < Math.Min(calls, 200); i++) body(); // warm: JIT tiers, allocator pools
        Synchronize(device);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++) body();
        double host = clock.Elapsed.TotalMicroseconds / calls;
        Synchronize(device);
        double synchronized = clock.Elapsed.TotalMicroseconds / calls;
        return new OpOverhead(op, calls, host, synchronized);
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }
}
