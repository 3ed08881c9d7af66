using System.Diagnostics;
using TorchSharp;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Native;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>
/// The card's two rates a reference profile is scaled by, in about a second: the bf16 product of two 8192² matrices
/// (the figure <c>zimage doctor</c> reported on the reference card, so the ratio compares like with like) and
/// host-to-device copies from pinned and from pageable memory. <c>bench --calibrate</c> also times products of the
/// transformer's own shapes. <c>zimage doctor</c>, <c>plan</c>, the engine and <c>bench --calibrate</c> use it.
/// </summary>
public static class CardRateProbe
{
    /// <summary>One product of the transformer at 1024²: 4,224 sequence tokens (4,096 image + 128 caption) through the
    /// 3,840-wide projections and the 10,240-wide feed-forward.</summary>
    public static readonly IReadOnlyList<(long M, long K, long N)> TransformerShapes =
        [(4224, 3840, 3840), (4224, 3840, 10240), (4224, 10240, 3840)];

    /// <summary>Small enough for the CPU to run in a fraction of a second; the rate is the CPU's, not a card's.</summary>
    public static readonly IReadOnlyList<(long M, long K, long N)> CpuShapes = [(256, 512, 512), (256, 512, 1024)];

    private const long CopyBytes = 256L << 20;

    /// <summary>On a GPU the square matmul rate and both links; on the CPU null: there is no card to scale to.</summary>
    public static CardRates? Measure(ComputeDevice device)
    {
        if (!device.IsCuda) return null;
        return new CardRates(SquareMatmulTeraflops(device), HostToDeviceBytesPerSecond(device, pinned: true),
            HostToDeviceBytesPerSecond(device, pinned: false));
    }

    /// <summary>bf16 product of two n² matrices, n = 8192 on a GPU (512 on the CPU, to stay quick): the rate doctor
    /// reports and reference profiles record.</summary>
    public static double SquareMatmulTeraflops(ComputeDevice device)
    {
        long n = SquareSide(device);
        return MatmulTeraflops(device, torch.ScalarType.BFloat16, [(n, n, n)], minSeconds: device.IsCuda ? 0.1 : 0);
    }

    public static long SquareSide(ComputeDevice device) => device.IsCuda ? 8192 : 512;

    /// <summary>TFLOP/s of the given products (2·M·K·N each), after one warm-up round, repeated for at least
    /// <paramref name="minSeconds"/> (and three rounds).</summary>
    public static double MatmulTeraflops(ComputeDevice device, torch.ScalarType dtype, IReadOnlyList<(long M, long K, long N)> shapes,
        double minSeconds = 0.2)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var operands = shapes.Select(s => (A: torch.randn([s.M, s.K], dtype, device.Device), B: torch.randn([s.K, s.N], dtype, device.Device))).ToList();
        double flopsPerRound = shapes.Sum(s => 2.0 * s.M * s.K * s.N);
        void Round()
        {
            foreach (var (a, b) in operands) torch.mm(a, b).Dispose();
        }
        Round();
        Synchronize(device);
        var clock = Stopwatch.StartNew();
        int rounds = 0;
        do
        {
            Round();
            rounds++;
            if (rounds >= 3) Synchronize(device);
        } while (rounds < 3 || clock.Elapsed.TotalSeconds < minSeconds);
        Synchronize(device);
        return rounds * flopsPerRound / clock.Elapsed.TotalSeconds / 1e12;
    }

    /// <summary>Bytes per second of a 256 MiB host tensor copied to the device (best of five copies after a warm-up):
    /// page-locked memory (what streamed blocks are copied from) or ordinary memory.</summary>
    public static double HostToDeviceBytesPerSecond(ComputeDevice device, bool pinned)
    {
        if (!device.IsCuda) throw new InvalidOperationException("Host-to-device copies need a CUDA device.");
        var host = pinned ? PinnedHostMemory.Allocate([CopyBytes], torch.ScalarType.Byte) : torch.empty([CopyBytes], torch.ScalarType.Byte).DetachFromDisposeScope();
        try
        {
            using var target = torch.empty([CopyBytes], torch.ScalarType.Byte, device.Device);
            target.copy_(host, pinned);
            Synchronize(device);
            double best = double.MaxValue;
            for (int i = 0; i < 5; i++)
            {
                var clock = Stopwatch.StartNew();
                target.copy_(host, pinned);
                Synchronize(device);
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            return CopyBytes / best;
        }
        finally
        {
            if (pinned) PinnedHostMemory.Free(host);
            else host.Dispose();
        }
    }

    internal static void Synchronize(ComputeDevice device)
    {
        if (device.IsCuda) torch.cuda.synchronize(device.Device);
    }
}
