#!/usr/bin/env python3
"""Image-to-image and inpainting fixtures from diffusers' own pipelines (issue #11), for the C# parity tests in
tests/ZImageSharp.Engine.Tests/Edit. Uses the tiny model of tests/data/reference/pipeline_case0 (its dit.* and vae.*
weights, configs and prompt_embeds.0) and the inputs tests/data/edit/init.png and mask.png, in float32 on the CPU
(bit-for-bit reproducible; the model is tiny). Runs ZImageImg2ImgPipeline and ZImageInpaintPipeline with one CPU
generator per image, seeded as the engine seeds image 0, and stores what the C# side needs to check each part:

  OUT/edit_img2img.safetensors / .json   and   OUT/edit_inpaint.safetensors / .json
    init_latents      x0 after the VAE posterior sample and (z - shift) * scale   [1,16,16,16]
    noise             the initial noise the pipeline drew                          [1,16,16,16]
    latents_in        scale_noise(x0, first timestep, noise)
    latents_after_step.i  after each step run (after the mask blend for inpaint)
    image             the pipeline's "pt" output [1,3,32,32] in [0,1]
    enc_mean, enc_logvar  the encoder's Gaussian of init.png
  JSON: strength, steps, steps_run, first_step, seed, shift, timesteps run, guidance, the pipeline class.

On the GPU machine, from the repository root (diffusers source carried as .device-carry/diffusers-src.tar.xz):
  mkdir -p /tmp/dfs && tar -C /tmp/dfs -xJf .device-carry/diffusers-src.tar.xz
  PYTHONPATH=/tmp/dfs python3 scripts/gpu-edit-reference.py --out "$OUT"
Then copy OUT/edit_*.{json,safetensors} into tests/data/edit/.
"""
import argparse, json, os, struct

import torch
from PIL import Image
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler
from diffusers.models.autoencoders import vae as vae_module
from diffusers.models.transformers import ZImageTransformer2DModel
from diffusers.pipelines.z_image import ZImageImg2ImgPipeline, ZImageInpaintPipeline

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REF = os.path.join(ROOT, "tests", "data", "reference")
EDIT = os.path.join(ROOT, "tests", "data", "edit")
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}


def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base, out = 8 + n, {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            f.seek(base + a)
            out[k] = torch.frombuffer(bytearray(f.read(b - a)), dtype=DTYPES[v["dtype"]]).reshape(v["shape"]).clone()
        return out


def write_st(path, tensors):
    header, offset, blobs = {}, 0, []
    for k, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


def load_models():
    meta = json.load(open(os.path.join(REF, "pipeline_case0.json")))
    weights = read_st(os.path.join(REF, "pipeline_case0.safetensors"))
    dit = ZImageTransformer2DModel(**meta["dit_config"])
    dit.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("dit.")}, strict=True)
    vae = AutoencoderKL(**meta["vae_config"])
    vae.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("vae.")}, strict=True)
    sched = meta["scheduler"]
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=sched["num_train_timesteps"], shift=sched["shift"])
    return meta, weights, dit.eval().float(), vae.eval().float(), scheduler


def run(kind, args, meta, weights, dit, vae, scheduler):
    cls = ZImageImg2ImgPipeline if kind == "img2img" else ZImageInpaintPipeline
    pipe = cls(scheduler=scheduler, vae=vae, text_encoder=None, tokenizer=None, transformer=dit)
    pipe.set_progress_bar_config(disable=True)
    image = Image.open(os.path.join(EDIT, "init.png")).convert("RGB")
    captured, steps_out = {}, []

    original_prepare = pipe.prepare_latents
    original_scale = pipe.scheduler.scale_noise
    original_sample = vae_module.DiagonalGaussianDistribution.sample

    def sample(self, generator=None):
        if "enc_mean" not in captured:
            captured["enc_mean"], captured["enc_logvar"] = self.mean.clone(), self.logvar.clone()
        return original_sample(self, generator)

    def scale_noise(sample_, timestep, noise=None):
        out = original_scale(sample_, timestep, noise)
        if "latents_in" not in captured:
            captured.update(init_latents=sample_.clone(), noise=noise.clone(), latents_in=out.clone(),
                            first_timestep=float(timestep.flatten()[0]))
        return out

    pipe.scheduler.scale_noise = scale_noise
    vae_module.DiagonalGaussianDistribution.sample = sample
    timesteps = []

    def on_step(p, i, t, kw):
        steps_out.append(kw["latents"].clone())
        timesteps.append(float(t))
        return {}

    call = dict(prompt_embeds=[weights["prompt_embeds.0"]], image=image, strength=args.strength,
                num_inference_steps=meta["steps"], guidance_scale=0.0, cfg_truncation=1.0,
                generator=[torch.Generator("cpu").manual_seed(args.seed)], output_type="pt",
                callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
    if kind == "inpaint":
        call["mask_image"] = Image.open(os.path.join(EDIT, "mask.png")).convert("RGB")
    try:
        with torch.no_grad():
            out = pipe(**call).images
    finally:
        vae_module.DiagonalGaussianDistribution.sample = original_sample
        pipe.scheduler.scale_noise = original_scale
    tensors = {k: v for k, v in captured.items() if isinstance(v, torch.Tensor)}
    tensors.update({f"latents_after_step.{i}": t for i, t in enumerate(steps_out)})
    tensors["image"] = out.float()
    write_st(os.path.join(args.out, f"edit_{kind}.safetensors"), tensors)
    n = meta["steps"]
    info = {
        "pipeline": cls.__name__, "strength": args.strength, "steps": n, "steps_run": len(steps_out),
        "first_step": n - len(steps_out), "seed": args.seed, "shift": meta["scheduler"]["shift"],
        "timesteps": timesteps, "first_timestep": captured["first_timestep"], "guidance_scale": 0.0,
        "height": image.height, "width": image.width, "init_image": "init.png",
        "mask_image": "mask.png" if kind == "inpaint" else None,
        "weights": "tests/data/reference/pipeline_case0.safetensors (dit.*, vae.*, prompt_embeds.0)",
        "note": "float32 on the CPU; one CPU generator seeded with seed: draw 1 = the VAE posterior sample, draw 2 = noise",
    }
    json.dump(info, open(os.path.join(args.out, f"edit_{kind}.json"), "w"), indent=1)
    print(kind, "steps run", len(steps_out), "of", n, "timesteps", timesteps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--strength", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    meta, weights, dit, vae, scheduler = load_models()
    for kind in ("img2img", "inpaint"):
        run(kind, args, meta, weights, dit, vae, scheduler)


if __name__ == "__main__":
    main()
