#!/usr/bin/env bash
# Issue #13, GPU check: two workers on one card (one engine and one device thread each, each with its own plan) sharing
# a PostgreSQL queue. Starts a throwaway PostgreSQL (scripts/install-postgres.sh), then
#   zimage serve --store postgres://… --devices cuda:0,cuda:0
# submits JOBS jobs (default 8, 1024x1024, 8 steps), waits for them, and prints each job's state and worker, the
# per-worker metrics and the card's memory. Model flags come from the arguments, e.g.
#   bash scripts/gpu-two-workers.sh --model /models/Z-Image-Turbo
# (none: the demo model). Each worker plans for the memory free when it starts: give --vram-budget to split the card.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-8}"
PORT="${PORT:-7871}"
eval "$(bash scripts/install-postgres.sh)"
db="zimage_gpu_$$"
psql "$ZIMAGE_TEST_POSTGRES" -qc "CREATE DATABASE $db"
store="${ZIMAGE_TEST_POSTGRES%/*}/$db"
data="$(mktemp -d /tmp/zimage-gpu2.XXXXXX)"

dotnet build src/ZImageSharp.Cli -c Release -v q -nologo >/dev/null
dll="$(find src/ZImageSharp.Cli/bin/Release -name zimage.dll | head -n 1)"
dotnet "$dll" serve --store "$store" --devices cuda:0,cuda:0 --data-dir "$data" --node-name gpu \
    --urls "http://127.0.0.1:$PORT" --queue 64 "$@" >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { cat "$data/serve.log"; exit 1; }
    sleep 1
done
curl -fs "http://127.0.0.1:$PORT/api/system" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps(s["fleet"], indent=1))'

start=$(date +%s.%N)
ids=()
for i in $(seq 1 "$JOBS"); do
    ids+=("$(curl -fs -XPOST "http://127.0.0.1:$PORT/api/jobs" -H 'content-type: application/json' \
        -d "{\"prompt\":\"a lighthouse at dusk, job $i\",\"width\":1024,\"height\":1024,\"steps\":8,\"seed\":$i}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
for id in "${ids[@]}"; do
    while :; do
        state=$(curl -fs "http://127.0.0.1:$PORT/api/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
        [[ $state == queued || $state == running ]] || break
        sleep 0.5
    done
done
end=$(date +%s.%N)
psql "$store" -Atc "SELECT id, state, worker, attempt, round(total_seconds::numeric, 2) FROM zimage_jobs ORDER BY seq"
echo "wall: $(python3 -c "print(round($end - $start, 1))") s for $JOBS jobs"
curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^zimage_worker_(jobs_total|job_duration_seconds_(sum|count))'
nvidia-smi --query-gpu=memory.used,memory.total --format=csv || true
grep -E "claimed|succeeded|failed" "$data/serve.log" | tail -n 20
