using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Scheduling;

// Reference: diffusers src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py (static shift) and
//            src/diffusers/pipelines/z_image/pipeline_z_image.py (sigmas = linspace(1, 1/N, N), t = (1000 − timestep)/1000)

/// <summary>
/// Flow-matching Euler schedule with a static shift, stateless: <see cref="Sigmas"/> returns the whole schedule and
/// <see cref="Step"/> is one update. All arithmetic is float32 in the reference's order, so the values are
/// bit-identical to diffusers' (σ_i, timesteps, model time).
/// </summary>
public sealed class FlowMatchEulerScheduler
{
    /// <summary>Z-Image-Turbo's scheduler_config.json: shift 3.0, 1000 training timesteps, no dynamic shifting.</summary>
    public static FlowMatchEulerScheduler ZImageTurbo { get; } = new(shift: 3.0, numTrainTimesteps: 1000);

    public FlowMatchEulerScheduler(double shift = 1.0, int numTrainTimesteps = 1000)
    {
        if (!(shift > 0)) throw new ArgumentOutOfRangeException(nameof(shift), shift, "The shift must be positive.");
        if (numTrainTimesteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(numTrainTimesteps), numTrainTimesteps, "num_train_timesteps must be positive.");
        Shift = shift;
        NumTrainTimesteps = numTrainTimesteps;
    }

    /// <summary>σ' = shift·σ / (1 + (shift − 1)·σ).</summary>
    public double Shift { get; }
    public int NumTrainTimesteps { get; }

    /// <summary>
    /// The N + 1 noise levels σ_0 = 1 … σ_{N−1}, then the terminal 0: the unshifted σ are torch's float32
    /// <c>linspace(1, 1/N, N)</c>, then shifted in float32.
    /// </summary>
    public float[] Sigmas(int steps)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of steps must be positive.");
        var sigmas = new float[steps + 1];
        float shift = (float)Shift, shiftMinusOne = (float)(Shift - 1.0);
        float[] unshifted;
        // libtorch's own linspace: its float32 rounding (it fills from both ends) differs from a float64 linspace
        // cast to float32 by one ulp for some N (e.g. 0.45 at N = 20), and the reference uses torch's.
        using (var line = linspace(1.0, 1.0 / steps, steps, dtype: ScalarType.Float32)) unshifted = line.data<float>().ToArray();
        for (int i = 0; i < steps; i++)
        {
            float s = unshifted[i];
            sigmas[i] = shift * s / (1f + shiftMinusOne * s);
        }
        sigmas[steps] = 0f;
        return sigmas;
    }

    /// <summary>Same as <see cref="Sigmas(int)"/> with another shift (the schedule is a pure function of both).</summary>
    public static float[] Sigmas(int steps, double shift) => new FlowMatchEulerScheduler(shift).Sigmas(steps);

    /// <summary>The N diffusers timesteps σ_i · num_train_timesteps (float32; the terminal σ has none).</summary>
    public float[] Timesteps(int steps) => Sigmas(steps).Take(steps).Select(s => s * NumTrainTimesteps).ToArray();

    /// <summary>
    /// The transformer's time input for a timestep: (1000 − timestep) / 1000 in float32, ≈ 1 − σ (0 at pure noise),
    /// exactly as the pipeline computes it.
    /// </summary>
    public float ModelTime(float timestep) => (NumTrainTimesteps - timestep) / NumTrainTimesteps;

    /// <summary>
    /// One Euler step x + (σ_next − σ)·(−v): the transformer predicts the velocity along t = 1 − σ, which the
    /// pipeline negates. Float32 throughout; returns a new tensor.
    /// </summary>
    /// <param name="latents">x at σ (float32).</param>
    /// <param name="velocity">The transformer output v (cast to float32 here).</param>
    public static Tensor Step(Tensor latents, Tensor velocity, float sigma, float sigmaNext)
    {
        using var scope = NewDisposeScope();
        using var dt = (sigmaNext - sigma).ToScalar();                  // per step, so owned here (Scalars)
        var update = velocity.to(ScalarType.Float32).neg().mul_(dt);
        return latents.to(ScalarType.Float32).add(update, Scalars.One).MoveToOuterDisposeScope();
    }
}
