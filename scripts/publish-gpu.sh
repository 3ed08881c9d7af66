#!/usr/bin/env bash
# Publishes `zimage` as a compressed, self-contained bundle for a Linux x64 GPU machine that has PyTorch installed
# (no .NET needed there). The bundle carries no libtorch: at start the engine finds the installed PyTorch's libtorch
# (override: --libtorch or ZIMAGE_LIBTORCH) and runs TorchSharp on it. This is also how users deploy to a GPU box.
#   scripts/publish-gpu.sh [output.tar.xz]      default: artifacts/zimage-linux-x64.tar.xz
# xz keeps the bundle near 38 MB (gzip: 50 MB), which matters when it is carried to a remote machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-artifacts/zimage-linux-x64.tar.xz}"
stage=artifacts/zimage-linux-x64
rm -rf "$stage"
dotnet publish src/ZImageSharp.Cli -c Release -r linux-x64 --self-contained true \
  -p:ZImageGpuBundle=true -p:DebugType=none -p:GenerateDocumentationFile=false -o "$stage" >/dev/null
# libtorch comes from the PyTorch install; drop any libtorch that slipped in transitively.
rm -f "$stage"/libtorch*.so "$stage"/libc10*.so "$stage"/libgomp*.so* 2>/dev/null || true
cp scripts/zimage-launcher.sh "$stage/zimage.sh"
chmod +x "$stage/zimage.sh" "$stage/zimage"
mkdir -p "$(dirname "$out")"
tar -C artifacts -cf - zimage-linux-x64 | xz -T0 -4 > "$out.partial"
mv -f "$out.partial" "$out"
echo "$out ($(du -h "$out" | cut -f1)); unpack and run: tar xJf $(basename "$out") && zimage-linux-x64/zimage.sh doctor"
