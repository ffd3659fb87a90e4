"""Async functions with `ofn serve`: examples/async-pubsub as the README runs
it — a cron-triggered Python producer publishing with ctx.send, a subscriber
keeping state through the Dapr API the platform serves, an HTTP reader."""
import json
import pathlib
import socket
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import ROOT, Server, cli, wait_until  # noqa: E402

EXAMPLE = ROOT / "examples" / "async-pubsub"


def admin_metrics(state):
    """/metrics through the admin socket, as `curl --unix-socket .ofn/admin.sock http://ofn/metrics`."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(state / "admin.sock"))
    sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: ofn\r\n\r\n")
    chunks = []
    while True:
        c = sock.recv(65536)
        if not c:
            break
        chunks.append(c)
    sock.close()
    return b"".join(chunks).decode()


def test_the_async_pubsub_example_runs_end_to_end(ofn_bin, tmp_path):
    state = tmp_path / "state"
    s = Server(ofn_bin, state, [EXAMPLE / "components.yaml", EXAMPLE / "functions.yaml"])
    try:
        seen = {}

        def ticks_arrived():
            status, body = s.get("http://reader.default.ofn.io/")
            if status == 200:
                seen.update(json.loads(body))
            return seen.get("seen", 0) >= 2

        assert wait_until(ticks_arrived, 30), seen
        # The subscriber saw the producer's ticks in order, each once.
        assert seen["last"] == {"tick": seen["seen"]} or seen["last"]["tick"] >= seen["seen"], seen
        # The cron-triggered producer keeps its own count in the state store.
        assert seen["produced"] >= seen["last"]["tick"], seen
        # The async functions show as Running; their inputs count in /metrics.
        out = cli(ofn_bin, state, "get", "functions").stdout
        for name in ("producer", "subscriber", "reader"):
            assert any(line.split()[:1] == [name] and "Running" in line for line in out.splitlines()), out
        metrics = admin_metrics(state)
        line = [x for x in metrics.splitlines()
                if x.startswith('ofn_async_delivered_total{namespace="default",function="subscriber",input="bus"}')]
        assert line and int(line[0].split()[-1]) >= 2, metrics[-2000:]
        # kubectl's habits for the components and the async side of a Function.
        rows = [line.split() for line in cli(ofn_bin, state, "get", "components").stdout.splitlines()]
        assert rows[0] == ["NAMESPACE", "NAME", "TYPE", "VERSION", "AGE"], rows
        assert [r[1:4] for r in rows[1:]] == [["bus", "pubsub.in-memory", "v1"], ["store", "state.in-memory", "v1"]]
        described = cli(ofn_bin, state, "describe", "function", "producer").stdout
        assert "Inputs:\n  cron (bindings.cron)\nOutputs:\n  bus (pubsub.in-memory) topic ticks\n" in described, described
        # The events reached the subscriber as Dapr delivers them: POST /<input>.
        log = cli(ofn_bin, state, "logs", "subscriber").stdout
        assert '"POST /bus HTTP/1.1" 200' in log, log
    finally:
        assert s.stop() == 0


class RedisServer:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self, tmp_path):
        import shutil
        import subprocess
        import time
        if not shutil.which("redis-server"):
            import pytest
            pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(tmp_path), "--logfile",
                                      str(tmp_path / "redis.log")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def pipeline(self, commands):
        """Sends commands (lists of str) in one go; returns the raw replies."""
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                b = a.encode()
                out += b"$%d\r\n%s\r\n" % (len(b), b)
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.sendall(out)
        # One reply line per command (XADD answers a bulk id: two lines).
        want, got = 2 * len(commands), b""
        while got.count(b"\r\n") < want:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            got += chunk
        sock.close()
        return got

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def test_ten_thousand_events_through_redis_streams_survive_two_subscriber_kills(ofn_bin, tmp_path):
    import os
    import signal
    import subprocess
    import time
    redis = RedisServer(tmp_path)
    out_file = tmp_path / "seen.txt"
    (tmp_path / "sub.py").write_text(
        "import os\n"
        "OUT = os.environ['OUT_FILE']\n"
        "def consume(ctx, data):\n"
        "    with open(OUT, 'a') as f:\n"
        "        f.write('%d\\n' % data['n'])\n"
        "    return ''\n")
    manifest = tmp_path / "stream.yaml"
    manifest.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: stream\nspec:\n  type: pubsub.redis\n"
        "  version: v1\n  metadata:\n  - {name: redisHost, value: '127.0.0.1:%d'}\n"
        "  - {name: processingTimeout, value: 3s}\n  - {name: redeliverInterval, value: 1s}\n---\n"
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: counter\nspec:\n"
        "  image: ofn.local/counter:latest\n  serving:\n    triggers:\n      dapr:\n"
        "        - {name: stream, topic: numbers}\n    template:\n      containers:\n        - name: function\n"
        "          command: [python3, -m, ofn.framework]\n"
        "          args: [--target, 'sub:consume', --signature, openfunction]\n          workingDir: .\n"
        "          env:\n            - {name: PYTHONPATH, value: '%s'}\n            - {name: OUT_FILE, value: '%s'}\n"
        % (redis.port, ROOT / "bindings" / "python", out_file))
    state = tmp_path / "state"
    s = Server(ofn_bin, state, [manifest])
    try:
        n = 10000
        envelope = ('{"specversion":"1.0","id":"e%d","source":"test","type":"number",'
                    '"datacontenttype":"application/json","data":{"n":%d}}')
        start = time.monotonic()
        redis.pipeline([["XADD", "numbers", "*", "data", envelope % (i, i), "contentType",
                         "application/cloudevents+json"] for i in range(n)])

        def lines():
            try:
                return out_file.read_text().split()
            except FileNotFoundError:
                return []

        def kill_subscriber():
            pids = subprocess.run(["pgrep", "-f", "sub:consume"], capture_output=True, text=True).stdout.split()
            assert pids, "no subscriber process"
            for pid in pids:
                os.kill(int(pid), signal.SIGKILL)

        for fraction in (3, 2):  # killed at a third and at a half of the stream
            assert wait_until(lambda: len(lines()) >= n // fraction, 120), len(lines())
            kill_subscriber()
        assert wait_until(lambda: len(set(lines())) >= n, 180), "%d of %d" % (len(set(lines())), n)
        elapsed = time.monotonic() - start
        seen = lines()
        assert set(seen) == {str(i) for i in range(n)}  # none lost
        print("10000 events, subscriber killed twice: %d deliveries (%d duplicates) in %.1f s"
              % (len(seen), len(seen) - n, elapsed))
        # Both kills were seen: the instance was restarted twice (or replaced).
        described = cli(ofn_bin, state, "describe", "function", "counter").stdout
        table = [line.split() for line in described.split("Revisions:\n", 1)[1].splitlines()]
        restarts = int(table[1][table[0].index("RESTARTS")])
        cold = int(table[1][table[0].index("COLDSTARTS")])
        assert restarts + cold - 1 >= 2, described
    finally:
        assert s.stop() == 0
        redis.stop()


PLAIN_DAPR_APP = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT = os.environ["OUT_FILE"]
retried = set()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/dapr/subscribe":
            return self.reply(200, [{"pubsubname": "stream", "topic": "orders", "routes": {"default": "/orders-in"}}])
        self.reply(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/orders-in":
            with open(OUT, "a") as f:
                f.write("wrong-path %s\\n" % self.path)
            return self.reply(404, {})
        n = json.loads(body)["data"]["n"]
        if n == 3:
            return self.reply(200, {"status": "DROP"})
        if n == 4 and n not in retried:
            retried.add(n)
            return self.reply(200, {"status": "RETRY"})
        with open(OUT, "a") as f:
            f.write("%d %s\\n" % (n, self.headers.get("Content-Type")))
        self.reply(200, {"status": "SUCCESS"})


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_a_plain_dapr_app_gets_its_topic_on_the_route_it_declares(ofn_bin, tmp_path):
    """An app written for Dapr, no libofn framework: the platform asks it
    GET /dapr/subscribe and POSTs each CloudEvent to the route it names,
    taking SUCCESS, RETRY and DROP as Dapr does."""
    redis = RedisServer(tmp_path)
    out_file = tmp_path / "got.txt"
    (tmp_path / "app.py").write_text(PLAIN_DAPR_APP)
    manifest = tmp_path / "orders.yaml"
    manifest.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: stream\nspec:\n  type: pubsub.redis\n"
        "  version: v1\n  metadata:\n  - {name: redisHost, value: '127.0.0.1:%d'}\n---\n"
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: orders\n"
        "  annotations:\n    ofn.io/max-delivery-attempts: '3'\nspec:\n"
        "  image: ofn.local/orders:latest\n  serving:\n    triggers:\n      dapr:\n"
        "        - {name: stream, topic: orders}\n    template:\n      containers:\n        - name: function\n"
        "          command: [python3, app.py]\n          workingDir: '%s'\n"
        "          env:\n            - {name: OUT_FILE, value: '%s'}\n" % (redis.port, tmp_path, out_file))
    state = tmp_path / "state"
    s = Server(ofn_bin, state, [manifest])
    try:
        envelope = ('{"specversion":"1.0","id":"o%d","source":"test","type":"order",'
                    '"datacontenttype":"application/json","data":{"n":%d}}')
        redis.pipeline([["XADD", "orders", "*", "data", envelope % (i, i), "contentType",
                         "application/cloudevents+json"] for i in range(6)])

        def lines():
            try:
                return out_file.read_text().splitlines()
            except FileNotFoundError:
                return []

        def counter(name):
            line = [x for x in admin_metrics(state).splitlines()
                    if x.startswith(name + '{namespace="default",function="orders",input="stream"}')]
            return int(line[0].split()[-1]) if line else -1

        # All six accounted for: five processed, one dropped by the app.
        assert wait_until(lambda: counter("ofn_async_delivered_total") == 5 and
                          counter("ofn_async_dropped_total") == 1, 30), admin_metrics(state)[-2500:]
        assert counter("ofn_async_retried_total") == 1
        got = lines()
        assert not [x for x in got if x.startswith("wrong-path")], got
        assert sorted(int(x.split()[0]) for x in got) == [0, 1, 2, 4, 5], got  # 3 dropped, 4 retried once
        assert all(x.split()[1] == "application/cloudevents+json" for x in got), got
    finally:
        assert s.stop() == 0
        redis.stop()


def test_the_python_framework_declares_its_pubsub_inputs_as_dapr_subscriptions():
    from ofn.framework import Context
    ctx = Context({"runtime": "Async", "inputs": {
        "bus": {"componentName": "bus", "componentType": "pubsub.redis", "uri": "orders"},
        "cron": {"componentName": "cron", "componentType": "bindings.cron", "uri": "cron"},
        # A Component object named by the trigger: no type in FUNC_CONTEXT, a topic.
        "shared": {"componentName": "shared", "componentType": "", "uri": "events"}}})
    assert ctx.subscriptions() == [{"pubsubname": "bus", "topic": "orders", "route": "/bus"},
                                   {"pubsubname": "shared", "topic": "events", "route": "/shared"}]
