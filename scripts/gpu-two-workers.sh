#!/usr/bin/env bash
# Issue #13, GPU check: two workers on one card (one engine and one device thread each, each with its own plan) beside
# one worker, in the same call. Runs the carried bundle (scripts/publish-gpu.sh, scripts/gpu-unpack.sh):
#   zimage serve --devices cuda:0            (one worker)
#   zimage serve --devices cuda:0,cuda:0     (two workers)
# with a PostgreSQL store when the machine has PostgreSQL (scripts/install-postgres.sh), else the embedded SQLite
# store (the GPU machine has none; nothing can be installed there). Each run submits JOBS jobs (default 8, 1024x1024,
# 8 steps) at once, waits for all, and prints each job's state and worker, wall time, per-worker metrics and the
# card's memory. Model flags come from the arguments (default --random-weights: the released size, random weights):
#   bash scripts/gpu-two-workers.sh [--model DIR]
# Each worker plans for the memory free when it starts; give --vram-budget to split the card.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-8}"
PORT="${PORT:-7871}"
Z=$(bash scripts/gpu-unpack.sh)
model_args=("$@")
[[ ${#model_args[@]} -eq 0 ]] && model_args=(--random-weights)

store_args=()
if ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 && env_line="$(bash scripts/install-postgres.sh 2>/dev/null)"; then
    eval "$env_line"
    store_args=(--store "$ZIMAGE_TEST_POSTGRES")
    echo "store: PostgreSQL $ZIMAGE_TEST_POSTGRES"
else
    echo "store: SQLite (no PostgreSQL on this machine)"
fi

run() {
    local devices=$1 data
    data="$(mktemp -d /tmp/zimage-gpu2.XXXXXX)"
    "$Z" serve --devices "$devices" --data-dir "$data" --node-name gpu --urls "http://127.0.0.1:$PORT" --queue 64 \
        "${store_args[@]}" "${model_args[@]}" >"$data/serve.log" 2>&1 &
    local server=$! started
    started=$(date +%s.%N)
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
        kill -0 $server 2>/dev/null || { tail -50 "$data/serve.log"; return 1; }
        sleep 0.5
    done
    echo "=== --devices $devices: ready after $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s"
    local start ids=() id state end
    start=$(date +%s.%N)
    for i in $(seq 1 "$JOBS"); do
        ids+=("$(curl -fs -XPOST "http://127.0.0.1:$PORT/api/jobs" -H 'content-type: application/json' \
            -d "{\"prompt\":\"a lighthouse at dusk, job $i\",\"width\":1024,\"height\":1024,\"steps\":8,\"seed\":$i}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
    done
    for id in "${ids[@]}"; do
        while :; do
            state=$(curl -fs "http://127.0.0.1:$PORT/api/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
            [[ $state == queued || $state == running ]] || break
            sleep 0.2
        done
    done
    end=$(date +%s.%N)
    for id in "${ids[@]}"; do
        curl -fs "http://127.0.0.1:$PORT/api/jobs/$id" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["id"][:8], j["state"], j.get("worker", ""), j.get("timings", {}).get("total_seconds", j.get("total_seconds", "")))'
    done
    echo "wall: $(python3 -c "print(round($end - $start, 2))") s for $JOBS jobs with --devices $devices"
    curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^zimage_worker_(jobs_total|job_duration_seconds_(sum|count))|^zimage_(device_peak|gpu_).*bytes' | head -20
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader || true
    grep -ciE "out of memory" "$data/serve.log" | sed 's/^/out-of-memory lines in the log: /'
    kill $server 2>/dev/null; wait $server 2>/dev/null
}

# ONE/TWO let the same script run on a CPU machine (ONE=cpu TWO=cpu,cpu with the demo model: --demo).
run "${ONE:-cuda:0}"
run "${TWO:-cuda:0,cuda:0}"
