#!/usr/bin/env bash
# What an API-only node of a fleet (zimage serve --devices none) costs: seconds to ready and peak resident memory,
# with the full-size architecture (--random-weights: built on the meta device, no weights read). Prints a table and
# writes JSON. Needs a PostgreSQL server (scripts/install-postgres.sh prints one) and a built CLI.
# usage: scripts/api-node-footprint.sh [postgres://… server URI] [output.json]
set -euo pipefail
cd "$(dirname "$0")/.."
server="${1:-${ZIMAGE_TEST_POSTGRES:-$(cat /tmp/zimage-test-postgres.conn 2>/dev/null || true)}}"
out="${2:-bench/results/cpu-api-node-footprint-$(date +%F).json}"
[ -n "$server" ] || { echo "give a PostgreSQL URI (or run: eval \"\$(bash scripts/install-postgres.sh)\")" >&2; exit 2; }
zimage=src/ZImageSharp.Cli/bin/Release/net10.0/linux-x64/zimage
[ -x "$zimage" ] || dotnet build src/ZImageSharp.Cli -c Release >/dev/null
db="zimage_api_footprint_$$"
base="${server%/*}"
psql "$server" -qc "CREATE DATABASE $db" >/dev/null
data="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
start=$(date +%s.%N)
"$zimage" serve --devices none --store "$base/$db" --random-weights --urls "http://127.0.0.1:$port" --data-dir "$data" >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; psql "$server" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; rm -rf "$data"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; do
  kill -0 $pid 2>/dev/null || { cat "$data/log" >&2; exit 1; }
  sleep 0.2
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
plan_ms=$(curl -s -o /dev/null -w '%{time_total}' -X POST "http://127.0.0.1:$port/api/plan" -H 'content-type: application/json' \
  -d '{"prompt":"a lighthouse","width":1024,"height":1024}')
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
printf '| %-34s | %12s | %14s | %14s | %12s |\n' "node" "ready (s)" "peak RSS (MiB)" "RSS now (MiB)" "/api/plan (s)"
printf '| %-34s | %12.2f | %14d | %14d | %12s |\n' "API-only, full-size architecture" "$ready" $((hwm_kb / 1024)) $((rss_kb / 1024)) "$plan_ms"
mkdir -p "$(dirname "$out")"
cat >"$out" <<JSON
{"date": "$(date -u +%FT%TZ)", "machine": "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)", "commit": "$(git rev-parse --short HEAD)",
 "command": "zimage serve --devices none --store postgres://… --random-weights",
 "ready_seconds": $ready, "peak_rss_bytes": $((hwm_kb * 1024)), "rss_bytes": $((rss_kb * 1024)), "first_plan_seconds": $plan_ms}
JSON
echo "wrote $out"
