#!/usr/bin/env python3
"""Writes the LoRA test fixtures for the tiny reference DiT (tests/data/reference/dit_weights.safetensors) into
tests/data/lora/: one small LoRA per format found in the wild, and the ΔW each one must produce, computed here by the
plain math (no torch or numpy needed: safetensors is a JSON header and little-endian data).

Every LoRA-family file (PEFT/diffusers, AI-Toolkit, kohya, fused qkv) encodes the *same* update, so each must map to
the same ΔW (expected_lora.safetensors). Factors are fp16-representable so the kohya file can be written in fp16
exactly. LoKr and LoHa have their own expected ΔW. demo/demo-style.safetensors is a PEFT LoRA for the built-in demo
model's shapes (the web page test picks it). Run from the repository root:  python3 scripts/make-lora-fixtures.py
"""
import json, os, random, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "lora")
BASE = os.path.join(ROOT, "tests", "data", "reference", "dit_weights.safetensors")
RANK = 4
rng = random.Random(20240611)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


SHAPES = {k[: -len(".weight")]: v["shape"] for k, v in read_header(BASE).items() if k.endswith(".weight") and len(v["shape"]) == 2}


def half(x):  # round to the nearest fp16 value
    return struct.unpack("<e", struct.pack("<e", x))[0]


def rand(rows, cols, scale):
    return [[half(rng.gauss(0.0, scale)) for _ in range(cols)] for _ in range(rows)]


def matmul(a, b):
    bt = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in bt] for row in a]


def scale(m, s):
    return [[x * s for x in row] for row in m]


