"""`ofn serve` on the hello-world example, driven like a user would: the CLI
against the admin socket, curl-style requests against every address in
status, SIGTERM, and a restart on the same state directory."""
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello-world"
BUILD = pathlib.Path(os.environ.get("OFN_BUILD_ROOT", ROOT / "build"))


class Server:
    def __init__(self, ofn_bin, state_dir, files, extra=(), cwd=None, env=None, prefix=()):
        args = [*prefix, ofn_bin, "serve", "--state-dir", str(state_dir), "--listen", "127.0.0.1:0",
                "--lib-dir", str(BUILD / "examples"), *extra]
        for f in files:
            args += ["-f", str(f)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=cwd, env=env)
        self.lines = []
        self.port = None
        self.https_port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.match(r"gateway listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            m = re.match(r"gateway listening on https://127\.0\.0\.1:(\d+)", line)
            if m:
                self.https_port = int(m.group(1))
            if line.startswith("ready"):
                return
        raise AssertionError("ofn serve did not get ready:\n" + "".join(self.lines))

    def get(self, url, headers=None, data=None):
        """GETs (or POSTs `data` to) an address like curl -H 'Host: ...' http://127.0.0.1:PORT/path."""
        m = re.match(r"http://([^/]+)(/.*)?$", url)
        host, path = m.group(1), m.group(2) or "/"
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers={"Host": host, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=20)
        self.lines.append(out)
        return self.proc.returncode


def wait_until(pred, timeout=30.0):
    """Polls `pred` every 50 ms until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def cli(ofn_bin, state_dir, *args, check=True):
    r = subprocess.run([ofn_bin, *args, "--state-dir", str(state_dir)], capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def server(ofn_bin, tmp_path):
    s = Server(ofn_bin, tmp_path / "state", sorted(EXAMPLE.glob("*.yaml")))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def test_every_address_in_status_answers_from_the_example(ofn_bin, server, tmp_path):
    state = tmp_path / "state"
    seen = 0
    for name in ("hello", "hello-path", "hello-v2"):
        obj = json.loads(cli(ofn_bin, state, "get", "function", name, "-o", "json").stdout)
        status = obj["status"]
        assert status["serving"]["state"] == "Running"
        assert status["build"]["state"] == "Skipped"
        assert status["route"]["conditions"][0]["reason"] == "Valid"
        types = [a["type"] for a in status["addresses"]]
        assert types == ["External", "Internal"]
        for a in status["addresses"]:
            code, body = server.get(a["value"])
            path = "/" + a["value"].split("/", 3)[3]
            assert code == 200, a
            assert body == "Hello, World! (path %s)\n" % path
            seen += 1
    assert seen == 6
    # The printed addresses are the ones in status.
    out = "".join(server.lines)
    assert "External http://hello.default.ofn.io/" in out
    assert "External http://sample.ofn.io/default/hello-path/" in out
    assert "External http://sample.ofn.io/v2/foo/" in out


def test_status_validates_against_the_function_crd(ofn_bin, server, tmp_path, shared_dir):
    out = cli(ofn_bin, tmp_path / "state", "get", "function", "hello", "-o", "yaml").stdout
    doc = yaml.safe_load(out)
    assert doc["status"]["addresses"][0] == {"type": "External", "value": "http://hello.default.ofn.io/"}
    v = subprocess.run(["/usr/bin/python3", str(shared_dir / "k8s-crds" / "validate.py"), "--strict-kinds", "-"],
                       input=out, capture_output=True, text=True)
    assert v.returncode == 0, v.stdout


def test_cli_get_describe_invoke_apply_delete(ofn_bin, server, tmp_path):
    state = tmp_path / "state"
    table = cli(ofn_bin, state, "get", "functions").stdout.splitlines()
    assert table[0].split() == ["NAME", "BUILDSTATE", "SERVINGSTATE", "BUILDER", "SERVING", "ADDRESS", "AGE"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == {"hello", "hello-path", "hello-v2"}
    assert rows["hello"][1:3] == ["Skipped", "Running"]
    assert rows["hello"][3] == "hello-00001"
    assert rows["hello"][4] == "http://hello.default.ofn.io/"

    desc = cli(ofn_bin, state, "describe", "function", "hello-v2").stdout
    assert "State:      Running" in desc
    assert "Path:      PathPrefix /v2/foo" in desc
    assert "Accepted=True Valid: Valid HTTPRoute" in desc

    assert cli(ofn_bin, state, "invoke", "hello", "-p", "/x?name=py").stdout == "Hello, py! (path /x)\n"

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: Bad_Name\n"
                   "spec:\n  image: x\n")
    r = cli(ofn_bin, state, "apply", "-f", str(bad), check=False)
    assert r.returncode == 1
    assert "bad.yaml:4:9: metadata.name" in r.stderr, r.stderr

    new = tmp_path / "new.yaml"
    new.write_text((EXAMPLE / "host-based.yaml").read_text().replace("name: hello", "name: hello-new"))
    assert "Function default/hello-new applied (generation 1)" in cli(ofn_bin, state, "apply", "-f", str(new)).stdout
    for _ in range(100):
        code, body = server.get("http://hello-new.default.ofn.io/")
        if code == 200:
            break
        time.sleep(0.05)
    assert code == 200 and body.startswith("Hello, World!")

    cli(ofn_bin, state, "delete", "function", "hello-v2")
    for _ in range(100):
        code, body = server.get("http://sample.ofn.io/v2/foo/")
        if code == 404:
            break
        time.sleep(0.05)
    assert code == 404
    assert json.loads(body)["error"]["host"] == "sample.ofn.io"
    r = cli(ofn_bin, state, "get", "function", "hello-v2", check=False)
    assert r.returncode == 1 and "not found" in r.stderr


def test_sigterm_exits_0_and_a_restart_restores_everything(ofn_bin, server, tmp_path):
    state = tmp_path / "state"
    cli(ofn_bin, state, "delete", "function", "hello-path")
    assert server.stop() == 0
    assert "SIGTERM received" in "".join(server.lines)
    again = Server(ofn_bin, state, [])
    try:
        assert again.get("http://hello.default.ofn.io/")[0] == 200
        assert again.get("http://sample.ofn.io/v2/foo/")[0] == 200
        assert again.get("http://sample.ofn.io/default/hello-path/")[0] == 404
    finally:
        assert again.stop() == 0


def test_admin_socket_is_private(server, tmp_path):
    st = (tmp_path / "state" / "admin.sock").stat()
    assert st.st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_revisions_table_objects_and_metrics(ofn_bin, server, tmp_path, shared_dir):
    import http.client
    import socket

    state = tmp_path / "state"
    table = cli(ofn_bin, state, "get", "revisions", "hello").stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "FUNCTION", "READY", "TRAFFIC", "TAGS"]
    row = table[1].split()
    assert row[:4] == ["hello-00001", "hello", "True", "100%"]
    out = cli(ofn_bin, state, "get", "revisions", "-o", "yaml").stdout
    docs = yaml.safe_load(out)
    assert sorted(i["metadata"]["name"] for i in docs["items"]) == ["hello-00001", "hello-path-00001",
                                                                    "hello-v2-00001"]
    v = subprocess.run(["/usr/bin/python3", str(shared_dir / "k8s-crds" / "validate.py"), "--strict-kinds", "-"],
                       input=out, capture_output=True, text=True)
    assert v.returncode == 0, v.stdout

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(state / "admin.sock"))

    server.get("http://hello.default.ofn.io/")
    conn = UnixConnection("ofn")
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    assert '# TYPE ofn_revision_cold_start_seconds histogram' in text
    line = 'ofn_revision_ready_instances{namespace="default",function="hello",revision="hello-00001"} 1'
    assert line in text


def test_the_printed_curl_line_works_as_printed(server):
    lines = [l.strip() for l in "".join(server.lines).splitlines() if l.strip().startswith("try:")]
    assert len(lines) == 3, server.lines  # one per function of the example
    for line in lines:
        command = line[len("try:"):].strip()
        r = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("Hello, World!"), (command, r.stdout, r.stderr)
