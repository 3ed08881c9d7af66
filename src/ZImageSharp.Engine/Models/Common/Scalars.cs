using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// The engine's constant TorchSharp <see cref="Scalar"/>s, made once and held for the life of the process.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 hands libtorch only a Scalar's raw handle and frees the native value in the Scalar's finalizer,
/// and no dispose scope tracks Scalars. A Scalar that nothing references after its handle is read (every implicit
/// conversion: <c>x + 1.0</c>, <c>addcmul(a, b, c, 1.0)</c>, and the ones TorchSharp makes inside <c>a + b</c>
/// (alpha = 1), <c>linalg.vector_norm(x, 2)</c> or <c>arange(n)</c>) can therefore be finalized by a collection
/// that runs while the op is still inside libtorch, which then reads freed memory: "Expected false to be true …
/// toFloat at c10/core/Scalar.h" or, worse, a wrong value. Allocation pressure from other threads (a server
/// streaming progress to many clients) makes such collections frequent (issue #10).
/// So every Scalar the engine passes is either one of these, which this class keeps reachable, or a <c>using</c>
/// local of the calling method for a value that changes per call (a step's σ difference). The engine's compiled
/// code is checked for anything else by <c>ScalarOwnershipTests</c>.
/// </remarks>
internal static class Scalars
{
    private static readonly ConcurrentDictionary<double, Scalar> Cache = new();

    public static Scalar Zero { get; } = Of(0.0);
    public static Scalar One { get; } = Of(1.0);
    public static Scalar True { get; } = true.ToScalar();

    /// <summary>
    /// The process-lifetime Scalar of <paramref name="value"/>, a constant of the code or of a model's config
    /// (1/dim, eps, a VAE scaling factor): the cache never shrinks, so per-call values do not belong here.
    /// </summary>
    public static Scalar Of(double value) => Cache.GetOrAdd(value, static v => v.ToScalar());

    /// <summary><c>arange(start, end, step)</c> with Scalars it owns for the call (TorchSharp's shorter overloads
    /// convert their defaults internally).</summary>
    public static Tensor Arange(long start, long end, long step, ScalarType dtype, Device device)
    {
        using var first = start.ToScalar();
        using var last = end.ToScalar();
        using var stride = step.ToScalar();
        return arange(first, last, stride, dtype, device);
    }

    /// <summary><c>arange(end)</c>: 0, 1, …, end − 1.</summary>
    public static Tensor Arange(long end, ScalarType dtype, Device device) => Arange(0, end, 1, dtype, device);
}
