#!/usr/bin/python3
"""The cost of a Python function served in-process, against a C++ one,
through the same gateway in the same run: an embedded ofn.Platform serves
the C++ example library (examples/hello-world.so, "HelloWorld") and a Python
function answering the same text; client processes (separate, so they do not
share the GIL) send keep-alive GETs to each in turn. Prints requests per
second and mean latency of each. Not a test: run it by hand on a built tree.

    PYTHONPATH=build/bindings/python python3 benches/python_handler.py [seconds] [clients]
"""
import http.client
import multiprocessing
import pathlib
import sys
import tempfile
import time

import ofn

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 4


def function(name, func_name):
    return {"apiVersion": "core.openfunction.io/v1beta2", "kind": "Function", "metadata": {"name": name},
            "spec": {"version": "v1.0.0", "image": "ofn.local/hello-world:latest",
                     "serving": {"params": {"FUNC_NAME": func_name},
                                 "template": {"containers": [{"name": "function"}]},
                                 "triggers": {"http": {"port": 8080}}}}}


def client(args):
    port, host, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request("GET", "/", headers={"Host": host})
        res = conn.getresponse()
        res.read()
        assert res.status == 200, res.status
        done += 1
    return done


def run(port, host):
    with multiprocessing.Pool(CLIENTS) as pool:
        counts = pool.map(client, [(port, host, SECONDS)] * CLIENTS)
    total = sum(counts)
    return total / SECONDS, CLIENTS * SECONDS / total * 1e6


def main():
    with tempfile.TemporaryDirectory() as state, \
            ofn.Platform(state_dir=state, listen="127.0.0.1:0", library_dirs=[ROOT / "build" / "examples"]) as p:
        @p.function("PyHello")
        def hello(request):
            return "Hello, World!\n"

        p.apply([function("cpp", "HelloWorld"), function("py", "PyHello")])
        p.wait_ready("cpp")
        p.wait_ready("py")
        port = int(p.address.rsplit(":", 1)[1])
        print("%d client processes, %.0f s each, keep-alive GET through the gateway" % (CLIENTS, SECONDS))
        for rnd in range(2):
            for name in ("cpp", "py"):
                rps, us = run(port, "%s.default.ofn.io" % name)
                print("round %d  %-3s  %8.0f req/s  %7.0f us/request" % (rnd + 1, name, rps, us))


if __name__ == "__main__":
    main()
