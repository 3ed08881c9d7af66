#!/usr/bin/env python3
"""The server on a small card and a small host, as a user has them (issue #9), on the GPU machine.

A second process takes the card's memory before `zimage serve` starts (leaving --free GiB), the server runs in a
cgroup v2 with memory.max (--host GiB), loads the full-size model from a diffusers folder, and gets several jobs at
once through the native API: sizes that fit this card must all succeed with no out-of-memory error, and a size no
plan fits must be refused up front with 422 and the largest size that fits. Records the card's peak use (ballast
sampling), the cgroup's memory.peak, each job's time, state and plan, and /metrics' out-of-memory and plan counters.

  python3 scripts/gpu-serve-small-card.py --zimage Z --model DIR [--free 4] [--host 16] [--out DIR]
"""
import argparse, json, os, subprocess, sys, time, urllib.error, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module
cards = import_module("gpu-small-cards")

BASE = "http://127.0.0.1:7861"


def call(method, path, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if r.headers.get_content_type() == "application/json" or raw[:1] == b"{" else raw.decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zimage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--free", type=float, default=4)
    ap.add_argument("--host", type=float, default=16)
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    args = ap.parse_args()

    ballast = cards.Ballast(args.free)
    cgroup = cards.make_cgroup(f"zimage-serve-{int(args.host)}g", args.host)
    def enter():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    before = ballast.ask("reset")
    log = open(os.path.join(args.out, "serve-small-card.log"), "w")
    started = time.time()
    server = subprocess.Popen([args.zimage, "serve", "--device", "cuda", "--model", args.model, "--urls", BASE,
                               "--data-dir", "/tmp/zimage-serve-data"] + ([] if cgroup else ["--ram-budget", f"{args.host}GiB"]),
                              stdout=log, stderr=subprocess.STDOUT, preexec_fn=enter, env=dict(os.environ, NO_COLOR="1"))
    result = {"free_gib": args.free, "host_gib": args.host, "host_limit": "cgroup memory.max" if cgroup else "--ram-budget",
              "free_at_start_gib": round(ballast.free / 2**30, 2)}
    try:
        for _ in range(300):
            try:
                if call("GET", "/health/ready", timeout=2)[0] == 200:
                    break
            except Exception:
                pass
            time.sleep(0.5)
        result["ready_s"] = round(time.time() - started, 1)
        print(f"ready after {result['ready_s']} s", flush=True)

        # Submitted together: the queue runs them one after another on the one card.
        wanted = [dict(width=1024, height=1024), dict(width=2048, height=2048), dict(width=1024, height=1024, count=2),
                  dict(width=1536, height=1024), dict(width=4096, height=4096)]
        jobs = []
        for w in wanted:
            status, body = call("POST", "/api/jobs", dict(prompt="a red fox in the snow", steps=8, seed=7, **w))
            jobs.append({"request": w, "submit_status": status, "answer": body})
            print(f"submit {w}: {status} {body.get('code', body.get('id'))} {body.get('detail', '')[:200]}", flush=True)
        for j in jobs:
            if j["submit_status"] not in (200, 201, 202):
                continue
            jid = j["answer"]["id"]
            while True:
                status, job = call("GET", f"/api/jobs/{jid}")
                if job.get("state") in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.25)
            j["job"] = {k: job.get(k) for k in ("state", "error", "plan_summary", "total_seconds", "weights", "started_at", "finished_at")}
            print(f"job {j['request']}: {job.get('state')} {job.get('total_seconds')} s, weights {job.get('weights')}, "
                  f"error {json.dumps(job.get('error'))}; {job.get('plan_summary')}", flush=True)
        _, metrics = call("GET", "/metrics")
        result["metrics"] = [l for l in metrics.splitlines()
                             if l.startswith(("zimage_oom_recoveries_total", "zimage_plans_chosen_total", "zimage_jobs_total",
                                              "zimage_jobs_by_weights_total", "zimage_requests_rejected_total"))]
        print("\n".join(result["metrics"]), flush=True)
        result["jobs"] = jobs
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        result["card_peak_gib"] = round((before - ballast.ask("report")) / 2**30, 2)
        if cgroup and os.path.exists(os.path.join(cgroup, "memory.peak")):
            result["cgroup_peak_gib"] = round(int(open(os.path.join(cgroup, "memory.peak")).read()) / 2**30, 2)
        ballast.close()
        log.close()
        result["log_tail"] = open(os.path.join(args.out, "serve-small-card.log")).read()[-4000:]
        with open(os.path.join(args.out, "serve-small-card.json"), "w") as f:
            json.dump(result, f, indent=1)
    print(f"card peak {result['card_peak_gib']} GiB of {result['free_at_start_gib']} free; "
          f"cgroup peak {result.get('cgroup_peak_gib')} GiB of {args.host}", flush=True)


if __name__ == "__main__":
    main()
