using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Scheduling;

// Reference: ComfyUI comfy/k_diffusion/sampling.py (sample_euler, sample_euler_ancestral_RF, sample_dpmpp_2m,
//            sample_lcm, res_multistep) with comfy/model_sampling.py CONST (calculate_denoised, noise_scaling).

/// <summary>
/// One run of a sampler over a σ schedule: <see cref="Step"/> takes x at σ_i and the transformer's velocity there
/// and returns x at σ_{i+1}. The k-diffusion samplers work on the denoised prediction x0 = x + σ·v (Z-Image's v points
/// along t = 1 − σ, so ComfyUI's model output (x − x0)/σ is −v). Latents and arithmetic are float32; step
/// coefficients are computed in double from the float32 σ. A multistep sampler keeps the previous prediction until
/// it is disposed.
/// </summary>
public abstract class FlowSampler : IDisposable
{
    protected FlowSampler(float[] sigmas)
    {
        if (sigmas.Length < 2) throw new ArgumentException("A schedule has at least one step (two noise levels).", nameof(sigmas));
        Sigmas = sigmas;
    }

    public IReadOnlyList<float> Sigmas { get; }

    /// <summary>Steps of the schedule: one transformer evaluation (per guidance branch) each.</summary>
    public int Steps => Sigmas.Count - 1;

    /// <summary>Whether <see cref="Step"/> needs an <see cref="IStepNoise"/>.</summary>
    public virtual bool DrawsNoise => false;

    /// <summary>The run of <paramref name="sampler"/> (a <see cref="SamplerNames"/> name, any case) over <paramref name="sigmas"/>.</summary>
    /// <exception cref="ArgumentException">An unknown sampler (the request validator refuses those first).</exception>
    public static FlowSampler Create(string sampler, float[] sigmas) => sampler.ToLowerInvariant() switch
    {
        SamplerNames.Euler => new EulerSampler(sigmas),
        SamplerNames.EulerAncestral => new EulerAncestralSampler(sigmas),
        SamplerNames.ResMultistep => new ResMultistepSampler(sigmas),
        SamplerNames.DpmPp2M => new DpmPp2MSampler(sigmas),
        SamplerNames.Lcm => new LcmSampler(sigmas),
        _ => throw new ArgumentException($"Unknown sampler '{sampler}'; one of: {string.Join(", ", SamplerNames.All)}.", nameof(sampler)),
    };

    /// <param name="i">The step, 0 … <see cref="Steps"/> − 1, called in order.</param>
    /// <param name="latents">x at σ_i [B, …] float32; not modified.</param>
    /// <param name="velocity">The (guided) transformer output at σ_i, same shape.</param>
    /// <param name="noise">Required when <see cref="DrawsNoise"/>.</param>
    /// <returns>x at σ_{i+1}, float32, owned by the caller.</returns>
    public Tensor Step(int i, Tensor latents, Tensor velocity, IStepNoise? noise = null)
    {
        if (i < 0 || i >= Steps) throw new ArgumentOutOfRangeException(nameof(i), i, $"The schedule has {Steps} steps.");
        if (DrawsNoise && noise is null)
            throw new ArgumentException($"{GetType().Name} re-noises at every step: pass the request's step noise.", nameof(noise));
        using var scope = NewDisposeScope();
        var x = latents.to(ScalarType.Float32);
        var v = velocity.to(ScalarType.Float32);
        return Advance(i, x, v, Sigmas[i], Sigmas[i + 1], noise).MoveToOuterDisposeScope();
    }

    /// <summary>The step itself, inside a dispose scope that <see cref="Step"/> owns.</summary>
    protected abstract Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise);

    /// <summary>x0 = x + σ·v, k-diffusion's denoised prediction for Z-Image's velocity.</summary>
    protected static Tensor Denoised(Tensor x, Tensor velocity, double sigma)
    {
        using var s = sigma.ToScalar();
        return x.add(velocity, s);
    }

    /// <summary>a·x + b·y, with Scalars owned by the call (per-step values; see Scalars).</summary>
    protected static Tensor Combine(double a, Tensor x, double b, Tensor y)
    {
        using var sa = a.ToScalar();
        using var sb = b.ToScalar();
        return x.mul(sa).add_(y, sb);
    }

    /// <summary>eˣ − 1 without cancellation for small x (.NET has no expm1): Kahan's (u − 1)·x / ln u.</summary>
    protected static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        return double.IsInfinity(u) ? u : um1 * x / Math.Log(u);
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    protected virtual void Release() { }
}

/// <summary>Z-Image's step x + (σ_{i+1} − σ_i)·(−v), bit-identical to diffusers (ComfyUI's sample_euler, no churn).</summary>
internal sealed class EulerSampler(float[] sigmas) : FlowSampler(sigmas)
{
    protected override Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise) =>
        FlowMatchEulerScheduler.Step(x, velocity, Sigmas[i], Sigmas[i + 1]);
}

