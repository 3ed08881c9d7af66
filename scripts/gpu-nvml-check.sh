#!/usr/bin/env bash
# On the GPU machine (issue #9, docs/gpu.md): does the engine see another process's memory through NVML, found by the
# CUDA device's PCI bus id, and leave out its own? A second process (torch) holds GIB GiB (default 20) before
# `zimage doctor` and `zimage plan` run; doctor's "other processes" row should read about that much plus that
# process's CUDA context, and the plan's budget should be the card less it.
#   bash scripts/gpu-nvml-check.sh
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
GIB=${GIB:-20}
ready=$(mktemp)
python3 -c "
import torch, time, sys
x = torch.empty(int($GIB) << 30, dtype=torch.uint8, device='cuda')
torch.cuda.synchronize()
open('$ready', 'w').write('ok')
time.sleep(600)
" &
holder=$!
trap 'kill $holder 2>/dev/null' EXIT
for _ in $(seq 1 120); do [[ -s $ready ]] && break; sleep 0.5; done
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
nvidia-smi --query-gpu=pci.bus_id --format=csv,noheader
echo "=== doctor (a ${GIB} GiB holder runs beside it)"
"$Z" doctor --device cuda 2>&1 | grep -v NNPACK | grep -E "card memory|other processes|device " | head -5
echo "=== plan"
"$Z" plan --device cuda --caption-tokens 25 2>&1 | grep -v NNPACK | grep -E "fits:|budget" | head -3
