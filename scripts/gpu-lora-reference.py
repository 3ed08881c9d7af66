#!/usr/bin/env python3
"""Full-size LoRA parity on the GPU machine (issue #11): random rank-32 LoRAs in every format the engine reads, each
applied by `zimage generate --lora` (a) resident, where it is merged into the bf16 weights, and (b) under a small
--vram-budget, where streamed blocks take it at runtime, against (c) a reference by the math: the same model folder
with W + ΔW merged here in float32 and rounded once to bf16, generated without a LoRA; and (d), where diffusers and
peft import, diffusers' own pipeline with pipe.load_lora_weights on the PEFT file. Images are compared as rel_l2 =
‖a − b‖/‖b‖ over the decoded pixels. Writes OUT/lora-parity.json and prints a table; says which references ran.

  python3 scripts/gpu-lora-reference.py --zimage Z --model DIR [--size 1024] [--streamed-budget 12GiB] [--out DIR]
"""
import argparse, json, os, shutil, struct, subprocess, sys, time, zlib

import torch

RANK = 32
PROMPT = "a lighthouse on a cliff at dawn, detailed oil painting"


# ---------------------------------------------------------------- safetensors without the package
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}


def read_st(path, names=None):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for k, v in header.items():
            if k == "__metadata__" or (names is not None and k not in names):
                continue
            a, b = v["data_offsets"]
            f.seek(base + a)
            buf = bytearray(f.read(b - a))
            out[k] = torch.frombuffer(buf, dtype=DTYPES[v["dtype"]]).reshape(v["shape"]).clone() if b > a else torch.zeros(v["shape"], dtype=DTYPES[v["dtype"]])
        return out


def shapes_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return {k: v["shape"] for k, v in json.loads(f.read(n)).items() if k != "__metadata__"}


def write_st(path, tensors):
    header, offset, blobs = {}, 0, []
    for k, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- PNG (8-bit RGB, as the engine writes it)
def read_png(path):
    data = open(path, "rb").read()
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, bpp = zlib.decompress(idat), width * 3, 3
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return torch.frombuffer(out, dtype=torch.uint8).reshape(height, width, 3).float()


def rel_l2(a, b):
    return float((a - b).norm() / b.norm())


# ---------------------------------------------------------------- random LoRAs in each format
def targets(shapes):
    """Every attention and feed-forward Linear of every block, and the blocks' adaLN (diffusers names)."""
    keep = (".attention.to_q.weight", ".attention.to_k.weight", ".attention.to_v.weight", ".attention.to_out.0.weight",
            ".feed_forward.w1.weight", ".feed_forward.w2.weight", ".feed_forward.w3.weight", ".adaLN_modulation.0.weight")
    return {k[:-len(".weight")]: s for k, s in shapes.items() if k.endswith(keep)}


