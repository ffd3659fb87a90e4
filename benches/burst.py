#!/usr/bin/python3
"""A burst of N clients (default 10,000) that queue on a one-slot process
function behind `ofn serve` and then hang up, the overload the hostile probe
used. Prints how long the queue takes to empty, the descriptor count and CPU
of `ofn serve` before, during and after, and the latency of a new request
while the burst is queued. Not a test: run it by hand on a built tree.

    python3 benches/burst.py [N]
"""
import os
import pathlib
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
OFN = ROOT / "build" / "libofn" / "ofn"
MANIFEST = (ROOT / "tests" / "python" / "test_hardening.py").read_text().split('ONE_SLOT = """', 1)[1].split('"""', 1)[0]
MANIFEST = MANIFEST.replace("%s", str(ROOT / "tests" / "data" / "process" / "behave.py"))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def queue_depth(sock):
    out = subprocess.run(["curl", "-s", "--unix-socket", sock, "http://ofn/metrics"], capture_output=True, text=True).stdout
    m = re.search(r'ofn_revision_queue_depth\{[^}]*revision="narrow-00001"\} (\S+)', out)
    return float(m.group(1)) if m else -1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as d:
        manifest = pathlib.Path(d) / "narrow.yaml"
        manifest.write_text(MANIFEST)
        proc = subprocess.Popen([str(OFN), "serve", "-f", str(manifest), "--state-dir", d + "/st", "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        port = None
        for line in proc.stdout:
            m = re.match(r"gateway listening on http://127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else port
            if line.startswith("ready"):
                break
        sock = d + "/st/admin.sock"
        host = {"Host": "narrow.default.ofn.io"}
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/" % port, headers=host)).read()
        base_fds, base_cpu = fds(proc.pid), cpu(proc.pid)
        hold = socket.create_connection(("127.0.0.1", port))
        hold.sendall(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: narrow.default.ofn.io\r\n\r\n")
        t0 = time.monotonic()
        clients = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: narrow.default.ofn.io\r\n\r\n")
            clients.append(s)
        while queue_depth(sock) < n * 0.99 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        print("queued %d requests in %.2f s; ofn serve holds %d descriptors (idle: %d)" %
              (queue_depth(sock), time.monotonic() - t0, fds(proc.pid), base_fds))
        t1 = time.monotonic()
        for s in clients:
            s.close()
        while queue_depth(sock) > 0 and time.monotonic() - t1 < 60:
            time.sleep(0.01)
        print("queue empty %.2f s after the clients hung up" % (time.monotonic() - t1))
        while fds(proc.pid) > base_fds + 8 and time.monotonic() - t1 < 60:
            time.sleep(0.01)
        print("descriptors back to %d (idle %d) %.2f s after" % (fds(proc.pid), base_fds, time.monotonic() - t1))
        c0 = cpu(proc.pid)
        time.sleep(2)
        print("CPU of ofn serve over the next 2 s: %.2f s" % (cpu(proc.pid) - c0))
        hold.close()
        t2 = time.monotonic()
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/" % port, headers=host), timeout=10).read()
        print("a new request answered in %.1f ms; ofn serve alive: %s" % ((time.monotonic() - t2) * 1000, proc.poll() is None))
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
