"""`ofn serve` under a hostile load, as the probe that found the crash ran
it: thousands of clients that queue on a one-slot process function and hang
up, and a gateway out of descriptors. It must stay up, drop the abandoned
work, give its descriptors back and keep serving."""
import os
import pathlib
import resource
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import Server, wait_until  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEHAVE = ROOT / "tests" / "data" / "process" / "behave.py"

ONE_SLOT = """apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: narrow
spec:
  version: v1
  image: local/behave:latest
  serving:
    containerConcurrency: 1
    scaleOptions:
      minReplicas: 1
      maxReplicas: 1
    triggers:
      http:
        port: 8080
    template:
      containers:
        - name: function
          command: ["/usr/bin/python3", "%s"]
""" % BEHAVE


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(server, name):
    out = subprocess.run(["curl", "-s", "--unix-socket", str(server.state_dir / "admin.sock"), "http://ofn/metrics"],
                         capture_output=True, text=True, timeout=10).stdout
    total = 0.0
    for line in out.splitlines():
        if line.startswith(name + "{") and 'revision="narrow-00001"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total




@pytest.fixture
def narrow(ofn_bin, tmp_path):
    manifest = tmp_path / "narrow.yaml"
    manifest.write_text(ONE_SLOT)
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [manifest])
    server.state_dir = state
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_thousands_of_clients_that_hang_up_leave_nothing_behind(narrow):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    pid = narrow.proc.pid
    status, _ = narrow.get("http://narrow.default.ofn.io/")
    assert status == 200
    baseline = open_fds(pid)
    # One slow request holds the only slot; 3,000 more queue behind it and
    # their clients hang up.
    hold = socket.create_connection(("127.0.0.1", narrow.port))
    hold.sendall(b"GET /slow?ms=3000 HTTP/1.1\r\nHost: narrow.default.ofn.io\r\n\r\n")
    # It has the slot before anyone queues (connections are served by
    # several event loops: one sent later may otherwise be read first).
    assert wait_until(lambda: metric(narrow, "ofn_revision_in_flight") >= 1)
    clients = []
    for _ in range(3000):
        s = socket.create_connection(("127.0.0.1", narrow.port))
        s.sendall(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: narrow.default.ofn.io\r\n\r\n")
        clients.append(s)
    assert wait_until(lambda: metric(narrow, "ofn_revision_queue_depth") >= 2900), \
        metric(narrow, "ofn_revision_queue_depth")
    for s in clients:
        s.close()
    # The queue empties as the clients leave, not one function call at a time.
    assert wait_until(lambda: metric(narrow, "ofn_revision_queue_depth") == 0, timeout=10)
    assert narrow.proc.poll() is None
    reply = hold.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    hold.close()
    # Descriptors come back, and a new request is served at once.
    assert wait_until(lambda: open_fds(pid) <= baseline + 8, timeout=10), (open_fds(pid), baseline)
    status, _ = narrow.get("http://narrow.default.ofn.io/")
    assert status == 200
    log = (narrow.state_dir / "logs" / "default" / "narrow-00001.log").read_text()
    assert log.count("GET /slow?ms=1000") == 0, "an abandoned request reached the function"


def test_out_of_descriptors_the_gateway_backs_off_and_recovers(ofn_bin, tmp_path):
    if not os.path.exists("/usr/bin/prlimit"):
        pytest.skip("prlimit (util-linux) is not installed")
    manifest = tmp_path / "narrow.yaml"
    manifest.write_text(ONE_SLOT)
    # A hard limit of 128 descriptors (ofn serve raises its soft limit to the
    # hard one, so both are set).
    server = Server(ofn_bin, tmp_path / "state", [manifest], prefix=("/usr/bin/prlimit", "--nofile=128:128"))
    try:
        pid = server.proc.pid
        clients = []
        for _ in range(200):
            clients.append(socket.create_connection(("127.0.0.1", server.port)))
        # Past the limit the kernel still completes connections into the
        # backlog; the gateway cannot accept them. It must wait, not spin.
        assert wait_until(lambda: open_fds(pid) >= 120, timeout=10), open_fds(pid)
        before = cpu_seconds(pid)
        time.sleep(1.0)  # a window to measure CPU over, not a wait for the server
        used = cpu_seconds(pid) - before
        assert used < 0.3, "the accept loop spun: %.2f s of CPU in 1 s" % used
        for s in clients:
            s.close()
        # Descriptors free again: new connections are accepted and served.
        assert wait_until(lambda: server.get("http://narrow.default.ofn.io/")[0] == 200, timeout=10)
        assert server.proc.poll() is None
    finally:
        server.stop()