def make_loras(shapes, folder, gen):
    mods = targets(shapes)
    lora = {}
    for m, (o, i) in mods.items():
        lora[m] = (torch.randn(RANK, i, generator=gen) * (1 / i ** 0.5), torch.randn(o, RANK, generator=gen) * 0.02)
    # q, k, v of each block share one down matrix, so the same update is also a LoRA on the fused qkv.
    for m in [m for m in mods if m.endswith(".to_q")]:
        block = m[:-len("to_q")]
        down = lora[m][0]
        for p in ("to_k", "to_v"):
            lora[block + p] = (down, lora[block + p][1])
    deltas = {m + ".weight": up @ down for m, (down, up) in lora.items()}
    files = {}
    files["peft"] = {**{f"transformer.{m}.lora_A.weight": d for m, (d, u) in lora.items()},
                     **{f"transformer.{m}.lora_B.weight": u for m, (d, u) in lora.items()}}
    files["aitoolkit"] = {**{f"diffusion_model.{m}.lora_A.weight": d for m, (d, u) in lora.items()},
                          **{f"diffusion_model.{m}.lora_B.weight": u for m, (d, u) in lora.items()}}
    kohya = {}
    for m, (d, u) in lora.items():
        k = "lora_unet_" + m.replace(".", "_")
        kohya[k + ".lora_down.weight"], kohya[k + ".lora_up.weight"], kohya[k + ".alpha"] = d.half(), (u * 2).half(), torch.tensor(RANK / 2.0)
    files["kohya"] = kohya
    fused = {}
    for m, (d, u) in lora.items():
        if m.endswith((".to_k", ".to_v")):
            continue
        if m.endswith(".to_q"):
            block = m[:-len("to_q")]
            fused[f"diffusion_model.{block}qkv.lora_A.weight"] = d
            fused[f"diffusion_model.{block}qkv.lora_B.weight"] = torch.cat([lora[block + p][1] for p in ("to_q", "to_k", "to_v")])
        else:
            n = m.replace(".attention.to_out.0", ".attention.out")
            fused[f"diffusion_model.{n}.lora_A.weight"], fused[f"diffusion_model.{n}.lora_B.weight"] = d, u
    files["fused_qkv"] = fused
    sets = {name: (tensors, {k: v.float() for k, v in deltas.items()}) for name, tensors in files.items()}
    # kohya's fp16 factors round: its reference is its own rounded update.
    sets["kohya"] = (kohya, {m + ".weight": (kohya["lora_unet_" + m.replace(".", "_") + ".lora_up.weight"].float() @
                                            kohya["lora_unet_" + m.replace(".", "_") + ".lora_down.weight"].float()) * 0.5 for m in lora})
    # LoKr: kron(w1, w2_a·w2_b) on the attention outputs and w2 (dim 3840 = 16·240, 10240 = 32·320); LoHa on q and w1.
    lokr, lokr_d, loha, loha_d = {}, {}, {}, {}
    for m, (o, i) in mods.items():
        if m.endswith(".attention.to_out.0") or m.endswith(".feed_forward.w2"):
            a, c = 16, o // 16
            b, dcols = 16, i // 16
            w1 = torch.randn(a, b, generator=gen) * 0.1
            w2a, w2b = torch.randn(c, 8, generator=gen) * 0.05, torch.randn(8, dcols, generator=gen) * 0.05
            k = "lycoris_" + m.replace(".", "_")
            lokr.update({k + ".lokr_w1": w1, k + ".lokr_w2_a": w2a, k + ".lokr_w2_b": w2b, k + ".alpha": torch.tensor(8.0)})
            lokr_d[m + ".weight"] = torch.kron(w1, w2a @ w2b)  # alpha / rank = 1
        if m.endswith(".attention.to_q") or m.endswith(".feed_forward.w1"):
            w = [torch.randn(o, RANK, generator=gen) * 0.05, torch.randn(RANK, i, generator=gen) * 0.05,
                 torch.randn(o, RANK, generator=gen) * 0.05, torch.randn(RANK, i, generator=gen) * 0.05]
            p = "diffusion_model." + m
            # alpha = 4·rank (scale 4): a Hadamard product of small factors is a tiny ΔW otherwise.
            loha.update({p + ".hada_w1_a": w[0], p + ".hada_w1_b": w[1], p + ".hada_w2_a": w[2], p + ".hada_w2_b": w[3],
                         p + ".alpha": torch.tensor(float(RANK) * 4.0)})
            loha_d[m + ".weight"] = (w[0] @ w[1]) * (w[2] @ w[3]) * 4.0
    sets["lokr"], sets["loha"] = (lokr, lokr_d), (loha, loha_d)
    paths = {}
    for name, (tensors, _) in sets.items():
        paths[name] = os.path.join(folder, f"{name}.safetensors")
        write_st(paths[name], tensors)
    return paths, {name: d for name, (_, d) in sets.items()}


def merged_model(model, deltas, folder):
    """A copy of the model folder whose transformer weights are bf16(W + ΔW), the sum in float32."""
    if os.path.exists(folder):
        shutil.rmtree(folder)
    shutil.copytree(model, folder, ignore=shutil.ignore_patterns("transformer"))
    os.makedirs(os.path.join(folder, "transformer"))
    src = os.path.join(model, "transformer")
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if not name.endswith(".safetensors"):
            shutil.copy(path, os.path.join(folder, "transformer", name))
            continue
        tensors = read_st(path)
        for k in tensors:
            if k in deltas:
                w = tensors[k]
                tensors[k] = (w.cuda().float() + deltas[k].cuda()).to(w.dtype).cpu()
        write_st(os.path.join(folder, "transformer", name), tensors)
    return folder


