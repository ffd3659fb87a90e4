#!/usr/bin/env python3
"""The data plane side by side with nginx, on loopback, A/B alternated.

    python3 benches/load.py [--build build-release] [--duration 5] [--rounds 3]
                            [--connections 16] [--cold-rounds 20] [--cold-history 64]
                            [--only load,cold]
                            [--hold]

load: wrk (one thread, --connections connections) for --duration seconds per
run, after a warm-up run, A and B alternated --rounds times; medians of
req/s, p50 and p99:
  (a) the in-process hello-world function through the gateway
  (b) nginx `return 200` with as many workers as the gateway has I/O threads
  (c) a process function (nginx `return 200` on $PORT) through the gateway
  (d) nginx `proxy_pass` with upstream keep-alive to the same upstream
  (u) the upstream alone, for the latency each proxy adds
and (c), (d) and (u) again at half of the lower of (c)'s and (d)'s maximum
rate, paced (h2load sends each request at its time, answered or not), for
the p99 each proxy adds at half load.
cold: a request to a revision at zero until its response, --cold-rounds
times: the in-process function, the process function, and the bare start of
the same upstream program (spawned until its port answers), alternated; and
the in-process request again once its instance is up, so the start's own
share (cold - warm) can be read apart from the client's and the connection's.
Before the rounds each function serves --cold-history requests: a function
that has served before it went to zero, as most cold starts are.

Installs wrk, h2load and nginx-light when missing (scripts/setup.sh --bench) and
builds --build when it has no ofn (meson, release). --hold starts the
servers, prints their ports and waits until interrupted (to profile one of
them by hand).
"""
import argparse
import http.client
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
IO_THREADS = 2  # the gateway's default (PlatformOptions::io_threads)

NGINX_MAIN = """
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/{name}.pid;
error_log {prefix}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 1000000;
  {body}
}}
"""

RETURN_200 = """server {{ listen 127.0.0.1:{port}; location / {{ return 200 "Hello, World! (path /)\\n"; }} }}"""

PROXY = """
upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}
server {{
  listen 127.0.0.1:{port};
  location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }}
}}
"""

IN_PROCESS = """
apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: hello
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

# The same function kept at one instance: what a request costs after the
# same idle time when nothing has to start (this VM wakes an idle thread
# slowly, nginx's too).
IN_PROCESS_UP = IN_PROCESS.replace("name: hello\n", "name: hello-up\n").replace(
    "  serving:\n", "  serving:\n    scaleOptions:\n      minReplicas: 1\n")

PROCESS = """
apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: upstream
spec:
  version: "v1.0.0"
  image: "ofn.local/bench-upstream:latest"
  serving:
    template:
      containers:
        - name: function
          command: ["sh", "{script}"]
    triggers:
      http:
        port: 8080
"""

# Starts nginx `return 200` on $PORT in the foreground (the process
# function, and the bare start it is compared with).
UPSTREAM_SH = """#!/bin/sh
d={prefix}/up-$PORT
mkdir -p $d/body $d/proxy $d/fastcgi $d/uwsgi $d/scgi
sed "s/@PORT@/$PORT/g; s#@DIR@#$d#g" {prefix}/upstream.conf.in > $d/nginx.conf
exec nginx -p $d -c $d/nginx.conf
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("nothing answers on port %d" % port)


def http_get(port, host, path="/", timeout=30.0):
    """One HTTP/1.1 request on a new connection; the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def answered_ms(port, start, timeout=30.0):
    """Polls (1 ms) until port answers an HTTP request; ms since start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(port, "localhost", timeout=5) == 200:
                return (time.monotonic() - start) * 1000
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError("no answer on port %d" % port)


