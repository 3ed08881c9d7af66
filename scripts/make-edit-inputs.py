#!/usr/bin/env python3
"""Writes the edit fixtures' inputs, tests/data/edit/init.png (a 32x32 colour gradient with a diagonal stripe) and
mask.png (32x32, white = repaint: the right half's lower three quarters, black elsewhere). Pure black and white, so
PIL's luma and the binarisation cannot round either way. Deterministic; no packages needed."""
import os, struct, zlib

def png(path, w, h, rows):
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "edit")
os.makedirs(here, exist_ok=True)
W = H = 32
init = []
for y in range(H):
    row = []
    for x in range(W):
        stripe = 200 if abs(x - y) < 4 else 0
        row += [min(255, x * 8 + stripe // 4), min(255, y * 8), min(255, max(0, 255 - x * 4 - y * 4 + stripe // 2))]
    init.append(row)
png(os.path.join(here, "init.png"), W, H, init)
mask = [[255 if (x >= W // 2 and y >= H // 4) else 0 for x in range(W) for _ in range(3)] for y in range(H)]
png(os.path.join(here, "mask.png"), W, H, mask)

# 64x64 copies (each pixel doubled) for the CLI and API tests, whose smallest size is 64, and an all-black mask.
def doubled(rows):
    return [sum(([r[3 * x], r[3 * x + 1], r[3 * x + 2]] * 2 for x in range(len(r) // 3)), []) for r in rows for _ in range(2)]
png(os.path.join(here, "init64.png"), 2 * W, 2 * H, doubled(init))
png(os.path.join(here, "mask64.png"), 2 * W, 2 * H, doubled(mask))
png(os.path.join(here, "keep64.png"), 2 * W, 2 * H, [[0] * (6 * W)] * (2 * H))
