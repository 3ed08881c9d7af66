#!/usr/bin/env bash
# On the GPU machine (see docs/gpu.md): the emulated-card tiers of issue #4. Prints tables; JSON under $OUT.
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
cd /tmp
"$Z" bench --device cuda --sizes "${SIZES:-1024,1536,2048}" --batches 1 --runs "${RUNS:-1}" \
  --tiers "${TIERS:-24,16,12,8}" --json "${OUT:-/tmp}/bench-tiers.json" 2>&1 | grep -v NNPACK
[ "${SOAK:-0}" -gt 0 ] && { echo "=== soak"; "$Z" bench --device cuda --sizes 512 --soak "$SOAK" --json "${OUT:-/tmp}/soak.json" 2>&1 | grep -v NNPACK; }
