#!/usr/bin/env python3
"""Reference table for ZImageSharp's classifier-free guidance, in plain Python floats (no torch, no numpy).

Writes tests/data/guidance/cfg.json, which GuidanceReferenceTests (tests/ZImageSharp.Engine.Tests/Pipeline) reads. The
math is diffusers' ZImagePipeline.__call__ (src/diffusers/pipelines/z_image/pipeline_z_image.py, step 6), written out
again here:

- cfg_truncation: with CFG on and cfg_truncation <= 1, t_norm = (1000 - t) / 1000 for each timestep t = 1000 * sigma
  (float32 tensors), and a step whose t_norm > cfg_truncation runs with guidance 0 (the positive branch only);
- the combination, per sample, in float32: pred = pos + g * (pos - neg); with cfg_normalization c > 0, when
  ||pred|| > c * ||pos|| (L2 over the whole sample), pred = pred * (c * ||pos|| / ||pred||).

The schedules are Z-Image's simple one (scripts/sampler-reference.py's simple_sigmas, which its own tests pin to
diffusers' values); img2img cases slice it from first_step as ZImageImg2ImgPipeline does. The combination is computed
in float64 from float32 inputs: the C# float32 result is compared to it with a tolerance.

Usage: python3 scripts/guidance-reference.py [output folder, default tests/data/guidance]
"""
import importlib.util
import json
import math
import os
import random
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("sampler_reference", os.path.join(_here, "sampler-reference.py"))
_sampler = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sampler)
f32, simple_sigmas = _sampler.f32, _sampler.simple_sigmas


def step_guidance(steps, shift, first_step, guidance, truncation):
    """diffusers' current_guidance_scale of every step that runs."""
    sigmas = simple_sigmas(steps, shift)[first_step:-1]
    timesteps = [f32(s * 1000.0) for s in sigmas]
    if guidance <= 0:
        return [0.0] * len(timesteps)
    if truncation > 1:
        return [guidance] * len(timesteps)
    t_norms = [f32(f32(1000.0 - t) / 1000.0) for t in timesteps]
    return [0.0 if t_norm > truncation else guidance for t_norm in t_norms]


def combine(pos, neg, guidance, normalization):
    pred = [p + guidance * (p - n) for p, n in zip(pos, neg)]
    rescaled = False
    if normalization > 0:
        pos_norm = math.sqrt(sum(p * p for p in pos))
        pred_norm = math.sqrt(sum(p * p for p in pred))
        max_norm = pos_norm * normalization
        if pred_norm > max_norm:
            pred = [p * (max_norm / pred_norm) for p in pred]
            rescaled = True
    return pred, rescaled


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(_here, "..", "tests", "data", "guidance")
    os.makedirs(out_dir, exist_ok=True)

    truncation = []
    for steps, shift, first_step, guidance, cut in [
        (50, 3.0, 0, 4.0, 0.9),    # the base preset's step count with a typical truncation
        (50, 3.0, 0, 4.0, 1.0),    # the base preset itself: never truncated
        (28, 6.0, 0, 3.0, 0.5),    # the model card's shortest step count, a larger shift
        (8, 3.0, 0, 2.0, 0.0),     # only the first step (t_norm 0) keeps CFG
        (8, 3.0, 0, 2.0, 1.5),     # above 1: diffusers skips the truncation entirely
        (50, 3.0, 20, 4.0, 0.8),   # img2img from step 20 (strength 0.6): the schedule sliced, then truncated
        (10, 1.0, 0, 0.0, 0.5),    # guidance off: nothing to truncate
    ]:
        truncation.append({
            "steps": steps, "shift": shift, "first_step": first_step, "guidance_scale": guidance, "cfg_truncation": cut,
            "step_guidance": step_guidance(steps, shift, first_step, guidance, cut),
        })

    rng = random.Random(20260611)
    shape = [4, 1, 3, 2]  # [C, 1, h, w]: one sample as the transformer returns it
    size = shape[0] * shape[1] * shape[2] * shape[3]
    combined = []
    for guidance, normalization, relation in [
        (4.0, 0.0, "independent"),   # the base preset: no normalization
        (4.0, 1.0, "independent"),   # diffusers' cfg_normalization=True
        (3.0, 1.5, "independent"),
        (5.0, 0.8, "independent"),
        (0.5, 1.0, "double"),        # neg = 2 pos: pred = 0.5 pos, inside the limit, so left alone
    ]:
        pos = [f32(rng.gauss(0.0, 1.0)) for _ in range(size)]
        neg = [f32(rng.gauss(0.0, 1.0)) for _ in range(size)] if relation == "independent" else [f32(2.0 * p) for p in pos]
        expected, rescaled = combine(pos, neg, guidance, normalization)
        combined.append({
            "guidance_scale": guidance, "cfg_normalization": normalization, "shape": shape,
            "pos": pos, "neg": neg, "expected": expected, "rescaled": rescaled,
        })

    with open(os.path.join(out_dir, "cfg.json"), "w") as f:
        json.dump({
            "description": "diffusers ZImagePipeline CFG (scripts/guidance-reference.py): per-step guidance under "
                           "cfg_truncation on Z-Image's simple schedule, and pos + g (pos - neg) with cfg_normalization.",
            "truncation": truncation,
            "combine": combined,
        }, f, indent=1)


if __name__ == "__main__":
    main()
