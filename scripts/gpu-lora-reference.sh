#!/usr/bin/env bash
# On the GPU machine (docs/lora.md): full-size random LoRAs (rank 32) in every format, merged vs runtime-applied vs a
# reference. Writes the full-size random-weight model once as scripts/gpu-small-cards.sh does (needs
# .device-carry/fullsize_reference.py and .device-carry/diffusers-src.tar.xz), then runs scripts/gpu-lora-reference.py.
#   bash scripts/gpu-lora-reference.sh [--size 1024] [--streamed-budget 12GiB]
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
MODEL=${MODEL:-/tmp/zref/model}
if [ ! -f "$MODEL/model_index.json" ]; then
  mkdir -p /tmp/dfs && tar -C /tmp/dfs -xJf .device-carry/diffusers-src.tar.xz
  PYTHONPATH=/tmp/dfs python3 .device-carry/fullsize_reference.py "$(dirname "$MODEL")" --only weights 2>&1 | tail -5
fi
mkdir -p "$MODEL/tokenizer" && cp /tmp/zimage-linux-x64/Assets/qwen-tokenizer/* "$MODEL/tokenizer/"
[ -d /tmp/dfs ] || { mkdir -p /tmp/dfs && tar -C /tmp/dfs -xJf .device-carry/diffusers-src.tar.xz 2>/dev/null; }
PYTHONPATH=/tmp/dfs PYTHONUNBUFFERED=1 python3 scripts/gpu-lora-reference.py --zimage "$Z" --model "$MODEL" "$@"
