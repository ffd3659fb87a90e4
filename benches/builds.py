#!/usr/bin/env python3
"""How long builds take, per strategy, cold and cached.

    python3 benches/builds.py [--ofn build-release/libofn/ofn]

Makes a git repository with one source per local strategy (cxx, python,
node with an npm dependency, command), serves four Functions building from
it with `ofn serve` (a private state dir, a free port), and reads each
build's duration from `ofn get builds -o json`: first the cold builds (an
empty repository cache and nothing built), then the cached ones (spec.build
changed, the commit not: the cache answers). Prints one line per strategy.
"""
import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

SOURCES = {
    "hello/hello.cc": '#include "libofn/serve/function.h"\n'
                      'OFN_REGISTER_FUNCTIONS(r) { r->Http("Hello", [](const ofn::HttpRequest&) {\n'
                      '  return ofn::HttpResponse::Text(200, "hello\\n"); }); }\n',
    "py/main.py": "def greet(request):\n    return 'hi'\n",
    "node/package.json": '{"name": "pad", "version": "1.0.0", "dependencies": {"left-pad": "1.3.0"}}\n',
    "node/index.js": "const pad = require('left-pad');\nexports.hello = (req, res) => res.send(pad('x', 3));\n",
    "site/Procfile": "web: python3 -m http.server $PORT --bind 127.0.0.1\n",
    "site/index.html": "site\n",
}

FUNCTIONS = [("cxx", "hello", ""), ("python", "py", "FUNC_NAME: greet"), ("node", "node", "FUNC_NAME: hello"),
             ("command", "site", "")]


def manifest(url, strategy, path, env, timeout):
    env_block = "    env:\n      %s\n" % env if env else ""
    return ("apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: b-%s\nspec:\n"
            "  image: registry.example.com/b-%s:latest\n  build:\n    builder: ofn.local/%s\n%s"
            "    timeout: %s\n    srcRepo:\n      url: %s\n      revision: main\n      sourceSubPath: %s\n"
            "  serving:\n    template:\n      containers:\n        - name: function\n"
            % (strategy, strategy, strategy, env_block, timeout, url, path))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ofn", default=str(ROOT / "build-release" / "libofn" / "ofn"))
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ofn-bench-builds-"))
    repo = tmp / "src"
    for rel, text in SOURCES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.email=b@ofn.io", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "sources"], check=True)
    state = tmp / "state"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen([args.ofn, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:%d" % port,
                              "--build-include", str(ROOT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ofn = [args.ofn]
    try:
        deadline = time.monotonic() + 30
        while not (state / "admin.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

        def apply(timeout):
            text = "---\n".join(manifest("file://" + str(repo), s, p, e, timeout) for s, p, e in FUNCTIONS)
            subprocess.run(ofn + ["apply", "-f", "-", "--state-dir", str(state)], input=text, text=True,
                           check=True, capture_output=True)

        def builds(done):
            """The newest build of each Function, once `done` holds for every one."""
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                r = subprocess.run(ofn + ["get", "builds", "-o", "json", "--state-dir", str(state)],
                                   capture_output=True, text=True)
                newest = {}
                for b in json.loads(r.stdout)["items"] if r.returncode == 0 else []:
                    newest[b["function"]] = b  # oldest first
                if len(newest) == len(FUNCTIONS) and all(done(b) for b in newest.values()):
                    return newest
                time.sleep(0.2)
            raise SystemExit("builds did not finish")

        apply("10m")
        cold = builds(lambda b: b["state"] in ("Succeeded", "Failed"))
        apply("11m")  # spec.build changes, the commit does not: the cache answers
        cached = builds(lambda b: b["reason"] == "Cached" or b["state"] == "Failed")
        print("strategy  cold build          cached build")
        for strategy, _, _ in FUNCTIONS:
            c, h = cold.get("b-" + strategy), cached.get("b-" + strategy)
            print("%-8s  %-18s  %s" % (strategy,
                                        "%d ms (%s)" % (c["durationMs"], c["state"]) if c else "-",
                                        "%d ms" % h["durationMs"] if h else "-"))
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


if __name__ == "__main__":
    main()
