using ZImageSharp.Contracts;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Scheduling;

// Reference: ComfyUI comfy/samplers.py (simple_scheduler, beta_scheduler, calculate_sigmas), comfy/model_sampling.py
//            (ModelSamplingDiscreteFlow, time_snr_shift), comfy/k_diffusion/sampling.py (get_sigmas_karras).

/// <summary>
/// The σ schedules a request may name (<see cref="SchedulerNames"/>): N + 1 descending noise levels from 1 to the
/// terminal 0, float32 as the references compute them. Simple is Z-Image's own (diffusers'); beta and karras are
/// ComfyUI's, which read the flow model's 1000-entry σ table.
/// </summary>
public static class SigmaSchedules
{
    public const double BetaAlpha = 0.6, BetaBeta = 0.6, KarrasRho = 7.0;
    private const int TableSize = 1000;

    /// <exception cref="ArgumentException">An unknown scheduler name (the request validator refuses those first).</exception>
    public static float[] Sigmas(string scheduler, int steps, double shift)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of steps must be positive.");
        return scheduler.ToLowerInvariant() switch
        {
            SchedulerNames.Simple => FlowMatchEulerScheduler.Sigmas(steps, shift),
            SchedulerNames.Beta => Beta(steps, shift),
            SchedulerNames.Karras => Karras(steps, shift),
            _ => throw new ArgumentException(
                $"Unknown scheduler '{scheduler}'; one of: {string.Join(", ", SchedulerNames.All)}.", nameof(scheduler)),
        };
    }

    /// <summary>
    /// ComfyUI's ModelSamplingDiscreteFlow σ table: shift((i / 1000 · 1000) / 1000) for i = 1 … 1000, each operation
    /// in float32 as torch does it; ascending, ending at exactly 1.
    /// </summary>
    public static float[] FlowTable(double shift)
    {
        var table = new float[TableSize];
        float shiftF = (float)shift, shiftMinusOne = (float)(shift - 1.0);
        for (int i = 1; i <= TableSize; i++)
        {
            float t = (float)i / TableSize;
            t *= 1000f;          // ComfyUI's multiplier, applied and removed: it can move the value by an ulp
            t /= 1000f;
            table[i - 1] = shift == 1.0 ? t : shiftF * t / (1f + shiftMinusOne * t);
        }
        return table;
    }

    /// <summary>The table at Beta(0.6, 0.6) quantiles of 1 − i/N, rounded half to even to an index as numpy.rint
    /// does; a repeated index is dropped (this never happens for N ≤ 100: the tables in tests/data/samplers say so).</summary>
    public static float[] Beta(int steps, double shift)
    {
        var table = FlowTable(shift);
        var sigmas = new List<float>(steps + 1);
        int last = -1;
        double step = 1.0 / steps;
        for (int i = 0; i < steps; i++)
        {
            double quantile = BetaDistribution.Quantile(1.0 - i * step, BetaAlpha, BetaBeta) * (TableSize - 1);
            int index = (int)Math.Round(quantile, MidpointRounding.ToEven);
            if (index != last) sigmas.Add(table[index]);
            last = index;
        }
        sigmas.Add(0f);
        return [.. sigmas];
    }

    /// <summary>k-diffusion's Karras schedule (ρ = 7) from the table's smallest σ to its largest (1), in float32 over
    /// torch's linspace ramp, as ComfyUI calls it for a flow model.</summary>
    public static float[] Karras(int steps, double shift)
    {
        var table = FlowTable(shift);
        double minInv = Math.Pow(table[0], 1.0 / KarrasRho), maxInv = Math.Pow(table[^1], 1.0 / KarrasRho);
        float[] ramp;
        using (var line = linspace(0.0, 1.0, steps, dtype: ScalarType.Float32)) ramp = line.data<float>().ToArray();
        var sigmas = new float[steps + 1];
        float difference = (float)(minInv - maxInv), start = (float)maxInv;
        for (int i = 0; i < steps; i++)
            sigmas[i] = MathF.Pow(start + ramp[i] * difference, (float)KarrasRho);
        sigmas[steps] = 0f;
        return sigmas;
    }
}
