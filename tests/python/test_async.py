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
        # The async functions show as Running; their inputs count in /metrics.
        out = cli(ofn_bin, state, "get", "functions").stdout
        for name in ("producer", "subscriber", "reader"):
            assert any(line.split()[:1] == [name] and "Running" in line for line in out.splitlines()), out
        # /metrics through the admin socket, as `curl --unix-socket .ofn/admin.sock http://ofn/metrics`.
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
        metrics = b"".join(chunks).decode()
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
