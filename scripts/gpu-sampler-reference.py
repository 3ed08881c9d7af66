#!/usr/bin/env python3
"""Checks tests/data/samplers/*.json against ComfyUI's own code, run with torch (the GPU machine has it; no GPU is
needed, everything runs on the CPU in float64 for the samplers and float32 for the schedules, as ComfyUI does).

ComfyUI is not installed there: carry three of its files and point --comfyui at the folder that holds them:
    <dir>/comfy/k_diffusion/sampling.py   (sample_euler, sample_euler_ancestral[_RF], sample_dpmpp_2m, sample_lcm,
                                           sample_res_multistep, get_sigmas_karras)
    <dir>/comfy/samplers.py               (simple_scheduler, beta_scheduler)
    <dir>/comfy/model_sampling.py         (time_snr_shift, CONST, ModelSamplingDiscreteFlow)
The functions are taken out of the files with ast and run as they are; the modules they import but these checks do
not use (torchsde, model_patcher, …) are stubbed. A model_sampling.py too old to have CONST/ModelSamplingDiscreteFlow
is an error, not a fallback.

To put them there from a snapshot of a ComfyUI repository (github:comfyanonymous/ComfyUI is too large to fetch
here; a fork such as github:rattus128/ComfyUI, checked with commit 9d8a817, is not):
    mkdir -p .device-carry/comfyui/comfy/k_diffusion
    for f in comfy/k_diffusion/sampling.py comfy/samplers.py comfy/model_sampling.py; do
        git -C /work/.mirror/rattus128+ComfyUI/repo show HEAD:$f > .device-carry/comfyui/$f; done
These copies are for the check only: .device-carry/ is ignored, nothing of ComfyUI is committed.

Usage: python3 scripts/gpu-sampler-reference.py --comfyui .device-carry/comfyui [--data tests/data/samplers]
Exit status 0 when every table matches (schedules within 2 float32 ulps, trajectories within 1e-9).
"""
import argparse
import ast
import inspect
import json
import math
import os
import sys
import types

import numpy
import torch

try:
    import scipy.stats  # noqa: F401  (beta_scheduler's ppf)
    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False


class Stub(types.ModuleType):
    """A module whose every attribute is a harmless callable stub (for imports the checked functions never use)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Stub(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return None


def install_stub(name):
    if name in sys.modules:
        return sys.modules[name]
    module = Stub(name)
    module.__path__ = []
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(install_stub(parent), child, module)
    return module


def extract(path, names, namespace, optional=()):
    """Executes only the top-level definitions called `names` (functions, classes) of a Python file in namespace,
    and the helpers in `optional` that this version of the file has."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in set(names) | set(optional):
            found[node.name] = node
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"{path} has no {', '.join(missing)}: is it a current ComfyUI?")
    order = [n for n in optional if n in found] + list(names)
    module = ast.Module(body=[found[n] for n in order], type_ignores=[])
    exec(compile(module, path, "exec"), namespace)
    return {n: namespace[n] for n in order}


