using Spectre.Console;
using TorchSharp;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Cuda.Kernels;
using ZImageSharp.Engine.Native;
using static TorchSharp.torch;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>
/// <c>zimage bench --kernels</c>: each own NVRTC kernel against the torch ops it replaces, on the device. The fused
/// SwiGLU rounds exactly as silu(a).mul(b) does, so the expected difference is zero; an element more than one bf16 ulp
/// off fails the check (exit 1), a one-ulp difference is reported as unexpected. Times are the median of timed runs between CUDA events on torch's stream.
/// </summary>
internal static class KernelBench
{
    private const int TimedRuns = 50;

    /// <summary>The DiT's feed-forward gate at 1024² (4096 image + 32 caption tokens, hidden 10240), then sizes that
    /// are not multiples of 8 (the scalar tail) and one that starts off a 16-byte boundary (the scalar kernel only).</summary>
    private static readonly (string Name, long[] Shape, long Offset)[] Cases =
    [
        ("dit ffn 1024²", [1, 4096 + 32, 10240], 0),
        ("odd 5x1021", [5, 1021], 0),
        ("odd 1x33x10239", [1, 33, 10239], 0),
        ("tiny 7", [7], 0),
        ("misaligned 3x4099 (+1 element)", [3, 4099], 1),
    ];

    public static int Run(BenchSettings settings)
    {
        var device = TorchRuntime.Initialize(settings.Device, settings.LibTorch);
        if (!device.IsCuda)
        {
            AnsiConsole.MarkupLine("[yellow]The own kernels are built by NVRTC and need a CUDA device; this process runs on the CPU, where the torch ops run. Nothing to check.[/]");
            return 0;
        }
        var status = OwnKernels.Status(device.Device);
        AnsiConsole.MarkupLineInterpolated($"[grey]device {device.Description}; own kernels: {status.Description}[/]");
        if (!status.Available)
        {
            AnsiConsole.MarkupLine("[red]The own kernels are not available here, so there is nothing to compare.[/]");
            BenchInputs.WriteJson(settings.Json, new { mode = "kernels", available = false, status = status.Description });
            return 1;
        }

        var table = new Table().AddColumns("case", "elements", "differing (out / in place)", "max |diff|", "torch ms", "fused ms", "torch in place ms", "fused in place ms");
        var rows = new List<object>();
        bool allEqual = true, allWithinUlp = true;
        foreach (var (name, shape, offset) in Cases)
        {
            using var scope = NewDisposeScope();
            long count = shape.Aggregate(1L, (x, y) => x * y);
            using var flatA = randn([count + offset], dtype: ScalarType.BFloat16, device: device.Device);
            using var flatB = randn([count + offset], dtype: ScalarType.BFloat16, device: device.Device);
            var a = flatA.narrow(0, offset, count).view(shape);
            var b = flatB.narrow(0, offset, count).view(shape);

            using var reference = FusedSwiGlu.Reference(a, b);
            using var fused = FusedSwiGlu.Run(a, b);
            // Copies keep a's offset, so the misaligned case stays misaligned in place too.
            Tensor CopyOfA() => flatA.clone().narrow(0, offset, count).view(shape);
            var inPlaceTarget = CopyOfA();
            FusedSwiGlu.RunInPlace(inPlaceTarget, b);
            cuda.synchronize();

            long differing = Differing(fused, reference);
            long differingInPlace = Differing(inPlaceTarget, reference);
            using var diff = (fused.to(ScalarType.Float32) - reference.to(ScalarType.Float32)).abs().max();
            float maxDiff = diff.item<float>();
            long beyondUlp = BeyondOneUlp(fused, reference) + BeyondOneUlp(inPlaceTarget, reference);
            allEqual &= differing == 0 && differingInPlace == 0;
            allWithinUlp &= beyondUlp == 0;

            double torchMs = Median(() => { using var o = FusedSwiGlu.Reference(a, b); });
            double fusedMs = Median(() => { using var o = FusedSwiGlu.Run(a, b); });
            double torchInPlaceMs = MedianInPlace(CopyOfA, t => { t.silu_(); t.mul_(b); });
            double fusedInPlaceMs = MedianInPlace(CopyOfA, t => FusedSwiGlu.RunInPlace(t, b));
            table.AddRow(Markup.Escape(name), count.ToString("N0"), $"{differing} / {differingInPlace}", $"{maxDiff:G3}",
                $"{torchMs:0.000}", $"{fusedMs:0.000}", $"{torchInPlaceMs:0.000}", $"{fusedInPlaceMs:0.000}");
            rows.Add(new { name, shape, offset_elements = offset, elements = count, differing, differing_in_place = differingInPlace, beyond_one_ulp = beyondUlp, max_abs_diff = maxDiff,
                torch_ms = torchMs, fused_ms = fusedMs, torch_in_place_ms = torchInPlaceMs, fused_in_place_ms = fusedInPlaceMs });
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(allEqual
            ? "[green]fused SwiGLU is bit-identical to silu(a).mul(b) in every case (expected: it rounds silu to bf16 before the product, as torch does).[/]"
            : allWithinUlp
                ? "[yellow]fused SwiGLU differs from silu(a).mul(b) by at most one bf16 ulp (expected 0 differing elements: torch's exp or rounding differs from the kernel's).[/]"
                : "[red]fused SwiGLU differs from silu(a).mul(b) by more than one bf16 ulp: the kernel is wrong.[/]");
        BenchInputs.WriteJson(settings.Json, new { mode = "kernels", available = true, status = status.Description, device = device.Description,
            timed_runs = TimedRuns, bit_identical = allEqual, within_one_ulp = allWithinUlp, swiglu = rows });
        AnsiConsole.MarkupLineInterpolated($"[grey]wrote {settings.Json}[/]");
        return allWithinUlp ? 0 : 1;
    }

    /// <summary>Elements further apart than one bf16 unit in the last place of the reference (8 significant bits:
    /// an ulp is at most 2^-7 of the value; zeros must match exactly).</summary>
    private static long BeyondOneUlp(Tensor x, Tensor reference)
    {
        using var scope = NewDisposeScope();
        using var ulp = (1.0 / 128).ToScalar();
        var r = reference.to(ScalarType.Float32);
        var diff = (x.to(ScalarType.Float32) - r).abs();
        return diff.gt(r.abs().mul(ulp)).sum().item<long>();
    }

    private static long Differing(Tensor x, Tensor y)
    {
        using var ne = x.ne(y);
        using var sum = ne.sum();
        return sum.item<long>();
    }

    /// <summary>Median milliseconds of <paramref name="op"/> between two CUDA events on torch's stream, after a
    /// warm-up run.</summary>
    private static double Median(Action op)
    {
        op();
        var times = new List<double>(TimedRuns);
        using var start = new CudaEvent(timing: true);
        using var end = new CudaEvent(timing: true);
        for (int i = 0; i < TimedRuns; i++)
        {
            start.RecordOnDefault();
            op();
            end.RecordOnDefault();
            end.Synchronize();
            times.Add(CudaEvent.ElapsedMilliseconds(start, end));
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>As <see cref="Median"/> for an in-place op, on a fresh <paramref name="copy"/> each run
    /// (copied outside the timed span).</summary>
    private static double MedianInPlace(Func<Tensor> copy, Action<Tensor> op)
    {
        var copies = new Queue<Tensor>();
        try
        {
            for (int i = 0; i <= TimedRuns; i++) copies.Enqueue(copy());
            return Median(() => { var t = copies.Dequeue(); op(t); t.Dispose(); });
        }
        finally
        {
            while (copies.Count > 0) copies.Dequeue().Dispose();
        }
    }
}
