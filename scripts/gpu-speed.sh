#!/usr/bin/env bash
# On the GPU machine (docs/gpu.md): 1024² batch-1 speed under several engine settings, one fresh process each, on the
# same warm card, so alternatives are compared as ratios of one run.
#   VARIANTS="base; cl:ZIMAGE_VAE_CHANNELS_LAST=1" RUNS=3 SIZES=1024 bash scripts/gpu-speed.sh [extra bench args]
# Each variant is name:VAR=value,VAR=value (no variables for the baseline). JSON lands under $OUT (default /tmp).
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
OUT=${OUT:-/tmp}
IFS=';' read -ra variants <<< "${VARIANTS:-base}"
for variant in "${variants[@]}"; do
  variant=$(echo "$variant" | xargs)
  name=${variant%%:*}
  vars=""
  [[ "$variant" == *:* ]] && vars=${variant#*:}
  echo; echo "=== $name ${vars}"
  env ${vars//,/ } "$Z" bench --device cuda --sizes "${SIZES:-1024}" --batches 1 --no-long-caption --runs "${RUNS:-3}" \
    --json "$OUT/speed-$name.json" "$@" 2>&1 | grep -v NNPACK | grep -v "^\[grey\]"
done