def load_comfy(root):
    paths = {k: os.path.join(root, "comfy", *k.split("/")) for k in ("k_diffusion/sampling.py", "samplers.py", "model_sampling.py")}
    for p in paths.values():
        if not os.path.isfile(p):
            raise SystemExit(f"missing {p}: carry ComfyUI's file there (see this script's docstring)")

    # comfy.model_sampling: the real classes, so that sampling.py's isinstance(…, CONST) picks the flow branch.
    ms_ns = {"torch": torch, "math": math, "__name__": "comfy.model_sampling"}
    ms = extract(paths["model_sampling.py"], ["time_snr_shift", "CONST", "ModelSamplingDiscreteFlow"], ms_ns,
                 optional=["reshape_sigma"])
    for name in ("comfy", "comfy.k_diffusion", "comfy.model_patcher", "comfy.memory_management", "comfy.utils",
                 "comfy.k_diffusion.deis", "comfy.k_diffusion.sa_solver", "torchsde"):
        install_stub(name)
    model_sampling = types.ModuleType("comfy.model_sampling")
    model_sampling.__dict__.update(ms)
    sys.modules["comfy.model_sampling"] = model_sampling
    sys.modules["comfy"].model_sampling = model_sampling
    utils = types.ModuleType("comfy.k_diffusion.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    sys.modules["comfy.k_diffusion.utils"] = utils
    sys.modules["comfy.utils"].model_trange = lambda *a, **k: range(*a)

    sampling_ns = {"torch": torch, "math": math, "utils": utils, "comfy": sys.modules["comfy"],
                   "trange": lambda *a, **k: range(*a), "partial": __import__("functools").partial,
                   "__name__": "comfy.k_diffusion.sampling"}
    sampler_names = ["to_d", "get_ancestral_step", "default_noise_sampler", "get_sigmas_karras", "append_zero",
                     "sample_euler", "sample_euler_ancestral", "sample_euler_ancestral_RF", "sample_dpmpp_2m",
                     "sample_lcm", "res_multistep", "sample_res_multistep"]
    # Decorators (@torch.no_grad()) are kept: they only need torch.
    fns = extract(paths["k_diffusion/sampling.py"], sampler_names, sampling_ns)

    sched_ns = {"torch": torch, "math": math, "numpy": numpy, "np": numpy, "scipy": __import__("scipy") if HAVE_SCIPY else None}
    fns.update(extract(paths["samplers.py"], ["simple_scheduler", "beta_scheduler"], sched_ns))
    return ms, fns


def flow_model_sampling(ms, shift):
    class ModelSampling(ms["ModelSamplingDiscreteFlow"], ms["CONST"]):
        pass
    sampling = ModelSampling()
    sampling.set_parameters(shift=shift, multiplier=1000)
    return sampling


class ToyDenoiser:
    """What sampling.py calls `model`: denoised(x, sigma) of the toy velocity field, through CONST.calculate_denoised
    with ComfyUI's model output convention (x − x0)/σ = −v."""

    def __init__(self, data, model_sampling):
        self.m = torch.tensor(data["m"], dtype=torch.float64)
        self.c = torch.tensor(data["c"], dtype=torch.float64)
        self.e = torch.tensor(data["e"], dtype=torch.float64)
        self.model_sampling = model_sampling
        patcher = types.SimpleNamespace(get_model_object=lambda name: model_sampling)
        self.inner_model = types.SimpleNamespace(inner_model=types.SimpleNamespace(model_sampling=model_sampling),
                                                 model_patcher=patcher)

    def __call__(self, x, sigma, **kwargs):
        s = sigma.reshape(-1, 1)
        v = x @ self.m.T + self.c + s * self.e
        return self.model_sampling.calculate_denoised(sigma, -v, x)


def check_schedules(ms, fns, data):
    worst, failures = 0.0, []
    tables = {}
    for entry in data["schedules"]:
        name, steps, shift = entry["scheduler"], entry["steps"], entry["shift"]
        sampling = tables.setdefault(shift, flow_model_sampling(ms, shift))
        if name == "simple":
            # Z-Image's own (diffusers') schedule: torch's float32 linspace, shifted in float32.
            s = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float32)
            s = shift * s / (1 + (shift - 1) * s) if shift != 1.0 else s
            got = torch.cat([s, torch.zeros(1)])
            # ComfyUI's simple on its table, where the step count divides 1000, is the same schedule.
            if 1000 % steps == 0:
                comfy = fns["simple_scheduler"](sampling, steps)
                d = (comfy - got).abs().max().item()
                if d > 2.4e-7:
                    failures.append(f"ComfyUI simple N={steps} shift={shift} differs from Z-Image's by {d:.3g}")
        elif name == "beta":
            if not HAVE_SCIPY:
                continue
            got = fns["beta_scheduler"](sampling, steps)
        else:
            got = fns["get_sigmas_karras"](n=steps, sigma_min=float(sampling.sigma_min), sigma_max=float(sampling.sigma_max))
        want = torch.tensor(entry["sigmas"], dtype=torch.float64)
        if got.shape[0] != want.shape[0]:
            failures.append(f"{name} N={steps} shift={shift}: {got.shape[0]} sigmas, the table has {want.shape[0]}")
            continue
        d = (got.double() - want).abs().max().item()
        worst = max(worst, d)
        if d > 2.4e-7:
            failures.append(f"{name} N={steps} shift={shift}: max |diff| {d:.3g}")
    print(f"schedules: {len(data['schedules'])} checked{'' if HAVE_SCIPY else ' (beta skipped: no scipy)'}, worst |diff| {worst:.3g}")
    return failures


def check_trajectories(ms, fns, data):
    failures, worst = [], 0.0
    shape = (data["batch"], data["dim"])
    functions = {"euler": fns["sample_euler"], "euler_ancestral": fns["sample_euler_ancestral"],
                 "res_multistep": fns["sample_res_multistep"], "dpmpp_2m": fns["sample_dpmpp_2m"], "lcm": fns["sample_lcm"]}
    for case in data["cases"]:
        sampling = flow_model_sampling(ms, case["shift"])
        model = ToyDenoiser(data, sampling)
        sigmas = torch.tensor(case["sigmas"], dtype=torch.float64)
        x = torch.tensor(data["x_init"], dtype=torch.float64).reshape(shape)
        fn = functions[case["sampler"]]
        kwargs = {}
        if "noise_sampler" in inspect.signature(fn).parameters:
            noise = case["noise"]
            sigma_list = [float(s) for s in case["sigmas"]]

            def noise_sampler(sigma, sigma_next, noise=noise, sigma_list=sigma_list):
                if noise is None:
                    return torch.zeros(shape, dtype=torch.float64)  # res_multistep at eta 0 draws and multiplies by 0
                return torch.tensor(noise[sigma_list.index(float(sigma))], dtype=torch.float64).reshape(shape)
            kwargs["noise_sampler"] = noise_sampler
        seen = []
        final = fn(model, x, sigmas, extra_args={}, callback=lambda d: seen.append(d["x"].clone()), disable=True, **kwargs)
        got = torch.stack(seen[1:] + [final])
        want = torch.tensor(case["trajectory"], dtype=torch.float64).reshape(got.shape)
        d = (got - want).abs().max().item()
        worst = max(worst, d)
        label = f"{case['sampler']} {case['scheduler']} N={case['steps']} shift={case['shift']}"
        if not d <= 1e-9:
            failures.append(f"{label}: max |diff| {d:.3g}")
    print(f"trajectories: {len(data['cases'])} checked, worst |diff| {worst:.3g}")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--comfyui", required=True)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "samplers"))
    args = parser.parse_args()
    ms, fns = load_comfy(args.comfyui)
    failures = check_schedules(ms, fns, json.load(open(os.path.join(args.data, "schedules.json"))))
    failures += check_trajectories(ms, fns, json.load(open(os.path.join(args.data, "trajectories.json"))))
    for f in failures:
        print("MISMATCH", f)
    print("all tables match ComfyUI" if not failures else f"{len(failures)} mismatches")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
