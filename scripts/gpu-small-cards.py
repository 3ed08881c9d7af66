#!/usr/bin/env python3
"""Small cards and small hosts as a user has them (issue #9), on the GPU machine.

A second process takes the card's memory *before* `zimage` starts (a ballast), leaving F GiB free; `zimage generate`
then loads the full-size model from a diffusers folder on disk and generates. For each (free GiB, size) cell this
records: success, the engine's plan, the generation time against the resident run of the same size, the card's peak
use by zimage (the ballast samples cudaMemGetInfo every 20 ms: free-before minus the lowest free seen), the peak RSS
(wait4's ru_maxrss) and the image's deviation from the resident image (rel_l2). Host limits run the child in a cgroup
v2 with memory.max (or, where the cgroup cannot be made, with --ram-budget, and says which).

  python3 scripts/gpu-small-cards.py --zimage Z --model DIR [--free 24,16,12,8,6,4] [--sizes 1024,2048]
         [--host-limits 16:8,32:8,16:0] [--cells "0:1024:--dtype fp32"] [--baseline-zimage Z0 --startup-runs N]
         [--out DIR]
--host-limits takes HOST_GiB:FREE_GiB[:SIZE] (FREE 0 = no ballast; SIZE defaults to the first of --sizes).
--cells takes FREE_GiB:SIZE:FLAGS;… (extra generate flags, e.g. --dtype fp32), compared with the resident bf16 image.
--baseline-zimage runs another build (e.g. the code before a change) and this one in turn, resident at the first
size, --startup-runs times each, and reports start-up (the process's wall time less its generation) side by side.
Writes OUT/LABEL.json and prints a table.
"""
import argparse, json, os, re, subprocess, sys, threading, time

BALLAST = r'''
import sys, threading, time, torch
free_gib = float(sys.argv[1])
torch.cuda.init()
f, total = torch.cuda.mem_get_info()
hold = int(f - free_gib * 2**30) if free_gib > 0 else 0
x = torch.empty(max(hold, 0), dtype=torch.uint8, device="cuda") if hold > 0 else None
torch.cuda.synchronize()
state = {"min": torch.cuda.mem_get_info()[0]}
def sample():
    while True:
        state["min"] = min(state["min"], torch.cuda.mem_get_info()[0])
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
print(f"ready {torch.cuda.mem_get_info()[0]} {total}", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "reset":
        state["min"] = torch.cuda.mem_get_info()[0]
        print(f"free {state['min']}", flush=True)
    elif cmd == "report":
        print(f"min {state['min']}", flush=True)
    elif cmd == "quit":
        break
'''


class Ballast:
    """Holds all but `free_gib` of the card in another process and samples the card's free memory."""

    def __init__(self, free_gib):
        self.p = subprocess.Popen([sys.executable, "-c", BALLAST, str(free_gib)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        parts = self.p.stdout.readline().split()
        if not parts or parts[0] != "ready":
            raise RuntimeError("ballast did not start")
        self.free, self.total = int(parts[1]), int(parts[2])

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline().split()[1])

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=20)
        except Exception:
            self.p.kill()


def make_cgroup(name, limit_gib):
    """A cgroup v2 with memory.max, or None where this machine does not allow one."""
    root = "/sys/fs/cgroup"
    path = os.path.join(root, name)
    try:
        with open(os.path.join(root, "cgroup.subtree_control")) as f:
            if "memory" not in f.read().split():
                with open(os.path.join(root, "cgroup.subtree_control"), "w") as w:
                    w.write("+memory")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "memory.max"), "w") as f:
            f.write(str(int(limit_gib * 2**30)))
        with open(os.path.join(path, "memory.swap.max"), "w") as f:
            f.write("0")
        return path
    except OSError as e:
        print(f"  (no cgroup: {e}; using --ram-budget instead)", flush=True)
        return None


def run_zimage(args, extra, cgroup=None, ballast=None, zimage=None):
    """Runs one `zimage generate`; returns wall time, ru_maxrss, output text and the card's peak use."""
    if ballast:
        before = ballast.ask("reset")
    def enter_cgroup():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    start = time.time()
    p = subprocess.Popen([zimage or args.zimage, "generate", "--device", "cuda", "--model", args.model, "--seed", "7",
                          "--prompt", "a red fox in the snow"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=enter_cgroup,
                         env=dict(os.environ, NO_COLOR="1", COLUMNS="200"))
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.time() - start
    peak_card = None
    if ballast:
        peak_card = before - ballast.ask("report")
    cgroup_peak = None
    if cgroup and os.path.exists(os.path.join(cgroup, "memory.peak")):
        cgroup_peak = int(open(os.path.join(cgroup, "memory.peak")).read())
    return {"rc": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 2), "max_rss_gib": round(usage.ru_maxrss / 2**20, 2),
            "card_peak_gib": None if peak_card is None else round(peak_card / 2**30, 2),
            "cgroup_peak_gib": None if cgroup_peak is None else round(cgroup_peak / 2**30, 2), "output": out}


def parse(result):
    # Spectre wraps at the console width when output is redirected: read the words, not the lines.
    out = " ".join(result["output"].split())
    m = re.search(r"total ([0-9.]+) s", out)
    result["generate_s"] = float(m.group(1)) if m else None
    m = re.search(r"recovered from (\d+) out-of-memory", out)
    result["oom_recoveries"] = int(m.group(1)) if m else 0
    result["oom_error"] = "out of memory" in out.lower() and result["rc"] != 0
    m = re.search(r"plan: (.*?VAE [^.]*\.)", out)
    result["plan"] = m.group(1) if m else None
    # What the plan predicted, to set beside what was measured: "peak 21.91 GiB of …, host RAM 1.00 GiB of …".
    m = re.search(r"plan: \S+ in [0-9.]+ s, peak ([0-9.]+) (GiB|MiB) of", out)
    result["plan_peak_gib"] = round(float(m.group(1)) / (1024 if m.group(2) == "MiB" else 1), 2) if m else None
    m = re.search(r"host RAM ([0-9.]+) (GiB|MiB) of", out)
    result["plan_host_gib"] = round(float(m.group(1)) / (1024 if m.group(2) == "MiB" else 1), 2) if m else None
    result["phases"] = (re.search(r"(encode \d+ ms.*?total [0-9.]+ s)", out) or [None, None])[1] if re.search(r"encode \d+ ms", out) else None
    return result


