#!/usr/bin/env python3
"""Cold start of a container instance against bare `ctr run` of the same
image on the same containerd: the time from a request to a revision at zero
until its first response (ofn serve --containerd), and from `ctr run -d` of
the image until it answers on its port. A/B alternated, N rounds each,
median and p95. Needs root; starts a private containerd and stops it.

    sudo python3 benches/containerd_cold_start.py [--rounds 20] [--build build-release]
"""
import argparse
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, host=None):
    req = urllib.request.Request("http://127.0.0.1:%d/" % port, headers={"Host": host} if host else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def wait_answer(port, deadline):
    while time.monotonic() < deadline:
        try:
            return get(port)
        except OSError:
            time.sleep(0.001)
    raise RuntimeError("no answer on port %d" % port)


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--build", default="build-release")
    args = ap.parse_args()
    ofn = str(ROOT / args.build / "libofn" / "ofn")
    from test_containerd import Containerd  # the tests' private containerd

    import pytest  # noqa: F401  (test_containerd needs it importable)
    c = Containerd()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ofn-bench-"))
    try:
        env = dict(os.environ, OFN_CONTAINERD=c.socket, OFN=ofn)
        subprocess.run([str(ROOT / "examples/containerd-hello/build-image.sh")], env=env, check=True,
                       capture_output=True)
        image = "example.local/containerd-hello:v1"
        proc = subprocess.Popen([ofn, "serve", "--state-dir", str(tmp / "state"), "--listen", "127.0.0.1:0",
                                 "--containerd=" + c.socket, "--scale-to-zero-grace", "0",
                                 "--autoscaler", "stable-window=6s",
                                 "-f", str(ROOT / "examples/containerd-hello/function.yaml")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        port = None
        for line in proc.stdout:
            m = re.match(r"gateway listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
            if line.startswith("ready"):
                break
        host = "hello-container.default.ofn.io"
        ofn_times, ctr_times = [], []
        for i in range(args.rounds):
            # A: wait until the revision is at zero containers, then one request.
            deadline = time.monotonic() + 120
            while c.rows("containers", "ls", "-q") and time.monotonic() < deadline:
                time.sleep(0.05)
            t0 = time.monotonic()
            get(port, host)
            ofn_times.append(time.monotonic() - t0)
            # B: the same image with ctr, host network, until it answers.
            p = free_port()
            name = "bench-%d" % i
            t0 = time.monotonic()
            subprocess.run(["ctr", "--address", c.socket, "-n", "ofn", "run", "-d", "--net-host", "--env",
                            "PORT=%d" % p, image, name], check=True, capture_output=True)
            wait_answer(p, time.monotonic() + 30)
            ctr_times.append(time.monotonic() - t0)
            c.ctr("tasks", "kill", "-s", "KILL", name, check=False)
            time.sleep(0.1)
            c.ctr("tasks", "rm", "-f", name, check=False)
            c.ctr("containers", "rm", name, check=False)
        proc.terminate()
        proc.wait(timeout=30)
        ms = lambda x: "%.1f ms" % (x * 1000)
        print("containerd cold start, %d rounds (A/B alternated)" % args.rounds)
        print("  ofn serve --containerd, request at zero to first response: median %s  p95 %s"
              % (ms(statistics.median(ofn_times)), ms(p95(ofn_times))))
        print("  ctr run -d --net-host until the port answers:               median %s  p95 %s"
              % (ms(statistics.median(ctr_times)), ms(p95(ctr_times))))
        print("  ratio (median): %.2fx" % (statistics.median(ofn_times) / statistics.median(ctr_times)))
    finally:
        c.stop()


if __name__ == "__main__":
    main()