def kron(a, b):
    return [[a[i // len(b)][j // len(b[0])] * b[i % len(b)][j % len(b[0])] for j in range(len(a[0]) * len(b[0]))]
            for i in range(len(a) * len(b))]


def hadamard(a, b):
    return [[x * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def write(path, tensors, dtype="F32", metadata=None):
    """tensors: name -> (shape, flat list of floats); dtype F32 or F16."""
    header, blobs, offset = {}, [], 0
    code, size = ("<f", 4) if dtype == "F32" else ("<e", 2)
    if metadata:
        header["__metadata__"] = metadata
    for name, (shape, values) in tensors.items():
        data = b"".join(struct.pack(code, v) for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def flat(m):
    return [x for row in m for x in row]


def mat(m):
    return ([len(m), len(m[0])], flat(m))


# ---------------------------------------------------------------- the LoRA family: one update, five spellings
# layers.0's q, k, v share one down matrix, so the same update is also a LoRA on the fused qkv.
separate = ["layers.0.attention.to_out.0", "layers.1.feed_forward.w1", "layers.1.feed_forward.w2", "layers.1.feed_forward.w3",
            "noise_refiner.0.adaLN_modulation.0", "context_refiner.0.attention.to_v", "cap_embedder.1",
            "all_x_embedder.2-1", "t_embedder.mlp.2", "all_final_layer.2-1.linear"]
factors = {}
qkv_down = rand(RANK, SHAPES["layers.0.attention.to_q"][1], 0.25)
for part in ["to_q", "to_k", "to_v"]:
    m = f"layers.0.attention.{part}"
    factors[m] = (qkv_down, rand(SHAPES[m][0], RANK, 0.25))
for m in separate:
    factors[m] = (rand(RANK, SHAPES[m][1], 0.25), rand(SHAPES[m][0], RANK, 0.25))
expected_lora = {m + ".weight": mat(matmul(up, down)) for m, (down, up) in factors.items()}
write(os.path.join(OUT, "expected_lora.safetensors"), expected_lora)

write(os.path.join(OUT, "peft.safetensors"), {
    **{f"transformer.{m}.lora_A.weight": mat(d) for m, (d, u) in factors.items()},
    **{f"transformer.{m}.lora_B.weight": mat(u) for m, (d, u) in factors.items()}})

write(os.path.join(OUT, "aitoolkit.safetensors"), {
    **{f"diffusion_model.{m}.lora_A.weight": mat(d) for m, (d, u) in factors.items()},
    **{f"diffusion_model.{m}.lora_B.weight": mat(u) for m, (d, u) in factors.items()}},
    metadata={"software": "ai-toolkit (fixture)"})

# kohya / musubi: underscored names, fp16, alpha = rank/2 (scale 1/2) with the up matrix doubled (exact in fp16).
kohya = {}
for m, (d, u) in factors.items():
    k = "lora_unet_" + m.replace(".", "_")
    kohya[k + ".lora_down.weight"] = mat(d)
    kohya[k + ".lora_up.weight"] = mat(scale(u, 2.0))
    kohya[k + ".alpha"] = ([], [RANK / 2])
write(os.path.join(OUT, "kohya.safetensors"), kohya, dtype="F16")

# The original Z-Image names: fused attention.qkv and attention.out, x_embedder, final_layer.
native_names = {"layers.0.attention.to_out.0": "layers.0.attention.out", "all_x_embedder.2-1": "x_embedder",
                "all_final_layer.2-1.linear": "final_layer.linear"}
fused = {"diffusion_model.layers.0.attention.qkv.lora_A.weight": mat(qkv_down),
         "diffusion_model.layers.0.attention.qkv.lora_B.weight": mat(
             factors["layers.0.attention.to_q"][1] + factors["layers.0.attention.to_k"][1] + factors["layers.0.attention.to_v"][1])}
for m in separate:
    d, u = factors[m]
    n = native_names.get(m, m)
    fused[f"diffusion_model.{n}.lora_A.weight"] = mat(d)
    fused[f"diffusion_model.{n}.lora_B.weight"] = mat(u)
write(os.path.join(OUT, "fused_qkv.safetensors"), fused)

# ---------------------------------------------------------------- LoKr (LyCORIS): kron(w1, w2), w2 as a·b with alpha
lokr, expected_lokr = {}, {}
for m, (w1_shape, w2_rows, w2_cols) in {
        "layers.0.attention.qkv": ([3, 2], 32, 16),           # fused: ΔW [96, 32], split over to_q, to_k, to_v
        "layers.1.feed_forward.w1": ([5, 4], 17, 8),           # [85, 32]
        "noise_refiner.0.attention.to_out.0": ([4, 4], 8, 8)}.items():
    w1 = rand(*w1_shape, 0.5)
    w2a, w2b = rand(w2_rows, 2, 0.5), rand(2, w2_cols, 0.5)
    alpha = 1.0
    k = "lycoris_" + m.replace(".", "_")
    lokr[k + ".lokr_w1"] = mat(w1)
    lokr[k + ".lokr_w2_a"] = mat(w2a)
    lokr[k + ".lokr_w2_b"] = mat(w2b)
    lokr[k + ".alpha"] = ([], [alpha])
    delta = scale(kron(w1, matmul(w2a, w2b)), alpha / 2)      # scale = alpha / rank of the decomposed factor
    if m.endswith(".qkv"):
        block = m[: -len("qkv")]
        for i, part in enumerate(["to_q", "to_k", "to_v"]):
            expected_lokr[block + part + ".weight"] = mat(delta[i * 32:(i + 1) * 32])
    else:
        expected_lokr[m + ".weight"] = mat(delta)
write(os.path.join(OUT, "lokr.safetensors"), lokr)
write(os.path.join(OUT, "expected_lokr.safetensors"), expected_lokr)

# ---------------------------------------------------------------- LoHa (LyCORIS): (w1a·w1b) ⊙ (w2a·w2b) · alpha/rank
loha, expected_loha = {}, {}
for m in ["layers.0.attention.to_q", "layers.1.feed_forward.w2", "context_refiner.0.feed_forward.w3"]:
    rows, cols = SHAPES[m]
    w1a, w1b, w2a, w2b = rand(rows, RANK, 0.5), rand(RANK, cols, 0.5), rand(rows, RANK, 0.5), rand(RANK, cols, 0.5)
    alpha = 2.0
    p = "diffusion_model." + m
    loha.update({p + ".hada_w1_a": mat(w1a), p + ".hada_w1_b": mat(w1b), p + ".hada_w2_a": mat(w2a), p + ".hada_w2_b": mat(w2b),
                 p + ".alpha": ([], [alpha])})
    expected_loha[m + ".weight"] = mat(scale(hadamard(matmul(w1a, w1b), matmul(w2a, w2b)), alpha / RANK))
write(os.path.join(OUT, "loha.safetensors"), loha)
write(os.path.join(OUT, "expected_loha.safetensors"), expected_loha)

# ---------------------------------------------------------------- files that must be refused, naming the key
d, u = factors["layers.1.feed_forward.w1"]
write(os.path.join(OUT, "bad_unknown_suffix.safetensors"), {
    "transformer.layers.1.feed_forward.w1.lora_A.weight": mat(d), "transformer.layers.1.feed_forward.w1.lora_B.weight": mat(u),
    "transformer.layers.1.feed_forward.w1.lora_magnitude_vector": ([SHAPES["layers.1.feed_forward.w1"][0]], [1.0] * SHAPES["layers.1.feed_forward.w1"][0])})
write(os.path.join(OUT, "bad_unknown_module.safetensors"), {
    "lora_unet_layers_7_attention_to_q.lora_down.weight": mat(rand(RANK, 32, 0.1)),
    "lora_unet_layers_7_attention_to_q.lora_up.weight": mat(rand(32, RANK, 0.1))})
write(os.path.join(OUT, "bad_shape.safetensors"), {
    "transformer.layers.0.attention.to_q.lora_A.weight": mat(rand(RANK, 16, 0.1)),
    "transformer.layers.0.attention.to_q.lora_B.weight": mat(rand(32, RANK, 0.1))})

# ---------------------------------------------------------------- a LoRA for the built-in demo model (the page's picker)
# The demo model (src/ZImageSharp.Engine/Assets/demo-model.json) has other widths than the reference DiT, so its LoRA
# reads its shapes from that config. Its own generator, so the fixtures above stay byte for byte what they were. The
# final layer is among the targets so the LoRA visibly changes the image, not only the attention of one block.
DEMO = json.load(open(os.path.join(ROOT, "src", "ZImageSharp.Engine", "Assets", "demo-model.json")))["transformer"]
dim, patch = DEMO["dim"], DEMO["all_patch_size"][0] * DEMO["all_patch_size"][0] * DEMO["all_f_patch_size"][0]
demo_shapes = {"layers.0.attention.to_q": [dim, dim], "layers.0.attention.to_out.0": [dim, dim],
               "all_final_layer.2-1.linear": [patch * DEMO["in_channels"], dim]}
demo_rng, DEMO_RANK = random.Random(20261203), 2
def demo_rand(rows, cols, s):
    return [[half(demo_rng.gauss(0.0, s)) for _ in range(cols)] for _ in range(rows)]
demo = {}
for m, (rows, cols) in demo_shapes.items():
    demo[f"transformer.{m}.lora_A.weight"] = mat(demo_rand(DEMO_RANK, cols, 0.5))
    demo[f"transformer.{m}.lora_B.weight"] = mat(demo_rand(rows, DEMO_RANK, 0.5))
os.makedirs(os.path.join(OUT, "demo"), exist_ok=True)
write(os.path.join(OUT, "demo", "demo-style.safetensors"), demo, metadata={"software": "make-lora-fixtures.py (demo model)"})
print("wrote", sorted(os.listdir(OUT)))
