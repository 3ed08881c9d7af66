#!/usr/bin/env bash
# On the GPU machine: the full-size random-weight model in the official diffusers layout, written once per machine
# (needs .device-carry/fullsize_reference.py, a copy of shared/tools/fullsize_reference.py, and
# .device-carry/diffusers-src.tar.xz, diffusers' src/diffusers), with the engine's copy of Qwen's tokenizer beside it
# (the release ships one in the folder; the reference writer does not). Run after scripts/gpu-unpack.sh; prints the
# folder's path.
set -uo pipefail
MODEL=${MODEL:-/tmp/zref/model}
if [ ! -f "$MODEL/model_index.json" ]; then
  mkdir -p /tmp/dfs && tar -C /tmp/dfs -xJf .device-carry/diffusers-src.tar.xz
  start=$(date +%s)
  PYTHONPATH=/tmp/dfs python3 .device-carry/fullsize_reference.py "$(dirname "$MODEL")" --only weights 2>&1 | tail -3 >&2
  echo "model written in $(( $(date +%s) - start )) s" >&2
fi
mkdir -p "$MODEL/tokenizer" && cp /tmp/zimage-linux-x64/Assets/qwen-tokenizer/* "$MODEL/tokenizer/"
echo "$MODEL"
