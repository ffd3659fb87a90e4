"""The process backend from a user's side: the Python functions framework on
its own, then the examples (a Python function and a plain Node.js server)
under `ofn serve`: requests, `ofn logs`, scale to zero and back, and a traffic
split between two revisions."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from test_serve import Server, cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYBIND = ROOT / "bindings" / "python"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, path="/", data=None, headers=None, method=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, headers=headers or {},
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Framework:
    """`python3 -m ofn.framework` serving a module written into tmp_path."""

    def __init__(self, tmp_path, source, target, signature, context=None):
        (tmp_path / "userfn.py").write_text(source)
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), PYTHONPATH=str(PYBIND),
                   FUNC_CONTEXT=json.dumps(context or {"name": "fn", "version": "v1"}))
        self.proc = subprocess.Popen([sys.executable, "-m", "ofn.framework", "--target", "userfn:" + target,
                                      "--signature", signature], cwd=tmp_path, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(self.proc.stdout.read())
                time.sleep(0.02)
        raise AssertionError("framework did not listen")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return self.proc.returncode, out


HTTP_FN = '''
from ofn.framework import Response

def handle(request):
    if request.path == "/text":
        return "plain " + request.args.get("q", "")
    if request.path == "/json":
        return {"method": request.method, "body": request.get_json()}
    if request.path == "/tuple":
        return ("created", 201, {"X-Made": "yes"})
    if request.path == "/response":
        return Response(b"raw", status=202, headers={"Content-Type": "application/x-raw"})
    if request.path == "/boom":
        raise ValueError("exploded on purpose")
    return None
'''


def test_framework_http_signature_and_errors(tmp_path):
    fw = Framework(tmp_path, HTTP_FN, "handle", "http")
    try:
        assert request(fw.port, "/text?q=hi")[2] == b"plain hi"
        status, headers, body = request(fw.port, "/json", data=b'{"a": [1, 2]}',
                                        headers={"Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"method": "POST", "body": {"a": [1, 2]}}
        assert headers["Content-Type"] == "application/json"
        status, headers, body = request(fw.port, "/tuple")
        assert (status, headers["X-Made"], body) == (201, "yes", b"created")
        status, headers, body = request(fw.port, "/response")
        assert (status, headers["Content-Type"], body) == (202, "application/x-raw", b"raw")
        status, _, body = request(fw.port, "/boom")
        assert status == 500 and b"ValueError: exploded on purpose" in body
        # The process survived its function's exception.
        assert request(fw.port, "/")[0] == 200
    finally:
        code, out = fw.stop()
    assert code == 0, out
    assert "Traceback" in out and "exploded on purpose" in out


CE_FN = '''
seen = []

def on_event(event):
    seen.append(event)
    return {"id": event.id, "type": event.type, "source": event.source, "data": event.data,
            "count": len(seen)}
'''


def test_framework_cloudevent_binary_and_structured(tmp_path):
    fw = Framework(tmp_path, CE_FN, "on_event", "cloudevent")
    try:
        binary = {"ce-id": "1", "ce-source": "/tests", "ce-type": "dev.ofn.test", "ce-specversion": "1.0",
                  "Content-Type": "application/json"}
        status, _, body = request(fw.port, "/", data=b'{"n": 1}', headers=binary)
        assert status == 200, body
        assert json.loads(body) == {"id": "1", "type": "dev.ofn.test", "source": "/tests", "data": {"n": 1},
                                    "count": 1}
        structured = {"specversion": "1.0", "id": "2", "source": "/s", "type": "t", "data": "text"}
        status, _, body = request(fw.port, "/", data=json.dumps(structured).encode(),
                                  headers={"Content-Type": "application/cloudevents+json"})
        assert status == 200 and json.loads(body)["data"] == "text" and json.loads(body)["count"] == 2
        # Not an event: 400 naming what is missing; the function is not called.
        status, _, body = request(fw.port, "/", data=b"x", headers={"ce-id": "3", "Content-Type": "text/plain"})
        assert status == 400 and b"ce-source" in body and b"ce-type" in body
        status, _, body = request(fw.port, "/", data=json.dumps(dict(structured, specversion="0.3")).encode(),
                                  headers={"Content-Type": "application/cloudevents+json"})
        assert status == 400 and b"specversion" in body
    finally:
        fw.stop()


OF_FN = '''
def main(context, data):
    if data.get("to"):
        context.send(json.dumps(data), data["to"])
    return {"name": context.name, "version": context.version, "sent": len(context.sent)}

import json
'''


def test_framework_openfunction_signature_reads_func_context(tmp_path):
    ctx = {"name": "sender", "version": "v9", "port": "0",
           "outputs": {"sink": {"componentName": "sink", "componentType": "bindings.kafka"}}}
    fw = Framework(tmp_path, OF_FN, "main", "openfunction", context=ctx)
    try:
        h = {"Content-Type": "application/json"}
        status, _, body = request(fw.port, "/", data=b'{"to": "sink"}', headers=h)
        assert status == 200 and json.loads(body) == {"name": "sender", "version": "v9", "sent": 1}
        status, _, body = request(fw.port, "/", data=b'{"to": "nowhere"}', headers=h)
        assert status == 500 and b"output 'nowhere' is not declared" in body
    finally:
        fw.stop()


def test_framework_rejects_a_bad_target(tmp_path):
    (tmp_path / "userfn.py").write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-m", "ofn.framework", "--target", "userfn:missing"], cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(PYBIND), PORT=str(free_port())),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "has no function 'missing'" in r.stderr


def test_example_manifests_are_valid_openfunction_functions(shared_dir):
    for f in ["examples/python-hello/function.yaml", "examples/node-echo/function.yaml"]:
        r = subprocess.run([sys.executable, str(shared_dir / "k8s-crds" / "validate.py"), "--strict-kinds",
                            str(ROOT / f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def revisions(ofn_bin, state, name):
    """Rows of the `ofn get revisions NAME` table as dicts keyed by column."""
    lines = cli(ofn_bin, state, "get", "revisions", name).stdout.splitlines()
    header = lines[0].split()
    return [dict(zip(header, line.split())) for line in lines[1:] if line.strip()]


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_examples_serve_log_scale_to_zero_and_back(ofn_bin, tmp_path):
    state = tmp_path / "state"
    # The Python example with a short window, so idle -> zero takes seconds.
    manifest = (ROOT / "examples/python-hello/function.yaml").read_text().replace(
        "    scaleOptions:\n",
        "    scaleOptions:\n      knative:\n        autoscaling.knative.dev/window: 6s\n").replace(
        "workingDir: .", "workingDir: " + str(ROOT / "examples/python-hello"))
    (tmp_path / "python-hello.yaml").write_text(manifest)
    s = Server(ofn_bin, state, [tmp_path / "python-hello.yaml", ROOT / "examples/node-echo/function.yaml"],
               extra=["--scale-to-zero-grace", "1"], cwd=ROOT)
    try:
        status, body = s.get("http://hello-python.default.ofn.io/?name=Ada")
        assert (status, body) == (200, "Hello, Ada!\n")
        status, body = s.get("http://node-echo.default.ofn.io/x", data=b"12345")
        doc = json.loads(body)
        assert status == 200 and doc["bytes"] == 5 and doc["function"] == "node-echo"
        assert doc["forwardedFor"] == "127.0.0.1"

        # ofn logs: the newest revision's output; --tail.
        out = cli(ofn_bin, state, "logs", "node-echo").stdout
        assert "node-echo (v1) listening on" in out
        out = cli(ofn_bin, state, "logs", "hello-python", "--tail", "1").stdout
        assert out.count("\n") == 1 and "GET /?name=Ada" in out
        assert cli(ofn_bin, state, "logs", "nosuch", check=False).returncode == 1
        # -f prints what the instance writes next.
        follow = subprocess.Popen([ofn_bin, "logs", "hello-python", "--tail", "0", "-f", "--state-dir", str(state)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)  # let it reach the end of the file
            assert s.get("http://hello-python.default.ofn.io/?name=Follow")[0] == 200
            lines = []
            reader = threading.Thread(target=lambda: lines.append(follow.stdout.readline()), daemon=True)
            reader.start()
            reader.join(timeout=10)
            assert lines and "GET /?name=Follow" in lines[0], lines
        finally:
            follow.kill()
            follow.wait()

        # Idle: the Python revision goes to zero instances, and its process goes.
        def at_zero():
            items = revisions(ofn_bin, state, "hello-python")
            return items[0]["INSTANCES"].startswith("0/") and items
        wait_for(at_zero, timeout=40, what="scale to zero")
        # Stopping is SIGTERM, then the process exits on its own.
        wait_for(lambda: subprocess.run(["pgrep", "-f", "ofn.framework --target hello:hello"],
                                        capture_output=True).returncode == 1,
                 timeout=10, what="the instance process to exit")
        # And back: the first request starts a process and is served.
        status, body = s.get("http://hello-python.default.ofn.io/")
        assert (status, body) == (200, "Hello, World!\n")
        item = revisions(ofn_bin, state, "hello-python")[0]
        assert item["COLDSTARTS"] == "2" and item["INSTANCES"].startswith("1/"), item
    finally:
        assert s.stop() == 0
    assert subprocess.run(["pgrep", "-f", "node examples/node-echo/server.js"]).returncode == 1


def test_traffic_split_between_two_revisions_of_the_node_example(ofn_bin, tmp_path):
    state = tmp_path / "state"
    s = Server(ofn_bin, state, [ROOT / "examples/node-echo/function.yaml"], cwd=ROOT)
    try:
        assert json.loads(s.get("http://node-echo.default.ofn.io/")[1])["greeting"] == "v1"
        v2 = (ROOT / "examples/node-echo/function.yaml").read_text().replace("GREETING: v1", "GREETING: v2").replace(
            "workingDir: .", "workingDir: " + str(ROOT / "examples/node-echo"))
        v2 = v2.replace("  serving:\n", "  traffic:\n    - revisionName: node-echo-00001\n      percent: 50\n"
                        "    - latestRevision: true\n      percent: 50\n      tag: next\n  serving:\n")
        (tmp_path / "v2.yaml").write_text(v2)
        cli(ofn_bin, state, "apply", "-f", str(tmp_path / "v2.yaml"))
        wait_for(lambda: any(i["NAME"] == "node-echo-00002" and i["READY"] == "True"
                             for i in revisions(ofn_bin, state, "node-echo")), what="revision 2")
        wait_for(lambda: [i["TRAFFIC"] for i in revisions(ofn_bin, state, "node-echo")] == ["50%", "50%"],
                 what="50/50")
        seen = {}
        for _ in range(200):
            g = json.loads(s.get("http://node-echo.default.ofn.io/")[1])["greeting"]
            seen[g] = seen.get(g, 0) + 1
        assert seen == {"v1": 100, "v2": 100}, seen
        # The tag reaches only revision 2.
        assert {json.loads(s.get("http://next-node-echo.default.ofn.io/")[1])["greeting"] for _ in range(5)} == {"v2"}
        out = cli(ofn_bin, state, "logs", "node-echo", "--revision", "node-echo-00001").stdout
        assert "node-echo (v1) listening" in out
    finally:
        assert s.stop() == 0
