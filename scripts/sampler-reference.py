#!/usr/bin/env python3
"""Reference tables for ZImageSharp's samplers and schedules, in plain Python floats (no torch, no numpy).

Writes tests/data/samplers/schedules.json and tests/data/samplers/trajectories.json, which the C# parity tests
(Category=Parity, SamplerParityTests) read. The math follows ComfyUI's k-diffusion samplers for flow-matching
models (model_sampling CONST / ModelSamplingDiscreteFlow: sigma = t, x_sigma = (1 - sigma) x0 + sigma noise) and
ComfyUI's simple/beta/karras schedules, written out again here from the formulas; scripts/gpu-sampler-reference.py
runs ComfyUI's own functions on the same toy model and compares them with these files.

Z-Image's transformer predicts v along t = 1 - sigma (the pipeline steps x + (sigma_next - sigma) * (-v)), so the
k-diffusion "denoised" prediction is x0 = x + sigma * v, and ComfyUI's model output (x - x0) / sigma is -v.

Usage: python3 scripts/sampler-reference.py [output folder, default tests/data/samplers]
"""
import json
import math
import os
import random
import struct
import sys


def f32(x):
    """Rounds a double to the nearest float32 (one IEEE single operation when x is an exact double result)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---------------------------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------------------------

def torch_linspace_f32(start, end, steps):
    """torch.linspace in float32 on the CPU: step in float32, the first half filled from start, the rest from end."""
    if steps == 1:
        return [f32(start)]
    start, end = f32(start), f32(end)
    step = f32((end - start) / f32(steps - 1))
    halfway = steps // 2
    return [f32(start + f32(step * i)) if i < halfway else f32(end - f32(step * (steps - 1 - i))) for i in range(steps)]


def shift_f32(shift, s):
    """shift * s / (1 + (shift - 1) * s), each operation in float32 (diffusers' and ComfyUI's order)."""
    if shift == 1.0:
        return s
    return f32(f32(f32(shift) * s) / f32(1.0 + f32(f32(shift - 1.0) * s)))


def simple_sigmas(steps, shift):
    """Z-Image's own schedule (diffusers' pipeline): linspace(1, 1/N, N) in float32, shifted, then 0."""
    return [shift_f32(shift, s) for s in torch_linspace_f32(1.0, 1.0 / steps, steps)] + [0.0]


def flow_table(shift, timesteps=1000, multiplier=1000):
    """ComfyUI's ModelSamplingDiscreteFlow.sigmas: shift((arange(1, T + 1) / T * multiplier) / multiplier), float32."""
    table = []
    for i in range(1, timesteps + 1):
        t = f32(f32(float(i) / timesteps) * multiplier)
        table.append(shift_f32(shift, f32(t / multiplier)))
    return table


def comfy_simple_sigmas(steps, shift):
    """ComfyUI's simple scheduler on the flow table (kept for comparison: equal to simple when N divides 1000)."""
    table = flow_table(shift)
    ss = len(table) / steps
    return [table[-(1 + int(x * ss))] for x in range(steps)] + [0.0]


def log_gamma(x):
    return math.lgamma(x)


