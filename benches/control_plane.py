#!/usr/bin/env python3
"""The control plane at scale: N in-process Functions applied at once.

    python3 benches/control_plane.py [--build build-release] [--counts 1000,10000]
                                     [--list-runs 5]

For each count: a fresh `ofn serve` (empty state), one `ofn apply -f` of a
file with N Functions (the hello-world example, each with its own name and
so its own host, scale to zero allowed), then

  - apply: the wall time of `ofn apply` (parse, validate, store);
  - running: from the start of the apply until every Function reports
    status.serving.state Running (`/v1/functions` of the admin API, polled
    every 100 ms: the poll itself is a list of N, so it loads the platform
    as a watching client would);
  - RSS: `ofn serve`'s resident set before the apply, once all are
    Running, and after --settle seconds of quiet (what it keeps once the
    burst is over), and the differences per Function;
  - list: `ofn get functions` (the table of all N) run --list-runs times,
    median and max.

The issue's goals: 10,000 Running within 5 s of the apply and <= 10 KiB RSS
each; 100,000 within 60 s; `ofn get functions` at 10,000 in <= 200 ms.
Run by hand on an optimized build; nothing here is a test.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

FUNCTION = """---
apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: fn-{i}
spec:
  version: "v1.0.0"
  image: "ofn.local/hello-world:latest"
  serving:
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def admin_get(sock, path, timeout=60):
    out = subprocess.run(["curl", "-s", "--max-time", str(timeout), "--unix-socket", sock, "http://ofn" + path],
                         capture_output=True, text=True)
    return out.stdout


def running_count(sock):
    body = admin_get(sock, "/v1/functions?namespace=default")
    try:
        items = json.loads(body)
    except ValueError:
        return -1
    if isinstance(items, dict):
        items = items.get("items", [])
    n = 0
    for f in items:
        if f.get("status", {}).get("serving", {}).get("state") == "Running":
            n += 1
    return n


def run(ofn, lib_dir, count, list_runs, settle, tmp):
    state = tmp / ("state-%d" % count)
    manifest = tmp / ("fns-%d.yaml" % count)
    manifest.write_text("".join(FUNCTION.format(i=i) for i in range(count)))
    proc = subprocess.Popen([ofn, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0", "--lib-dir",
                             str(lib_dir), "--scale-to-zero-grace", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("ready"):
                break
        reader = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=subprocess.DEVNULL)
        sock = str(state / "admin.sock")
        env = dict(os.environ, OFN_SERVER="unix:" + sock)
        rss0 = rss_kib(proc.pid)
        t0 = time.monotonic()
        r = subprocess.run([ofn, "apply", "-f", str(manifest)], env=env,
                           capture_output=True, text=True, timeout=3600)
        applied = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError("apply failed: " + r.stderr[-2000:])
        running = None
        deadline = t0 + 3600
        while time.monotonic() < deadline:
            if running_count(sock) >= count:
                running = time.monotonic() - t0
                break
            time.sleep(0.1)
        rss1 = rss_kib(proc.pid)
        lists = []
        for _ in range(list_runs):
            s = time.monotonic()
            out = subprocess.run([ofn, "get", "functions"], env=env,
                                 capture_output=True, text=True, timeout=600)
            lists.append((time.monotonic() - s) * 1000)
            if out.returncode != 0 or out.stdout.count("\n") < count:
                raise RuntimeError("get functions: %d lines, %s" % (out.stdout.count("\n"), out.stderr[-500:]))
        # Quiet for a while: what the platform keeps once the burst is over
        # (the allocator gives back freed pages after its decay time).
        time.sleep(settle)
        rss2 = rss_kib(proc.pid)
        return {"count": count, "apply_s": applied, "running_s": running, "rss0_mib": rss0 / 1024,
                "rss1_mib": rss1 / 1024, "kib_each": (rss1 - rss0) / count,
                "rss2_mib": rss2 / 1024, "kib_each_settled": (rss2 - rss0) / count,
                "list_ms_median": statistics.median(lists), "list_ms_max": max(lists)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--list-runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=15, help="seconds of quiet before the settled RSS")
    args = ap.parse_args()
    build = ROOT / args.build
    ofn = build / "libofn" / "ofn"
    if not ofn.exists():
        sys.exit("%s is not built (meson setup %s --buildtype=release && ninja -C %s)" % (ofn, args.build,
                                                                                           args.build))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print("machine: %d cores; commit %s; build %s" % (os.cpu_count(), commit, args.build))
    with tempfile.TemporaryDirectory(prefix="ofn-cp-") as d:
        tmp = pathlib.Path(d)
        for count in [int(c) for c in args.counts.split(",")]:
            r = run(ofn, build / "examples", count, args.list_runs, args.settle, tmp)
            running = "%.1f s" % r["running_s"] if r["running_s"] is not None else "not all within the hour"
            print("%7d Functions: apply %.2f s; all Running %s after the apply began; RSS %.0f -> %.0f MiB "
                  "(%.1f KiB each), %.0f MiB after %.0f s of quiet (%.1f KiB each); `ofn get functions` median "
                  "%.0f ms (max %.0f)" % (
                      count, r["apply_s"], running, r["rss0_mib"], r["rss1_mib"], r["kib_each"], r["rss2_mib"],
                      args.settle, r["kib_each_settled"], r["list_ms_median"], r["list_ms_max"]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
