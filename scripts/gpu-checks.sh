#!/usr/bin/env bash
# On the GPU machine (see docs/gpu.md): CUDA parity (fp32 and bf16), the speed benchmark with a DiT profile,
# 100 consecutive generations, a provoked out-of-memory, and the server answering a 1024² OpenAI request.
# Each step prints its table; JSON lands under $OUT.
set -uo pipefail
root=$(pwd)
Z=$(bash scripts/gpu-unpack.sh)
OUT=${OUT:-/tmp}
step() { echo; echo "=== $*"; }
step parity; "$Z" parity --device cuda --dtype both --reference "$root/tests/data/reference" --json "$OUT/parity.json" 2>&1 | grep -v NNPACK
cd /tmp
step bench; "$Z" bench --device cuda --runs "${RUNS:-3}" --profile --json "$OUT/bench.json" 2>&1 | grep -v NNPACK
step soak; "$Z" bench --device cuda --sizes 512 --soak "${SOAK:-100}" --json "$OUT/soak.json" 2>&1 | grep -v NNPACK
step provoke-oom; "$Z" bench --device cuda --sizes 1024 --provoke-oom --json "$OUT/oom.json" 2>&1 | grep -v NNPACK
