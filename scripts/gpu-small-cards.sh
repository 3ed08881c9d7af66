#!/usr/bin/env bash
# On the GPU machine (docs/gpu.md): issue #9's small cards and small hosts as users have them. Writes the full-size
# random-weight model in the official diffusers layout once (needs .device-carry/fullsize_reference.py, a copy of
# shared/tools/fullsize_reference.py, and .device-carry/diffusers-src.tar.xz, diffusers' src/diffusers), then runs
# scripts/gpu-small-cards.py with the given arguments (ballast before start, cgroup host limits; JSON under $OUT).
#   bash scripts/gpu-small-cards.sh --free 24,16,12,8,6,4 --sizes 1024,2048 --host-limits 16:8,32:8,16:0
# BASELINE_OVERLAY=file.tar.xz: another build's own assemblies (zimage.dll, ZImageSharp.*.dll, Assets/), laid over a
# copy of this bundle (the .NET runtime and packages are the same), run beside this one for start-up (--startup-runs).
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
MODEL=${MODEL:-/tmp/zref/model}
if [ ! -f "$MODEL/model_index.json" ]; then
  mkdir -p /tmp/dfs && tar -C /tmp/dfs -xJf .device-carry/diffusers-src.tar.xz
  start=$(date +%s)
  PYTHONPATH=/tmp/dfs python3 .device-carry/fullsize_reference.py "$(dirname "$MODEL")" --only weights 2>&1 | tail -5
  echo "model written in $(( $(date +%s) - start )) s"
fi
# The release ships its tokenizer in the folder; the reference writer does not: use the engine's own copy of Qwen's.
mkdir -p "$MODEL/tokenizer" && cp /tmp/zimage-linux-x64/Assets/qwen-tokenizer/* "$MODEL/tokenizer/"
if [ -n "${BASELINE_OVERLAY:-}" ]; then
  rm -rf /tmp/zimage-baseline && cp -a /tmp/zimage-linux-x64 /tmp/zimage-baseline
  tar -C /tmp/zimage-baseline -xJf "$BASELINE_OVERLAY"
  set -- "$@" --baseline-zimage /tmp/zimage-baseline/zimage.sh
fi
PYTHONUNBUFFERED=1 python3 scripts/gpu-small-cards.py --zimage "$Z" --model "$MODEL" "$@"
