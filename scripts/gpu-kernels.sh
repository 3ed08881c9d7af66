#!/usr/bin/env bash
# On the GPU machine (docs/kernels.md): the engine's own NVRTC kernels against the torch ops they replace, then the
# doctor row, then 1024² end to end with the kernels on and forced off (ZIMAGE_KERNELS=torch), one process each.
#   OUT=$OUT bash scripts/gpu-kernels.sh            (SPEED=0 skips the end-to-end pair)
# JSON lands under $OUT (default /tmp): kernels.json, speed-kernels-on.json, speed-kernels-off.json.
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
OUT=${OUT:-/tmp}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$OUT/cache}
echo "=== bench --kernels (first run compiles)"
"$Z" bench --kernels --device cuda --json "$OUT/kernels.json" 2>&1 | grep -v NNPACK
status=$?
echo; echo "=== bench --kernels again (the cubin comes from the cache)"
"$Z" bench --kernels --device cuda --json "$OUT/kernels-cached.json" 2>&1 | grep -v NNPACK | head -3
ls -l "$XDG_CACHE_HOME/zimage/kernels" 2>&1
echo; echo "=== doctor"
"$Z" doctor --device cuda 2>&1 | grep -v NNPACK | grep -i -A1 "own kernels"
if [[ "${SPEED:-1}" != 0 ]]; then
  for variant in on off; do
    echo; echo "=== 1024² kernels $variant"
    env $([[ $variant == off ]] && echo ZIMAGE_KERNELS=torch) "$Z" bench --device cuda --sizes 1024 --batches 1 --no-long-caption \
      --runs "${RUNS:-3}" --json "$OUT/speed-kernels-$variant.json" 2>&1 | grep -v NNPACK
  done
fi
exit $status