def zimage(z, model, out, size, extra):
    cmd = [z, "generate", "--model", model, "--prompt", PROMPT, "--seed", "42", "-W", str(size), "-H", str(size), "-o", out] + extra
    start = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    plan = next((l for l in p.stdout.splitlines() if "plan:" in l), "").strip()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stdout[-2000:]}{p.stderr[-2000:]}")
    return {"seconds": round(time.time() - start, 1), "plan": plan}


def diffusers_peft(model, lora_path, out, size):
    """diffusers' pipeline with PEFT loading the PEFT file; the reason when it cannot run."""
    try:
        import peft  # noqa: F401
        from diffusers import ZImagePipeline
    except Exception as e:  # noqa: BLE001
        return f"not run: {type(e).__name__}: {e}"
    try:
        pipe = ZImagePipeline.from_pretrained(model, torch_dtype=torch.bfloat16).to("cuda")
        pipe.load_lora_weights(os.path.dirname(lora_path), weight_name=os.path.basename(lora_path))
        g = torch.Generator("cpu").manual_seed(42)
        image = pipe(PROMPT, height=size, width=size, num_inference_steps=8, guidance_scale=0.0, generator=g).images[0]
        image.save(out)
        del pipe
        torch.cuda.empty_cache()
        return None
    except Exception as e:  # noqa: BLE001
        return f"failed: {type(e).__name__}: {e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zimage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--streamed-budget", default="12GiB")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/lora-out"))
    ap.add_argument("--formats", default="peft,aitoolkit,kohya,fused_qkv,lokr,loha")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = "/tmp/lora-work"
    os.makedirs(work, exist_ok=True)
    shapes = {}
    tdir = os.path.join(args.model, "transformer")
    for name in os.listdir(tdir):
        if name.endswith(".safetensors"):
            shapes.update(shapes_st(os.path.join(tdir, name)))
    paths, deltas = make_loras(shapes, work, torch.Generator().manual_seed(11))

    base_png = os.path.join(work, "base.png")
    results = {"size": args.size, "rank": RANK, "base": zimage(args.zimage, args.model, base_png, args.size, []), "formats": {}}
    base = read_png(base_png)
    for name in args.formats.split(","):
        row = {}
        merged_png, runtime_png, ref_png = (os.path.join(work, f"{name}-{k}.png") for k in ("merged", "runtime", "math"))
        row["merged"] = zimage(args.zimage, args.model, merged_png, args.size, ["--lora", paths[name] + ":1"])
        row["runtime"] = zimage(args.zimage, args.model, runtime_png, args.size,
                                ["--lora", paths[name] + ":1", "--vram-budget", args.streamed_budget])
        row["math"] = zimage(args.zimage, merged_model(args.model, deltas[name], os.path.join(work, "merged-model")), ref_png, args.size, [])
        m, r, ref = read_png(merged_png), read_png(runtime_png), read_png(ref_png)
        row["rel_l2"] = {"merged_vs_math": rel_l2(m, ref), "runtime_vs_math": rel_l2(r, ref), "merged_vs_runtime": rel_l2(m, r),
                         "lora_effect_vs_base": rel_l2(ref, base)}
        if name == "peft":
            dpng = os.path.join(work, "peft-diffusers.png")
            why = diffusers_peft(args.model, paths[name], dpng, args.size)
            row["diffusers_peft"] = why or {"merged_vs_diffusers": rel_l2(m, read_png(dpng)), "runtime_vs_diffusers": rel_l2(r, read_png(dpng)),
                                             "math_vs_diffusers": rel_l2(ref, read_png(dpng))}
        results["formats"][name] = row
        print(name, json.dumps(row["rel_l2"]), row.get("diffusers_peft", ""), flush=True)
        for p in (merged_png, runtime_png, ref_png):
            shutil.copy(p, args.out)
    with open(os.path.join(args.out, "lora-parity.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"{'format':10} {'merged/math':>12} {'runtime/math':>13} {'merged/runtime':>15} {'effect':>8}")
    for name, row in results["formats"].items():
        e = row["rel_l2"]
        print(f"{name:10} {e['merged_vs_math']:12.2e} {e['runtime_vs_math']:13.2e} {e['merged_vs_runtime']:15.2e} {e['lora_effect_vs_base']:8.2e}")


if __name__ == "__main__":
    sys.exit(main())
