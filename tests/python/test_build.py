"""Builds from git through `ofn serve` and the CLI: the build-from-git
example rolled out by the revision controller under requests, `ofn get
builds`, `describe build`, `logs --build`, `rebuild`, and `apply --wait`
following a build to its failure."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "build-from-git"

pytestmark = pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`ofn serve` on a free port with a private state dir, stopped at the end."""

    def __init__(self, ofn_bin, state, *args):
        self.ofn, self.state, self.port = ofn_bin, str(state), free_port()
        self.log = open(str(state) + ".log", "w+")
        self.proc = subprocess.Popen([ofn_bin, "serve", "--state-dir", self.state, "--listen",
                                      "127.0.0.1:%d" % self.port] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "ready" in self.output():
                return
            assert self.proc.poll() is None, self.output()
            time.sleep(0.1)
        raise AssertionError("ofn serve did not get ready:\n" + self.output())

    def output(self):
        self.log.flush()
        return pathlib.Path(self.log.name).read_text()

    def cli(self, *args, check=True):
        r = subprocess.run([self.ofn] + list(args) + ["--state-dir", self.state], capture_output=True, text=True,
                           timeout=300)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def get(self, host, path="/"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), headers={"Host": host})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()


def make_repo(root, greeting):
    env = dict(os.environ, OFN_EXAMPLE_GIT_ROOT=str(root))
    r = subprocess.run(["bash", str(EXAMPLE / "make-repo.sh"), greeting], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def until(what, predicate, timeout=120):
    """Waits for `predicate` (a condition, checked every 50 ms) or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_the_example_builds_serves_and_rolls_out_a_new_commit(ofn_bin, tmp_path):
    first = make_repo(tmp_path / "git", "Hello")
    serve = Serve(ofn_bin, tmp_path / "state", "-f", str(EXAMPLE / "function.yaml"),
                  "--git-mirror", "https://github.com/libofn/=file://%s/" % (tmp_path / "git"))
    try:
        assert "hello-git: Running" in serve.output(), serve.output()
        assert serve.get("hello-git.default.ofn.io", "/x") == (200, "Hello from git! (path /x)\n")
        assert serve.get("greet-git.default.ofn.io", "/?name=you") == (200, "Hello, you! (from Python)\n")
        builds = serve.cli("get", "builds").stdout
        assert builds.splitlines()[0].split() == ["NAME", "FUNCTION", "STATE", "COMMIT", "STRATEGY", "DURATION",
                                                  "AGE"], builds
        rows = {line.split()[0]: line.split() for line in builds.splitlines()[1:]}
        assert rows["hello-git-build-00001"][2:5] == ["Succeeded", first[:12], "cxx"], builds
        assert rows["greet-git-build-00001"][2:5] == ["Succeeded", first[:12], "python"], builds

        # A new commit: the revision controller (every 5 s) builds it and
        # the new revision takes the traffic; no request fails meanwhile.
        second = make_repo(tmp_path / "git", "Hello again")
        statuses, bodies = [], set()

        def rolled_out():
            status, body = serve.get("hello-git.default.ofn.io", "/x")
            statuses.append(status)
            bodies.add(body)
            return body == "Hello again from git! (path /x)\n"

        until("the new commit to serve", rolled_out, timeout=90)
        assert set(statuses) == {200}, statuses
        assert "Hello from git! (path /x)\n" in bodies
        described = serve.cli("describe", "build", "hello-git-build-00002").stdout
        assert "Commit:       " + second in described, described
        assert "new commit %s (revision controller)" % second[:12] in described, described
        assert "Strategy:     cxx" in described, described
        function = serve.cli("describe", "function", "hello-git").stdout
        assert "Revision controller: every 5s" in function, function
        assert "hello-git-00002" in function, function
        log = serve.cli("logs", "hello-git", "--build").stdout
        assert "strategy: cxx" in log and "checked out " + second in log, log

        # ofn rebuild builds again without the cache.
        assert "rebuilding" in serve.cli("rebuild", "greet-git").stdout
        until("greet-git's second build", lambda: "greet-git-build-00002" in serve.cli("get", "builds", "greet-git").stdout
              and "Succeeded" in serve.cli("get", "builds", "greet-git").stdout.splitlines()[-1])
        r = serve.cli("rebuild", "no-such-function", check=False)
        assert r.returncode == 1 and "no-such-function" in r.stderr, r.stderr
    finally:
        serve.stop()


BROKEN = """apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: broken
spec:
  image: registry.example.com/broken:latest
  build:
    builder: ofn.local/cxx
    srcRepo:
      url: {url}
      revision: main
  serving:
    template:
      containers:
        - name: function
"""


def test_apply_wait_follows_a_build_and_fails_with_the_compiler_message(ofn_bin, tmp_path):
    repo = tmp_path / "src"
    repo.mkdir()
    (repo / "fn.cc").write_text('#include "libofn/serve/function.h"\nint main( { return 0; }\n')
    for cmd in (["init", "-q", "-b", "main"], ["-c", "user.email=a@b", "-c", "user.name=t", "add", "-A"],
                ["-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "-m", "broken"]):
        subprocess.run(["git", "-C", str(repo)] + cmd, check=True)
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(BROKEN.format(url=repo))
    serve = Serve(ofn_bin, tmp_path / "state")
    try:
        r = serve.cli("apply", "-f", str(manifest), "--wait", "--timeout", "120", check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "build broken-build-00001: Failed (BuildFailed) compiling failed" in r.stdout, r.stdout
        assert "BuildFailed" in r.stderr and "error:" in r.stderr, r.stderr
        r = serve.cli("get", "functions")
        row = next(line.split() for line in r.stdout.splitlines() if line.startswith("broken"))
        assert row[1:3] == ["Failed", "Failed"], r.stdout
    finally:
        serve.stop()