def rel_l2(a_path, b_path):
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(a_path).convert("RGB")).astype(np.float64)
    b = np.asarray(Image.open(b_path).convert("RGB")).astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zimage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--free", default="24,16,12,8,6,4")
    ap.add_argument("--sizes", default="1024,2048")
    ap.add_argument("--host-limits", default="")
    ap.add_argument("--images", default="/tmp/small-cards")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    ap.add_argument("--label", default="small-cards")
    ap.add_argument("--cells", default="")
    ap.add_argument("--baseline-zimage", default="")
    ap.add_argument("--startup-runs", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.images, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []

    def cell(free, size, host=None, extra=(), zimage=None, tag=""):
        name = f"{args.images}/f{free}-s{size}" + (f"-h{host}" if host else "") + tag + ".png"
        ballast = Ballast(free) if free else Ballast(0)
        cgroup, flags = None, ["-W", str(size), "-H", str(size), "--output", name] + list(extra)
        how = "none"
        if host:
            cgroup = make_cgroup(f"zimage-{host}g-{free}-{size}", host)
            how = "cgroup memory.max" if cgroup else "--ram-budget"
            if not cgroup:
                flags += ["--ram-budget", f"{host}GiB"]
        try:
            r = parse(run_zimage(args, flags, cgroup, ballast, zimage))
        finally:
            ballast.close()
        r.update({"free_gib": free, "size": size, "host_gib": host, "host_limit": how, "image": name,
                  "free_at_start_gib": round(ballast.free / 2**30, 2), "extra_flags": " ".join(extra),
                  "build": "baseline" if zimage else "this"})
        if r["generate_s"]:
            r["startup_s"] = round(r["wall_s"] - r["generate_s"], 2)
        rows.append(r)
        status = "ok" if r["rc"] == 0 else f"rc {r['rc']}"
        print(f"free {free or 'all':>4} GiB  {size}²  host {host or '-':>3} {' '.join(extra)} {r['build']}  {status:6} gen {r['generate_s']} s  wall {r['wall_s']} s  "
              f"card peak {r['card_peak_gib']} GiB  rss {r['max_rss_gib']} GiB  oom-recoveries {r['oom_recoveries']}", flush=True)
        if r["rc"] != 0:
            print(r["output"][-2000:], flush=True)
        # Written after every cell, so a run stopped at its time limit keeps what it measured.
        with open(os.path.join(args.out, f"{args.label}.json"), "w") as f:
            json.dump([{k: v for k, v in x.items() if k != "output"} for x in rows], f, indent=1)
        return r

    resident = {s: cell(0, s) for s in sizes}
    for free in [int(f) for f in args.free.split(",") if f]:
        for s in sizes:
            cell(free, s)
    for spec in [h for h in args.host_limits.split(",") if h]:
        parts = [int(x) for x in spec.split(":")]
        cell(parts[1], parts[2] if len(parts) > 2 else sizes[0], host=parts[0])
    for i, spec in enumerate(c for c in args.cells.split(";") if c):
        free, size, flags = spec.split(":", 2)
        cell(int(free), int(size), extra=flags.split(), tag=f"-c{i}")
    startup = []
    if args.baseline_zimage:
        # Alternated, so the page cache and the card's clocks treat both builds alike.
        for i in range(args.startup_runs):
            startup.append(cell(0, sizes[0], zimage=args.baseline_zimage, tag=f"-base{i}"))
            startup.append(cell(0, sizes[0], tag=f"-this{i}"))

    for r in rows:
        if r in startup:
            continue
        base = resident.get(r["size"])
        if r["rc"] == 0 and base and base["rc"] == 0:
            r["time_vs_resident"] = round(r["generate_s"] / base["generate_s"], 3) if r["generate_s"] and base["generate_s"] else None
            r["rel_l2_vs_resident"] = round(rel_l2(r["image"], base["image"]), 5)
        r["output_tail"] = r.pop("output")[-3000:]

    print("\n| free GiB | size | host | ok | generate s | × resident | card peak GiB | peak RSS GiB | rel_l2 vs resident | plan |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['free_gib'] or 'all'} | {r['size']} | {(str(r['host_gib']) + ' (' + r['host_limit'] + ')') if r['host_gib'] else '-'} | "
              f"{'yes' if r['rc'] == 0 else 'NO'} | {r['generate_s']} | {r.get('time_vs_resident')} | {r['card_peak_gib']} | "
              f"{r['max_rss_gib']} | {r.get('rel_l2_vs_resident')} | {r['plan']} |")
    if startup:
        print("\n| build | start-up s (wall − generation) | generate s | wall s | card peak GiB | peak RSS GiB |")
        print("|---|---|---|---|---|---|")
        for r in startup:
            print(f"| {r['build']} | {r.get('startup_s')} | {r['generate_s']} | {r['wall_s']} | {r['card_peak_gib']} | {r['max_rss_gib']} |")
    for r in startup:
        r["output_tail"] = r.pop("output")[-3000:]
    with open(os.path.join(args.out, f"{args.label}.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