def children(pid):
    """The processes whose parent is `pid` (an nginx master's workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def cpu_seconds(pids):
    """User + system CPU time of `pids` (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class NginxWorkers:
    """The CPU time of an nginx master's workers."""

    def __init__(self, master):
        self.master = master

    def cpu_pids(self):
        return children(self.master.pid)


class Nginx:
    def __init__(self, prefix, name, body, workers=IO_THREADS):
        self.conf = prefix / (name + ".conf")
        self.conf.write_text(NGINX_MAIN.format(workers=workers, prefix=prefix, name=name, body=body))
        self.proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cpu_pids(self):
        return NginxWorkers(self.proc).cpu_pids()

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Ofn:
    def __init__(self, ofn, lib_dir, state, manifests):
        args = [ofn, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0", "--lib-dir", str(lib_dir),
                "--scale-to-zero-grace", "0", "--autoscaler", "stable-window=6s"]
        for m in manifests:
            args += ["-f", str(m)]
        self.state = state
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        for line in self.proc.stdout:
            m = re.match(r"gateway listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if line.startswith("ready"):
                break
        if self.port is None:
            raise RuntimeError("ofn serve did not start")
        # Keep reading its output, or a full pipe blocks it.
        self.reader = subprocess.Popen(["cat"], stdin=self.proc.stdout, stdout=subprocess.DEVNULL)

    def cpu_pids(self):
        return [self.proc.pid]  # the gateway's process, not the instances it starts

    def metrics(self):
        sock = str(self.state / "admin.sock")
        out = subprocess.run(["curl", "-s", "--unix-socket", sock, "http://ofn/metrics"], capture_output=True,
                             text=True, timeout=10).stdout
        return out

    def metric_total(self, name, function, text=None):
        """The sum of metric `name` over a function's revisions (from `text`, else a fresh scrape)."""
        total = 0.0
        for line in (self.metrics() if text is None else text).splitlines():
            if line.startswith(name + "{") and ('function="%s"' % function) in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cold_starts(self, function):
        """The platform's own start-to-ready histogram for a function: (count, sum in seconds)."""
        text = self.metrics()
        return (int(self.metric_total("ofn_revision_cold_start_seconds_count", function, text)),
                self.metric_total("ofn_revision_cold_start_seconds_sum", function, text))

    def ready_instances(self, function):
        return int(self.metric_total("ofn_revision_ready_instances", function))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.wait(timeout=10)


def wrk(port, host, duration, connections, pids=()):
    before = cpu_seconds(pids)
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency", "-H",
                          "Host: " + host, "http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True, check=True).stdout

    def latency(pct):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError("wrk saw %s non-2xx responses on port %d" % (errors.group(1), port))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    cpu_us = (cpu_seconds(pids) - before) * 1e6 / requests if pids and requests else 0.0
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "cpu": cpu_us}


def paced(port, host, rate, duration, clients=8, pids=()):
    """h2load (HTTP/1.1, `clients` keep-alive connections) sending `rate`
    requests per second in all for `duration` seconds, each request at its
    time whether or not the one before was answered; p50 and p99 of its
    per-request log."""
    before = cpu_seconds(pids)
    total = int(rate * duration)
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as log:
        out = subprocess.run(["h2load", "--h1", "-c%d" % clients, "-n%d" % total, "--rps=%d" % max(1, rate // clients),
                              "--connect-to=127.0.0.1:%d" % port, "--log-file=" + log.name, "http://%s/" % host],
                             capture_output=True, text=True, timeout=duration * 4 + 30).stdout
        rows = [line.split("\t") for line in open(log.name) if line.strip()]
    failed = [r for r in rows if not r[1].startswith("2")]
    if failed or len(rows) != total:
        raise RuntimeError("h2load on port %d: %d of %d answered, %d not 2xx\n%s" % (
            port, len(rows), total, len(failed), out))
    us = sorted(int(r[2]) for r in rows)
    cpu_us = (cpu_seconds(pids) - before) * 1e6 / total if pids else 0.0
    return {"p50": us[len(us) // 2] / 1000, "p99": us[min(len(us) - 1, int(len(us) * 0.99))] / 1000, "cpu": cpu_us}


def run_paced(targets, rate, duration, rounds):
    """targets as for run_ab, at `rate` requests per second; medians."""
    for _, port, host, _ in targets:
        paced(port, host, rate, 1)
    runs = {name: [] for name, _, _, _ in targets}
    for _ in range(rounds):
        for name, port, host, server in targets:
            runs[name].append(paced(port, host, rate, duration, pids=server.cpu_pids()))
    print("process function at half of the lower maximum above: %d req/s paced (h2load --h1 -c8 --rps, %d s, "
          "%d rounds, medians)" % (rate, duration, rounds))
    med = {}
    for name, _, _, _ in targets:
        med[name] = {k: statistics.median(x[k] for x in runs[name]) for k in ("p50", "p99", "cpu")}
        print("  %-44s p50 %6.3f ms  p99 %6.3f ms  cpu %5.1f us/req" % (
            name, med[name]["p50"], med[name]["p99"], med[name]["cpu"]))
    return med


def run_ab(label, targets, duration, rounds, connections):
    """targets: [(name, port, host, server)], `server` has cpu_pids(): the
    processes whose CPU time each request costs is read from. Runs each once
    to warm up, then alternates them `rounds` times. Prints and returns the
    medians."""
    for _, port, host, _ in targets:
        wrk(port, host, 1, connections)
    runs = {name: [] for name, _, _, _ in targets}
    for _ in range(rounds):
        for name, port, host, server in targets:
            runs[name].append(wrk(port, host, duration, connections, server.cpu_pids()))
    med = {}
    print("%s (wrk -t1 -c%d, %d s, %d rounds, medians; cpu: the server's CPU time per request)" % (
        label, connections, duration, rounds))
    for name, _, _, _ in targets:
        r = runs[name]
        med[name] = {k: statistics.median(x[k] for x in r) for k in ("rps", "p50", "p99", "cpu")}
        print("  %-44s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  cpu %5.1f us/req" % (
            name, med[name]["rps"], med[name]["p50"], med[name]["p99"], med[name]["cpu"]))
    return med


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def ensure_built(build):
    ofn = ROOT / build / "libofn" / "ofn"
    subprocess.run(["bash", str(ROOT / "scripts/setup.sh"), "--bench"], check=True)
    if not (ROOT / build / "build.ninja").exists():
        subprocess.run(["meson", "setup", str(ROOT / build), "--buildtype=release"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(ROOT / build), "-j2", "libofn/ofn", "examples/hello-world.so"], check=True,
                   stdout=subprocess.DEVNULL)
    return str(ofn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--cold-rounds", type=int, default=20)
    ap.add_argument("--cold-history", type=int, default=64,
                    help="requests to each function before the cold rounds (0: a fresh revision)")
    ap.add_argument("--only", default="load,cold")
    ap.add_argument("--hold", action="store_true",
                    help="start every server, print their ports and wait (for a profiler) until interrupted")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    ofn = ensure_built(args.build)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ofn-load-"))
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir()
    (tmp / "upstream.conf.in").write_text(
        NGINX_MAIN.format(workers=1, prefix="@DIR@", name="up", body=RETURN_200.format(port="@PORT@")))
    script = tmp / "upstream.sh"
    script.write_text(UPSTREAM_SH.format(prefix=tmp))
    (tmp / "in-process.yaml").write_text(IN_PROCESS + "---" + IN_PROCESS_UP)
    (tmp / "process.yaml").write_text(PROCESS.format(script=script))
    servers = []
    print("machine: %d cores, %s; commit %s; build %s" % (
        os.cpu_count(), subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
        subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True).stdout.strip(), args.build))
    try:
        plat = Ofn(ofn, ROOT / args.build / "examples", tmp / "state", [tmp / "in-process.yaml",
                                                                        tmp / "process.yaml"])
        servers.append(plat)
        if "load" in parts:
            ngx_port = free_port()
            ngx = Nginx(tmp, "return200", RETURN_200.format(port=ngx_port))
            servers.append(ngx)
            up_port = free_port()
            up = subprocess.Popen(["sh", str(script)], env=dict(os.environ, PORT=str(up_port)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            proxy_port = free_port()
            proxy = Nginx(tmp, "proxy", PROXY.format(port=proxy_port, upstream=up_port))
            servers.append(proxy)
            wait_port(ngx_port)
            wait_port(up_port)
            wait_port(proxy_port)
            if args.hold:
                print("holding: gateway %d (Host hello.default.ofn.io, upstream.default.ofn.io), nginx return 200 %d, "
                      "nginx proxy %d, upstream %d, ofn pid %d; SIGINT or SIGTERM to stop" % (
                          plat.port, ngx_port, proxy_port, up_port, plat.proc.pid), flush=True)
                def interrupted(*_):
                    raise KeyboardInterrupt
                # Also when started in the background, where SIGINT is ignored.
                signal.signal(signal.SIGINT, interrupted)
                signal.signal(signal.SIGTERM, interrupted)
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
                up.send_signal(signal.SIGQUIT)
                up.wait(timeout=10)
                return
            upstream = NginxWorkers(up)  # `sh` execs nginx
            a = run_ab("in-process function", [
                ("(a) libofn gateway, in-process hello", plat.port, "hello.default.ofn.io", plat),
                ("(b) nginx return 200 (%d workers)" % IO_THREADS, ngx_port, "localhost", ngx)],
                args.duration, args.rounds, args.connections)
            c = run_ab("process function", [
                ("(c) libofn gateway -> process (nginx upstream)", plat.port, "upstream.default.ofn.io", plat),
                ("(d) nginx proxy_pass, keep-alive, same upstream", proxy_port, "localhost", proxy),
                ("(u) the upstream alone", up_port, "localhost", upstream)],
                args.duration, args.rounds, args.connections)
            rate = int(min(c["(c) libofn gateway -> process (nginx upstream)"]["rps"],
                           c["(d) nginx proxy_pass, keep-alive, same upstream"]["rps"]) / 2)
            pace = run_paced([
                ("(c) libofn gateway -> process", plat.port, "upstream.default.ofn.io", plat),
                ("(d) nginx proxy_pass", proxy_port, "localhost", proxy),
                ("(u) the upstream alone", up_port, "localhost", upstream)], rate, args.duration, args.rounds)
            print("added p99 over the upstream alone at %d req/s: gateway %.3f ms, nginx %.3f ms" % (
                rate, pace["(c) libofn gateway -> process"]["p99"] - pace["(u) the upstream alone"]["p99"],
                pace["(d) nginx proxy_pass"]["p99"] - pace["(u) the upstream alone"]["p99"]))
            print("cpu per request: (a)/(b) %.2fx; (c)/(d) %.2fx (lower is better)" % (
                a["(a) libofn gateway, in-process hello"]["cpu"] / a["(b) nginx return 200 (%d workers)" % IO_THREADS]["cpu"],
                c["(c) libofn gateway -> process (nginx upstream)"]["cpu"] /
                c["(d) nginx proxy_pass, keep-alive, same upstream"]["cpu"]))
            print("ratios: (a)/(b) %.2fx req/s; (c)/(d) %.2fx req/s; gateway's added p99 over the upstream at "
                  "full load: %.3f ms" % (
                      a["(a) libofn gateway, in-process hello"]["rps"] / a["(b) nginx return 200 (%d workers)"
                                                                            % IO_THREADS]["rps"],
                      c["(c) libofn gateway -> process (nginx upstream)"]["rps"] /
                      c["(d) nginx proxy_pass, keep-alive, same upstream"]["rps"],
                      c["(c) libofn gateway -> process (nginx upstream)"]["p99"] - c["(u) the upstream alone"]["p99"]))
            up.send_signal(signal.SIGQUIT)
            up.wait(timeout=10)
        if "cold" in parts:
            # A function that has served before it went to zero (the usual
            # cold start): its revision's pool knows its calls are short and
            # runs the first request after the start on the thread that
            # started it. --cold-history 0 leaves it fresh.
            for host in ("hello.default.ofn.io", "hello-up.default.ofn.io", "upstream.default.ofn.io"):
                conn = http.client.HTTPConnection("127.0.0.1", plat.port, timeout=30)
                for _ in range(args.cold_history):
                    conn.request("GET", "/", headers={"Host": host})
                    conn.getresponse().read()
                conn.close()
            cold = {"in-process": [], "process": [], "bare": [], "in-process warm": [], "idle": []}
            histogram_before = {f: plat.cold_starts(f) for f in ("hello", "upstream")}
            for round_no in range(args.cold_rounds):
                deadline = time.monotonic() + 120
                while (plat.ready_instances("hello") or plat.ready_instances("upstream")) and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                # The first request after the idle wait, in turn: the cold
                # start, or the function that kept its instance.
                first = ("in-process", "idle")[round_no % 2]
                t0 = time.monotonic()
                status = http_get(plat.port, ("hello.default.ofn.io", "hello-up.default.ofn.io")[round_no % 2])
                if status != 200:
                    raise RuntimeError("%s answered %d" % (first, status))
                cold[first].append((time.monotonic() - t0) * 1000)
                for name, host in (("in-process", "hello.default.ofn.io"), ("process", "upstream.default.ofn.io")):
                    if name == "in-process" and first != "in-process":
                        continue
                    if name == "process":
                        t0 = time.monotonic()
                        status = http_get(plat.port, host)
                        if status != 200:
                            raise RuntimeError("%s cold start answered %d" % (name, status))
                        cold[name].append((time.monotonic() - t0) * 1000)
                    else:
                        # The same request once the instance is up: what the
                        # client and the connection cost, not the start.
                        t0 = time.monotonic()
                        http_get(plat.port, host)
                        cold["in-process warm"].append((time.monotonic() - t0) * 1000)
                port = free_port()
                t0 = time.monotonic()
                bare = subprocess.Popen(["sh", str(script)], env=dict(os.environ, PORT=str(port)),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cold["bare"].append(answered_ms(port, t0))
                bare.send_signal(signal.SIGQUIT)
                bare.wait(timeout=10)
            print("cold start, %d rounds (request at zero until its response; A/B alternated)" % args.cold_rounds)
            for name, label in (("in-process", "in-process hello (first request after the wait)"),
                                ("idle", "hello-up, instance kept, after the same wait"),
                                ("in-process warm", "hello again at once, instance up"),
                                ("process", "process (nginx upstream)"),
                                ("bare", "bare start of the same program until it answers")):
                xs = cold[name]
                print("  %-48s median %7.2f ms  p95 %7.2f ms" % (label, statistics.median(xs), p95(xs)))
            print("in-process start added (median cold - median of hello-up after the same wait): %.3f ms "
                  "(cold - at once: %.3f ms)" % (
                      statistics.median(cold["in-process"]) - statistics.median(cold["idle"]),
                      statistics.median(cold["in-process"]) - statistics.median(cold["in-process warm"])))
            for f, label in (("hello", "in-process"), ("upstream", "process")):
                (c0, s0), (c1, s1) = histogram_before[f], plat.cold_starts(f)
                if c1 > c0:
                    print("  platform's own start-to-ready (%s), mean of %d starts: %.3f ms" % (
                        label, c1 - c0, (s1 - s0) / (c1 - c0) * 1000))
            print("ratio process / bare (median): %.2fx" % (statistics.median(cold["process"]) /
                                                          statistics.median(cold["bare"])))
    finally:
        for s in reversed(servers):
            s.stop()


if __name__ == "__main__":
    main()
