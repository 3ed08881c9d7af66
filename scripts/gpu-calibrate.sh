#!/usr/bin/env bash
# On the GPU machine (docs/gpu.md, docs/memory-planner.md "Speed profiles"): measure this card and write its speed
# profile, then show that plan and doctor use it. The real-size model with random weights (no files needed) unless
# extra bench args name a checkpoint (--model DIR also times file reads on its largest weight file).
#   OUT=$OUT bash scripts/gpu-calibrate.sh [extra bench args]
# The profile lands in $OUT/speed-profile.json (default /tmp); copy it into bench/results/ to keep it.
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
OUT=${OUT:-/tmp}
profile="$OUT/speed-profile.json"
"$Z" bench --calibrate --device cuda --sizes "${SIZES:-512,1024,2048}" --runs "${RUNS:-3}" --steps "${STEPS:-8}" \
  --speed-profile "$profile" "$@" 2>&1 | grep -v NNPACK
echo; echo "=== plan 1024² with the new profile"
"$Z" plan --device cuda --caption-tokens 25 --speed-profile "$profile" 2>&1 | grep -v NNPACK
echo; echo "=== plan 1024² with the scaled reference (no profile)"
"$Z" plan --device cuda --caption-tokens 25 2>&1 | grep -v NNPACK
echo; echo "=== doctor with the new profile"
"$Z" doctor --device cuda --speed-profile "$profile" 2>&1 | grep -v NNPACK
