#!/usr/bin/env bash
# On the GPU machine (docs/gpu.md): the server on a small card and a small host (scripts/gpu-serve-small-card.py),
# with the full-size model from a diffusers folder (scripts/gpu-model.sh).
#   bash scripts/gpu-serve-small-card.sh --free 4 --host 16
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
MODEL=$(bash scripts/gpu-model.sh)
PYTHONUNBUFFERED=1 python3 scripts/gpu-serve-small-card.py --zimage "$Z" --model "$MODEL" "$@"
