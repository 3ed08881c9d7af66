using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Errors;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>
/// Stops a generation whose phase output holds NaN or ±Inf before it turns into a PNG: converted to bytes such values
/// clamp to black (NaN) or saturate, and nothing would say the picture is not one.
/// </summary>
internal static class FiniteCheck
{
    /// <summary>One float32 sum on the tensor's device: any NaN, or infinities, make it non-finite. Finite values as
    /// small as latents or pixels cannot overflow it.</summary>
    /// <param name="values">The phase's output.</param>
    /// <param name="phase">The phase that produced it.</param>
    /// <param name="what">What the values are, for the message ("latents", "decoded image").</param>
    /// <param name="hint">What usually causes it there and what to try.</param>
    public static void Ensure(Tensor values, GenerationPhase phase, string what, string hint)
    {
        using var total = values.sum(ScalarType.Float32);
        float sum = total.item<float>();
        if (float.IsFinite(sum)) return;
        string name = phase.ToString().ToLowerInvariant();
        throw new NonFiniteOutputException(name,
            $"The {name} phase produced non-finite values ({(float.IsNaN(sum) ? "NaN" : "infinity")} in the {what}), " +
            $"so no image was written. {hint}");
    }
}
