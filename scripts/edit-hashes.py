#!/usr/bin/env python3
"""Writes tests/data/edit/hashes.json: A1111's "Init image hash" of each edit fixture PNG, hashlib.md5(img.tobytes())
of its 8-bit RGB pixels (what PIL's tobytes() gives for an RGB image), decoded here with zlib alone (no PIL), so the
C# test checks EditImage.Md5 against an independent decoder. Usage: python3 scripts/edit-hashes.py"""
import hashlib, json, os, struct, zlib

def rgb_pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR": header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT": idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"{path}: only 8-bit RGB/RGBA, not interlaced"
    channels = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + a) & 255
            elif kind == 2: line[i] = (line[i] + b) & 255
            elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = b"".join(rows)
    return pixels if channels == 3 else b"".join(pixels[i:i + 3] for i in range(0, len(pixels), 4))

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "edit")
names = ["init.png", "mask.png", "init64.png", "mask64.png", "keep64.png"]
hashes = {name: hashlib.md5(rgb_pixels(os.path.join(here, name))).hexdigest() for name in names}
with open(os.path.join(here, "hashes.json"), "w") as f:
    json.dump({"description": "MD5 of each PNG's RGB pixels (A1111's Init image hash), scripts/edit-hashes.py", "md5": hashes}, f, indent=1)
print(hashes)
