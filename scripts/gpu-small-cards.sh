#!/usr/bin/env bash
# On the GPU machine (docs/gpu.md): issue #9's small cards and small hosts as users have them. Writes the full-size
# random-weight model in the official diffusers layout once (scripts/gpu-model.sh), then runs
# scripts/gpu-small-cards.py with the given arguments (ballast before start, cgroup host limits; JSON under $OUT).
#   bash scripts/gpu-small-cards.sh --free 24,16,12,8,6,4 --sizes 1024,2048 --host-limits 16:8,32:8,16:0
# BASELINE_OVERLAY=file.tar.xz: another build's own assemblies (zimage.dll, ZImageSharp.*.dll, Assets/), laid over a
# copy of this bundle (the .NET runtime and packages are the same), run beside this one for start-up (--startup-runs).
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
MODEL=$(bash scripts/gpu-model.sh)
if [ -n "${BASELINE_OVERLAY:-}" ]; then
  rm -rf /tmp/zimage-baseline && cp -a /tmp/zimage-linux-x64 /tmp/zimage-baseline
  tar -C /tmp/zimage-baseline -xJf "$BASELINE_OVERLAY"
  set -- "$@" --baseline-zimage /tmp/zimage-baseline/zimage.sh
fi
PYTHONUNBUFFERED=1 python3 scripts/gpu-small-cards.py --zimage "$Z" --model "$MODEL" "$@"
