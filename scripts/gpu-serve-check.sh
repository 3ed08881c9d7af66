#!/usr/bin/env bash
# On the GPU machine: start `zimage serve` from the bundle and ask the OpenAI endpoint for a 1024² image.
set -uo pipefail
Z=$(bash scripts/gpu-unpack.sh)
OUT=${OUT:-/tmp}
cd /tmp
"$Z" serve --device cuda ${SERVE_ARGS:-} --urls http://127.0.0.1:7860 --data-dir /tmp/zimage-data > "$OUT/serve.log" 2>&1 &
pid=$!
for i in $(seq 1 240); do curl -sf http://127.0.0.1:7860/health/ready >/dev/null && break; sleep 1; done
echo "ready after ${i}s"
start=$(date +%s.%N)
curl -s -X POST http://127.0.0.1:7860/v1/images/generations -H 'content-type: application/json' \
  -d '{"prompt":"a lighthouse on a cliff at dusk","size":"1024x1024","response_format":"b64_json"}' > "$OUT/openai.json"
end=$(date +%s.%N)
python3 - "$OUT/openai.json" "$OUT/openai.png" <<'PY'
import base64, json, struct, sys
d = json.load(open(sys.argv[1]))
png = base64.b64decode(d["data"][0]["b64_json"])
open(sys.argv[2], "wb").write(png)
w, h = struct.unpack(">II", png[16:24])
print(f"OpenAI endpoint: {len(png)} byte PNG, {w}x{h}, signature ok: {png[:8] == b'\x89PNG\r\n\x1a\n'}")
PY
echo "request took $(python3 -c "print(round($end-$start,2))") s"
curl -s http://127.0.0.1:7860/api/system | head -c 700; echo
curl -s http://127.0.0.1:7860/metrics | grep -E "^zimage_" | head -20
kill $pid; wait $pid 2>/dev/null
[ "${SOAK:-0}" -gt 0 ] && { echo "=== soak"; "$Z" bench --device cuda --sizes 512 --soak "$SOAK" --json "$OUT/soak.json" 2>&1 | grep -v NNPACK; }