def beta_cf(a, b, x):
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def beta_cdf(x, a, b):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(log_gamma(a + b) - log_gamma(a) - log_gamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * beta_cf(a, b, x) / a
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b


def beta_ppf(p, a, b):
    """Inverse of the Beta(a, b) CDF by bisection to the last bit (scipy.stats.beta.ppf's value)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if a == b and p == 0.5:
        return 0.5  # the median of a symmetric Beta, exactly (bisection stops one ulp short, and 0.5 * 999 is a tie)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if beta_cdf(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def beta_indices(steps, alpha=0.6, beta=0.6, total=999):
    """ComfyUI's beta scheduler before the table look-up: rint(ppf(1 - linspace(0, 1, N, endpoint=False)) * 999)."""
    indices, near_ties = [], []
    step = 1.0 / steps
    for i in range(steps):
        q = beta_ppf(1.0 - i * step, alpha, beta) * total
        frac = q - math.floor(q)
        if abs(frac - 0.5) < 1e-6 and frac != 0.5:  # exact ties (p = 0.5 for even N) are rint's half-to-even
            near_ties.append((steps, i, q))
        indices.append(int(round_half_even(q)))
    return indices, near_ties


def round_half_even(x):
    return float(round(x))  # Python's round is numpy.rint's round-half-to-even


def beta_sigmas(steps, shift):
    """ComfyUI's beta scheduler (alpha = beta = 0.6): the flow table at beta quantiles, repeats dropped, then 0."""
    table = flow_table(shift)
    indices, _ = beta_indices(steps)
    sigmas, last = [], -1
    for t in indices:
        if t != last:
            sigmas.append(table[t])
        last = t
    return sigmas + [0.0]


def karras_sigmas(steps, shift, rho=7.0):
    """k-diffusion's get_sigmas_karras between the flow table's sigma_min and sigma_max, as ComfyUI calls it."""
    table = flow_table(shift)
    sigma_min, sigma_max = table[0], table[-1]
    min_inv, max_inv = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    ramp = torch_linspace_f32(0.0, 1.0, steps)
    diff = f32(min_inv - max_inv)
    return [f32(f32(f32(max_inv) + f32(r * diff)) ** rho) for r in ramp] + [0.0]


SCHEDULES = {"simple": simple_sigmas, "beta": beta_sigmas, "karras": karras_sigmas}


# ---------------------------------------------------------------------------------------------------------------
# Samplers (ComfyUI k-diffusion, flow-matching branch), on lists of floats
# ---------------------------------------------------------------------------------------------------------------

def lin(*terms):
    """Sum of coefficient * vector terms."""
    n = len(terms[0][1])
    return [sum(c * v[j] for c, v in terms) for j in range(n)]


class ToyModel:
    """A fixed affine velocity field per sample: v(x, sigma) = M x + c + sigma e. denoised = x + sigma v."""

    def __init__(self, m, c, e):
        self.m, self.c, self.e = m, c, e

    def velocity(self, x, sigma):
        d = len(self.c)
        out = []
        for b in range(len(x) // d):
            xs = x[b * d:(b + 1) * d]
            for j in range(d):
                out.append(sum(self.m[j][k] * xs[k] for k in range(d)) + self.c[j] + sigma * self.e[j])
        return out

    def denoised(self, x, sigma):
        v = self.velocity(x, sigma)
        return [x[j] + sigma * v[j] for j in range(len(x))]


def euler(model, x, sigmas, noise):
    """Z-Image's (and ComfyUI's sample_euler with s_churn = 0) step x + (sigma_next - sigma) * (-v)."""
    out = []
    for i in range(len(sigmas) - 1):
        v = model.velocity(x, sigmas[i])
        x = lin((1.0, x), (-(sigmas[i + 1] - sigmas[i]), v))
        out.append(x)
    return out


def euler_ancestral(model, x, sigmas, noise, eta=1.0, s_noise=1.0):
    """sample_euler_ancestral_RF: step to sigma_down, then scale and re-noise to sigma_next."""
    out = []
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        den = model.denoised(x, s)
        if sn == 0:
            x = den
        else:
            downstep_ratio = 1 + (sn / s - 1) * eta
            sigma_down = sn * downstep_ratio
            alpha_ip1, alpha_down = 1 - sn, 1 - sigma_down
            renoise = (sn ** 2 - sigma_down ** 2 * alpha_ip1 ** 2 / alpha_down ** 2) ** 0.5
            ratio = sigma_down / s
            x = lin((ratio, x), (1 - ratio, den))
            x = lin((alpha_ip1 / alpha_down, x), (s_noise * renoise, noise[i]))
        out.append(x)
    return out


def dpmpp_2m(model, x, sigmas, noise):
    """sample_dpmpp_2m (t = -log sigma, as ComfyUI uses it for every model type)."""
    out, old = [], None
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        den = model.denoised(x, s)
        if sn == 0:
            x = den  # sigma_fn(inf) / sigma_fn(t) = 0 and -expm1(-inf) = 1
        else:
            t, tn = -math.log(s), -math.log(sn)
            h = tn - t
            if old is None:
                x = lin((math.exp(-tn) / math.exp(-t), x), (-math.expm1(-h), den))
            else:
                h_last = t - (-math.log(sigmas[i - 1]))
                r = h_last / h
                dd = lin((1 + 1 / (2 * r), den), (-(1 / (2 * r)), old))
                x = lin((math.exp(-tn) / math.exp(-t), x), (-math.expm1(-h), dd))
        old = den
        out.append(x)
    return out


def res_multistep(model, x, sigmas, noise):
    """sample_res_multistep (eta = 0, no CFG++): Euler first, then the second-order multistep of arXiv 2308.02157."""
    out, old, old_sigma_down = [], None, None
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        den = model.denoised(x, s)
        sigma_down = sn  # get_ancestral_step with eta = 0
        if sigma_down == 0 or old is None:
            d = [(x[j] - den[j]) / s for j in range(len(x))]
            x = lin((1.0, x), (sigma_down - s, d))
        else:
            t, t_old, t_next, t_prev = -math.log(s), -math.log(old_sigma_down), -math.log(sigma_down), -math.log(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1 = math.expm1(-h) / -h
            phi2 = (phi1 - 1.0) / -h
            b1, b2 = phi1 - phi2 / c2, phi2 / c2
            x = lin((math.exp(-h), x), (h * b1, den), (h * b2, old))
        old, old_sigma_down = den, sigma_down
        out.append(x)
    return out


def lcm(model, x, sigmas, noise):
    """sample_lcm (s_noise 1): jump to the denoised prediction, then CONST.noise_scaling to sigma_next."""
    out = []
    for i in range(len(sigmas) - 1):
        sn = sigmas[i + 1]
        x = model.denoised(x, sigmas[i])
        if sn > 0:
            x = lin((sn, noise[i]), (1.0 - sn, x))
        out.append(x)
    return out


SAMPLERS = {"euler": euler, "euler_ancestral": euler_ancestral, "res_multistep": res_multistep,
            "dpmpp_2m": dpmpp_2m, "lcm": lcm}
NOISY = {"euler_ancestral", "lcm"}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "samplers")
    os.makedirs(out_dir, exist_ok=True)

    step_counts = [1, 2, 3, 4, 6, 8, 9, 10, 12, 20, 30, 50, 100]
    shifts = [1.0, 3.0, 6.0]
    schedules = []
    for name, fn in SCHEDULES.items():
        for shift in shifts:
            for steps in step_counts:
                schedules.append({"scheduler": name, "steps": steps, "shift": shift, "sigmas": fn(steps, shift)})

    # Where ComfyUI's simple (on its 1000-entry table) and Z-Image's differ: only step counts that do not divide 1000.
    comfy_simple = [{"steps": n, "shift": 3.0, "sigmas": comfy_simple_sigmas(n, 3.0),
                     "max_abs_difference_from_simple": max(abs(a - b) for a, b in zip(comfy_simple_sigmas(n, 3.0), simple_sigmas(n, 3.0)))}
                    for n in step_counts]

    # The beta scheduler drops repeated table indices; record the step counts (1..100) where that shortens it.
    shortened, ties = [], []
    for n in range(1, 101):
        indices, near = beta_indices(n)
        ties += near
        if len(set(indices)) != n:
            shortened.append(n)

    with open(os.path.join(out_dir, "schedules.json"), "w") as f:
        json.dump({
            "description": "Sigma schedules (N + 1 values ending in 0) of scripts/sampler-reference.py; simple is Z-Image's "
                           "linspace(1, 1/N, N) shifted in float32, beta and karras are ComfyUI's on ModelSamplingDiscreteFlow.",
            "beta_alpha": 0.6, "beta_beta": 0.6, "karras_rho": 7.0,
            "beta_shortened_step_counts_1_to_100": shortened,
            "beta_near_rounding_ties": ties,
            "schedules": schedules,
            "comfyui_simple": comfy_simple,
        }, f, indent=1)

    rng = random.Random(20260511)
    batch, dim = 2, 4
    model = ToyModel(
        m=[[round(rng.uniform(-0.3, 0.3), 4) for _ in range(dim)] for _ in range(dim)],
        c=[round(rng.uniform(-0.5, 0.5), 4) for _ in range(dim)],
        e=[round(rng.uniform(-0.2, 0.2), 4) for _ in range(dim)])
    x_init = [round(rng.gauss(0.0, 1.0), 6) for _ in range(batch * dim)]
    cases = []
    for sampler in SAMPLERS:
        for scheduler, steps, shift in [("simple", 8, 3.0), ("beta", 9, 3.0), ("karras", 12, 3.0), ("simple", 5, 1.0)]:
            sigmas = SCHEDULES[scheduler](steps, shift)
            noise = [[round(rng.gauss(0.0, 1.0), 6) for _ in range(batch * dim)] for _ in range(len(sigmas) - 1)] \
                if sampler in NOISY else None
            trajectory = SAMPLERS[sampler](model, list(x_init), sigmas, noise)
            cases.append({"sampler": sampler, "scheduler": scheduler, "steps": steps, "shift": shift, "sigmas": sigmas,
                          "noise": noise, "trajectory": trajectory})

    with open(os.path.join(out_dir, "trajectories.json"), "w") as f:
        json.dump({
            "description": "Each sampler on a toy velocity field v(x, sigma) = M x + c + sigma e per sample "
                           "(denoised = x + sigma v), from x_init, with the stored standard-normal noise of each step "
                           "(samplers that draw noise); trajectory[i] is x after step i. scripts/sampler-reference.py.",
            "batch": batch, "dim": dim, "m": model.m, "c": model.c, "e": model.e, "x_init": x_init,
            "cases": cases,
        }, f, indent=1)

    print(f"wrote {len(schedules)} schedules and {len(cases)} trajectories to {os.path.abspath(out_dir)}")
    print(f"beta: step counts 1-100 it shortens: {shortened or 'none'}; near rounding ties: {ties or 'none'}")


if __name__ == "__main__":
    main()