/// <summary>ComfyUI's Euler ancestral for flow models (eta 1, s_noise 1): an Euler step down to σ_down = σ_{i+1}²/σ_i,
/// then rescaled and re-noised up to σ_{i+1}; the last step lands on the prediction.</summary>
internal sealed class EulerAncestralSampler(float[] sigmas) : FlowSampler(sigmas)
{
    public override bool DrawsNoise => true;

    protected override Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise)
    {
        var denoised = Denoised(x, velocity, sigma);
        if (sigmaNext == 0) return denoised;
        const double eta = 1.0;
        double sigmaDown = sigmaNext * (1 + (sigmaNext / sigma - 1) * eta);
        double alphaNext = 1 - sigmaNext, alphaDown = 1 - sigmaDown;
        double renoise = Math.Sqrt(sigmaNext * sigmaNext - sigmaDown * sigmaDown * alphaNext * alphaNext / (alphaDown * alphaDown));
        double ratio = sigmaDown / sigma;
        var down = Combine(ratio, x, 1 - ratio, denoised);
        return Combine(alphaNext / alphaDown, down, renoise, noise!.Next(x));
    }
}

/// <summary>ComfyUI's DPM-Solver++(2M) in t = −ln σ (as ComfyUI runs it for every model type); the first step is
/// first order, the last one lands on the prediction.</summary>
internal sealed class DpmPp2MSampler(float[] sigmas) : FlowSampler(sigmas)
{
    private Tensor? previous;

    protected override Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise)
    {
        var denoised = Denoised(x, velocity, sigma);
        Tensor next;
        if (sigmaNext == 0)
            next = denoised;
        else
        {
            double t = -Math.Log(sigma), tNext = -Math.Log(sigmaNext), h = tNext - t;
            double decay = Math.Exp(-tNext) / Math.Exp(-t), gain = -Expm1(-h);
            var prediction = denoised;
            if (previous is not null)
            {
                double r = (t + Math.Log(Sigmas[i - 1])) / h;   // h_last / h, h_last = t − t(σ_{i−1})
                prediction = Combine(1 + 1 / (2 * r), denoised, -(1 / (2 * r)), previous);
            }
            next = Combine(decay, x, gain, prediction);
        }
        Keep(denoised);
        return next;
    }

    private void Keep(Tensor denoised)
    {
        previous?.Dispose();
        previous = denoised.detach().clone().DetachFromDisposeScope();
    }

    protected override void Release()
    {
        previous?.Dispose();
        previous = null;
    }
}

/// <summary>ComfyUI's res_multistep (eta 0, no CFG++): Euler for the first and last steps, otherwise the second-order
/// exponential multistep of arXiv 2308.02157 from the previous prediction.</summary>
internal sealed class ResMultistepSampler(float[] sigmas) : FlowSampler(sigmas)
{
    private Tensor? previous;
    private double previousSigmaDown;

    protected override Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise)
    {
        var denoised = Denoised(x, velocity, sigma);
        double sigmaDown = sigmaNext;                      // get_ancestral_step at eta 0
        Tensor next;
        if (sigmaDown == 0 || previous is null)
        {
            // x + d·(σ_down − σ) with d = (x − x0)/σ
            double dt = (sigmaDown - sigma) / sigma;
            next = Combine(1 + dt, x, -dt, denoised);
        }
        else
        {
            double t = -Math.Log(sigma), tOld = -Math.Log(previousSigmaDown), tNext = -Math.Log(sigmaDown);
            double tPrev = -Math.Log(Sigmas[i - 1]);
            double h = tNext - t, c2 = (tPrev - tOld) / h;
            double phi1 = Expm1(-h) / -h, phi2 = (phi1 - 1) / -h;
            double b1 = phi1 - phi2 / c2, b2 = phi2 / c2;
            if (!double.IsFinite(b1)) b1 = 0;              // torch.nan_to_num(nan = 0), as the reference does
            if (!double.IsFinite(b2)) b2 = 0;
            using var weight = (h * b2).ToScalar();
            next = Combine(Math.Exp(-h), x, h * b1, denoised).add_(previous, weight);
        }
        previous?.Dispose();
        previous = denoised.detach().clone().DetachFromDisposeScope();
        previousSigmaDown = sigmaDown;
        return next;
    }

    protected override void Release()
    {
        previous?.Dispose();
        previous = null;
    }
}

/// <summary>ComfyUI's LCM sampler (s_noise 1): x becomes the prediction, re-noised to σ_{i+1} as a flow model mixes
/// noise in: σ·ε + (1 − σ)·x0.</summary>
internal sealed class LcmSampler(float[] sigmas) : FlowSampler(sigmas)
{
    public override bool DrawsNoise => true;

    protected override Tensor Advance(int i, Tensor x, Tensor velocity, double sigma, double sigmaNext, IStepNoise? noise)
    {
        var denoised = Denoised(x, velocity, sigma);
        return sigmaNext > 0 ? Combine(1 - sigmaNext, denoised, sigmaNext, noise!.Next(x)) : denoised;
    }
}
