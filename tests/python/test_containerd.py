"""The containerd backend against a real containerd: a private daemon (its own
root, state and socket under a temp dir, `containerd --config`) with Debian's
runc, started and stopped here. Images are built with `ofn image build` from
busybox-static's httpd; `ofn serve --containerd=SOCKET` runs them as
Functions: requests, logs, a task killed from outside and restarted, a traffic
split between two image revisions, scale to zero and back, a SIGKILL of
`ofn serve` and the adoption of its containers, and nothing left after
delete. Needs root (containerd and runc do); skipped otherwise."""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from test_process import revisions
from test_serve import Server, cli, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containerd and runc need root to run containers")

BUSYBOX = "/bin/busybox"  # busybox-static: no libraries to carry into the image


class Containerd:
    """A private containerd: its own root, state, socket and config."""

    def __init__(self, disabled_plugins=()):
        for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
            if not shutil.which(tool):
                pytest.fail("%s not found: scripts/setup.sh installs containerd and runc" % tool)
        # A short path: unix socket paths have at most 107 bytes.
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="ofn-ctrd-"))
        self.socket = str(self.dir / "c.sock")
        config = self.dir / "config.toml"
        config.write_text(
            'version = 2\nroot = "%s"\nstate = "%s"\ndisabled_plugins = [%s]\n'
            '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n'
            % (self.dir / "root", self.dir / "state",
               ", ".join('"%s"' % p for p in ("io.containerd.grpc.v1.cri", *disabled_plugins)), self.socket,
               self.socket))
        self.log = open(self.dir / "containerd.log", "w")
        self.proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_until(lambda: self.ctr("version", check=False).returncode == 0, timeout=20):
            self.stop()
            pytest.fail("containerd did not start:\n" + (self.dir / "containerd.log").read_text()[-3000:])

    def ctr(self, *args, check=True):
        r = subprocess.run(["ctr", "--address", self.socket, "--namespace", "ofn", *args], capture_output=True,
                           text=True, timeout=60)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def rows(self, *args):
        """`ctr ... ls -q`-style listing as a list of lines."""
        return [l for l in self.ctr(*args).stdout.splitlines() if l.strip()]

    def tasks(self):
        """{container id: (pid, status)}."""
        out = {}
        for line in self.rows("tasks", "ls")[1:]:
            cid, pid, status = line.split()[:3]
            out[cid] = (int(pid), status)
        return out

    def stop(self):
        # Whatever a failed test left: tasks, then the shims (they outlive
        # containerd), then containerd, then mounts under our root.
        for cid in self.rows("tasks", "ls", "-q") if self.proc.poll() is None else []:
            self.ctr("tasks", "kill", "-s", "KILL", cid, check=False)
        subprocess.run(["pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*%s" % self.socket], check=False)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if str(self.dir) in line.split()[1]]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd():
    c = Containerd()
    yield c
    c.stop()


def build_image(ofn_bin, containerd, tmp_path, tag, text):
    """A busybox httpd image serving `text` at / on $PORT (loopback), printing
    its FUNC_CONTEXT when it starts and exiting on SIGTERM."""
    root = tmp_path / ("img-" + tag.replace("/", "_").replace(":", "_"))
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for name in ("sh", "httpd"):
        os.symlink("busybox", root / "bin" / name)
    (root / "www" / "index.html").write_text(text)
    entry = ('echo "started on $PORT with FUNC_CONTEXT=$FUNC_CONTEXT"; trap "exit 0" TERM; '
             'httpd -f -p 127.0.0.1:$PORT -h /www & wait')
    r = subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "build", str(root), "-t", tag,
                        "--entrypoint", entry], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("built " + tag), r.stdout


def function_yaml(name, image, extra=""):
    return """apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: %s
spec:
  version: "v1.0.0"
  image: "%s"
%s  serving:
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
""" % (name, image, extra)


def serve(ofn_bin, containerd, state, files=(), extra=()):
    return Server(ofn_bin, state, files, extra=["--containerd=" + containerd.socket, *extra])


def stop(server):
    if server.proc.poll() is None:
        assert server.stop() == 0, "".join(server.lines)


def test_an_image_function_serves_logs_and_is_restarted_after_a_kill(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/httpd:v1", "hello from v1\n")
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("httpd", "example.local/httpd:v1"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    try:
        assert s.get("http://httpd.default.ofn.io/") == (200, "hello from v1\n")
        tasks = containerd.tasks()
        assert len(tasks) == 1, tasks
        (cid, (pid, status)), = tasks.items()
        assert status == "RUNNING" and cid.startswith("httpd-00001-")
        info = containerd.ctr("containers", "info", cid).stdout
        for label in ('"ofn.io/function": "httpd"', '"ofn.io/namespace": "default"',
                      '"ofn.io/revision": "httpd-00001"'):
            assert label in info
        # The instance's output in the revision's log, with its port.
        logs = cli(ofn_bin, state, "logs", "httpd").stdout
        assert "started on " in logs and '"port":"' in logs, logs

        # Killed from outside: the event restarts it (a new task, same container).
        containerd.ctr("tasks", "kill", "-s", "KILL", cid)
        assert wait_until(lambda: containerd.tasks().get(cid, (pid, ""))[0] != pid
                          and containerd.tasks()[cid][1] == "RUNNING", timeout=30), containerd.tasks()
        assert wait_until(lambda: s.get("http://httpd.default.ofn.io/")[0] == 200)
        described = cli(ofn_bin, state, "describe", "function", "httpd").stdout
        assert "InstanceCrashed" in described, described

        # Deleted: no container, task or snapshot of it stays.
        cli(ofn_bin, state, "delete", "function", "httpd")
        assert wait_until(lambda: not containerd.rows("containers", "ls", "-q"), timeout=30)
        assert not containerd.rows("tasks", "ls", "-q")
        assert not [l for l in containerd.rows("snapshots", "ls")[1:] if "Active" in l]
    finally:
        stop(s)


def test_limits_become_cgroup_limits_and_a_read_only_rootfs_is_read_only(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/limits:v1", "limited\n")
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("limits", "example.local/limits:v1").replace(
        "        - name: function\n",
        "        - name: function\n          resources:\n            limits:\n              memory: 64Mi\n"
        "              cpu: 500m\n          securityContext:\n            readOnlyRootFilesystem: true\n"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    try:
        assert s.get("http://limits.default.ofn.io/") == (200, "limited\n")
        (cid, (pid, _)), = containerd.tasks().items()
        with open("/proc/%d/cgroup" % pid) as f:
            groups = dict((line.split(":")[1], line.split(":")[2].strip()) for line in f)
        memory_dir = pathlib.Path("/sys/fs/cgroup/memory") / groups["memory"].lstrip("/")
        if memory_dir.exists():  # cgroup v1
            assert groups["memory"].endswith("/ofn/" + cid), groups
            assert (memory_dir / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            cpu_dir = pathlib.Path("/sys/fs/cgroup/cpu") / groups["cpu,cpuacct" if "cpu,cpuacct" in groups else "cpu"].lstrip("/")
            assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "50000"
        else:  # cgroup v2
            unified = pathlib.Path("/sys/fs/cgroup") / groups[""].lstrip("/")
            assert (unified / "memory.max").read_text().strip() == str(64 << 20)
        r = containerd.ctr("tasks", "exec", "--exec-id", "probe", cid, "/bin/sh", "-c", "echo x > /www/new", check=False)
        assert r.returncode != 0 and "Read-only file system" in (r.stderr + r.stdout), r
    finally:
        stop(s)


def test_going_over_the_memory_limit_is_oomkilled_and_restarted(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/hog:v1", "hog\n")
    fn = tmp_path / "fn.yaml"
    # Serves, then after a moment fills 200 MB of shell memory under a 48Mi limit.
    fn.write_text(function_yaml("hog", "example.local/hog:v1").replace(
        "        - name: function\n",
        "        - name: function\n          command: [\"/bin/sh\", \"-c\"]\n"
        "          args: [\"httpd -f -p 127.0.0.1:$PORT -h /www & sleep 1; "
        "x=$(/bin/busybox head -c 200000000 /dev/zero | /bin/busybox tr '\\\\0' x); wait\"]\n"
        "          resources:\n            limits:\n              memory: 48Mi\n"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    try:
        assert s.get("http://hog.default.ofn.io/") == (200, "hog\n")
        assert wait_until(lambda: "OOMKilled" in cli(ofn_bin, state, "describe", "function", "hog").stdout,
                          timeout=30), cli(ofn_bin, state, "describe", "function", "hog").stdout
        # Restarted: it answers again between kills.
        assert wait_until(lambda: s.get("http://hog.default.ofn.io/")[0] == 200, timeout=30)
    finally:
        stop(s)


def test_without_overlayfs_the_native_snapshotter_is_used_and_said(ofn_bin, tmp_path):
    c = Containerd(disabled_plugins=["io.containerd.snapshotter.v1.overlayfs"])
    try:
        build_image(ofn_bin, c, tmp_path, "example.local/native:v1", "native\n")
        fn = tmp_path / "fn.yaml"
        fn.write_text(function_yaml("native", "example.local/native:v1"))
        state = tmp_path / "state"
        s = serve(ofn_bin, c, state, [fn])
        try:
            assert s.get("http://native.default.ofn.io/") == (200, "native\n")
            assert any("native" in line for line in c.rows("snapshots", "--snapshotter", "native", "ls"))
            out = cli(ofn_bin, state, "get", "functions", "-o", "yaml").stdout
            assert "NativeSnapshotter" in out and "overlayfs" in out, out
        finally:
            stop(s)
    finally:
        c.stop()


def test_traffic_split_and_scale_to_zero_between_two_image_revisions(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/split:v1", "one\n")
    build_image(ofn_bin, containerd, tmp_path, "example.local/split:v2", "two\n")
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("split", "example.local/split:v1"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn], extra=["--scale-to-zero-grace", "1",
                                                       "--autoscaler", "stable-window=6s"])
    try:
        assert s.get("http://split.default.ofn.io/") == (200, "one\n")
        fn.write_text(function_yaml("split", "example.local/split:v2",
                                    "  traffic:\n    - revisionName: split-00001\n      percent: 50\n"
                                    "    - latestRevision: true\n      percent: 50\n"))
        cli(ofn_bin, state, "apply", "-f", str(fn))
        assert wait_until(lambda: sorted((r["NAME"], r["READY"], r["TRAFFIC"]) for r in revisions(ofn_bin, state, "split"))
                          == [("split-00001", "True", "50%"), ("split-00002", "True", "50%")]), \
            revisions(ofn_bin, state, "split")
        # Any 100 consecutive requests split exactly (a shorter run may not:
        # where it starts in the split's sequence decides).
        seen = [s.get("http://split.default.ofn.io/")[1] for _ in range(100)]
        assert seen.count("one\n") == 50 and seen.count("two\n") == 50, seen
        revs = {cid.rsplit("-", 1)[0] for cid in containerd.tasks()}
        assert revs == {"split-00001", "split-00002"}, revs

        # No traffic: both revisions go to zero containers, then one request
        # brings one back.
        assert wait_until(lambda: not containerd.rows("containers", "ls", "-q"), timeout=60), \
            containerd.rows("containers", "ls")
        assert s.get("http://split.default.ofn.io/")[0] == 200
        assert len(containerd.tasks()) == 1
    finally:
        stop(s)


def test_a_killed_serve_leaves_containers_the_next_one_adopts(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/adopt:v1", "adopted\n")
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("adopt", "example.local/adopt:v1"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    assert s.get("http://adopt.default.ofn.io/") == (200, "adopted\n")
    before = containerd.tasks()
    assert len(before) == 1
    s.proc.kill()
    s.proc.wait()
    assert containerd.tasks() == before, "the container outlives ofn serve"

    s2 = serve(ofn_bin, containerd, state)
    try:
        assert any("adopted 1 instance(s) of containerd" in l for l in s2.lines), "".join(s2.lines)
        assert s2.get("http://adopt.default.ofn.io/") == (200, "adopted\n")
        assert containerd.tasks() == before, "the same container and task serve, no cold start"
        revisions = cli(ofn_bin, state, "describe", "function", "adopt").stdout
        assert "Running" in revisions
    finally:
        stop(s2)
    # A clean stop removes what it ran.
    assert not containerd.rows("containers", "ls", "-q")


def test_containers_no_current_revision_needs_are_removed_at_start(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/gone:v1", "gone\n")
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("gone", "example.local/gone:v1"))
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    assert s.get("http://gone.default.ofn.io/")[0] == 200
    s.proc.kill()
    s.proc.wait()
    assert len(containerd.tasks()) == 1
    # The same state dir (the same owner) without the Function: its
    # container is no longer needed, and the next run removes it.
    for db in state.glob("state.db*"):
        db.unlink()
    s2 = serve(ofn_bin, containerd, state)
    try:
        assert wait_until(lambda: not containerd.rows("containers", "ls", "-q"), timeout=30), \
            containerd.rows("containers", "ls")
        assert not [l for l in containerd.rows("snapshots", "ls")[1:] if "Active" in l]
    finally:
        stop(s2)


class Registry:
    """Debian's docker-registry (the distribution registry) on a loopback port."""

    def __init__(self, tmp_path, user=None, password=None):
        from test_process import free_port
        self.port = free_port()
        config = tmp_path / "registry.yml"
        text = ("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
                "http:\n  addr: 127.0.0.1:%d\n" % (tmp_path / "registry-data", self.port))
        if user:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import crypt
            (tmp_path / "htpasswd").write_text("%s:%s\n" % (user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))))
            text += "auth:\n  htpasswd:\n    realm: test\n    path: %s\n" % (tmp_path / "htpasswd")
        config.write_text(text)
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        import urllib.error
        import urllib.request

        def up():
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/v2/" % self.port, timeout=1).status == 200
            except urllib.error.HTTPError as e:
                return e.code == 401  # up, and asking for credentials
            except OSError:
                return False
        assert wait_until(up, timeout=20), "docker-registry did not start"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


SAMPLE = """# OpenFunction's samples: functions/knative/hello-world-go/function-sample.yaml,
# without its build section (its source is on GitHub).
apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: function-sample
spec:
  version: "v2.0.0"
  image: "openfunctiondev/sample-go-func:v1"
  imageCredentials:
    name: push-secret
  serving:
    template:
      containers:
        - name: function # DO NOT change this
          imagePullPolicy: IfNotPresent
    triggers:
      http:
        port: 8080
    scaleOptions:
      minReplicas: 0
      maxReplicas: 10
"""


def test_an_openfunction_sample_runs_from_a_registry_mirror(ofn_bin, containerd, tmp_path):
    if not shutil.which("docker-registry"):
        pytest.fail("docker-registry not found: scripts/setup.sh installs it")
    registry = Registry(tmp_path)
    image = ["image", "--containerd", containerd.socket]
    try:
        # An image under the sample's own name, in the registry only.
        build_image(ofn_bin, containerd, tmp_path, "example.local/sample-go:build", "Hello, World!\n")
        dest = "127.0.0.1:%d/openfunctiondev/sample-go-func:v1" % registry.port
        for args in (["push", "example.local/sample-go:build", dest], ["rm", "example.local/sample-go:build"]):
            r = subprocess.run([ofn_bin, *image, *args], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        assert "sample-go-func" not in containerd.ctr("images", "ls", "-q").stdout

        fn = tmp_path / "function-sample.yaml"
        fn.write_text(SAMPLE)
        state = tmp_path / "state"
        s = serve(ofn_bin, containerd, state, [fn],
                  extra=["--registry-mirror", "docker.io=http://127.0.0.1:%d" % registry.port])
        try:
            assert s.get("http://function-sample.default.ofn.io/") == (200, "Hello, World!\n")
            assert "docker.io/openfunctiondev/sample-go-func:v1" in containerd.ctr("images", "ls", "-q").stdout
        finally:
            stop(s)

        # Without the mirror (and without the image): the status names the pull error and the fix.
        containerd.ctr("images", "rm", "--sync", "docker.io/openfunctiondev/sample-go-func:v1")
        s = serve(ofn_bin, containerd, tmp_path / "state2", [fn])
        try:
            out = cli(ofn_bin, tmp_path / "state2", "get", "functions", "-o", "yaml").stdout
            assert "ErrImagePull" in out and "--registry-mirror docker.io=" in out, out
        finally:
            stop(s)
    finally:
        registry.stop()


def test_image_credentials_name_a_secret_the_pull_authenticates_with(ofn_bin, containerd, tmp_path):
    import base64
    import json
    registry = Registry(tmp_path, user="ofn", password="s3cret")
    auth = {"auths": {"127.0.0.1:%d" % registry.port: {"auth": base64.b64encode(b"ofn:s3cret").decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(auth))
    try:
        build_image(ofn_bin, containerd, tmp_path, "example.local/private:build", "private\n")
        name = "127.0.0.1:%d/team/private:v1" % registry.port
        push = [ofn_bin, "image", "--containerd", containerd.socket, "push", "example.local/private:build", name]
        r = subprocess.run(push, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "HTTP 401" in r.stderr, r.stderr  # no credentials, no push
        r = subprocess.run(push[:2] + ["--registry-config", str(tmp_path / "config.json")] + push[2:],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "rm", "example.local/private:build"],
                       check=True, capture_output=True)

        secret = """apiVersion: v1
kind: Secret
metadata:
  name: push-secret
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: %s
---
""" % base64.b64encode(json.dumps(auth).encode()).decode()
        fn = tmp_path / "fn.yaml"
        fn.write_text(secret + function_yaml("private", name, "  imageCredentials:\n    name: push-secret\n"))
        nocred = tmp_path / "nocred.yaml"
        nocred.write_text(function_yaml("nocred", name))
        state = tmp_path / "state"
        s = serve(ofn_bin, containerd, state, [fn])
        try:
            assert s.get("http://private.default.ofn.io/") == (200, "private\n")
        finally:
            stop(s)
        # Another Function without imageCredentials cannot pull it.
        containerd.ctr("images", "rm", "--sync", name)
        s = serve(ofn_bin, containerd, tmp_path / "state2", [nocred])
        try:
            out = cli(ofn_bin, tmp_path / "state2", "get", "functions", "-o", "yaml").stdout
            assert "ErrImagePull" in out and "HTTP 401" in out, out
        finally:
            stop(s)
    finally:
        registry.stop()


def test_image_archives_and_errors_that_say_what_to_do(ofn_bin, containerd, tmp_path):
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "hello.txt").write_text("hi")
    archive = tmp_path / "img.tar"
    r = subprocess.run([ofn_bin, "image", "build", str(root), "-t", "example.local/archived:v3", "--cmd",
                        '["/hello"]', "-o", str(archive)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "import", str(archive)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "imported example.local/archived:v3" in r.stdout
    listed = subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "ls"], capture_output=True,
                            text=True).stdout
    assert "example.local/archived:v3" in listed
    # ctr sees the same image.
    assert "example.local/archived:v3" in containerd.ctr("images", "ls", "-q").stdout

    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    r = subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "import", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "bad.tar" in r.stderr, r.stderr

    # An image containerd does not have: the status says how to get it there.
    fn = tmp_path / "fn.yaml"
    fn.write_text(function_yaml("missing", "example.local/not-there:v1"))
    s = serve(ofn_bin, containerd, tmp_path / "state", [fn])
    try:
        out = cli(ofn_bin, tmp_path / "state", "get", "functions", "-o", "yaml").stdout
        assert "ErrImagePull: cannot pull example.local/not-there:v1" in out and "ofn image import" in out, out
    finally:
        stop(s)

    # No containerd at the socket: ofn serve refuses to start and says why.
    r = subprocess.run([ofn_bin, "serve", "--state-dir", str(tmp_path / "s2"), "--listen", "127.0.0.1:0",
                        "--containerd=" + str(tmp_path / "none.sock")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no containerd socket at" in r.stderr, r.stderr


def test_the_readme_example_builds_its_image_and_serves(ofn_bin, containerd, tmp_path):
    example = pathlib.Path(__file__).resolve().parents[2] / "examples" / "containerd-hello"
    r = subprocess.run([str(example / "build-image.sh")], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OFN_CONTAINERD=containerd.socket, OFN=ofn_bin))
    assert r.returncode == 0, r.stderr
    assert "built example.local/containerd-hello:v1" in r.stdout
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [example / "function.yaml"])
    try:
        assert s.get("http://hello-container.default.ofn.io/") == (200, "Hello from a container\n")
        assert "hello-container on port" in cli(ofn_bin, state, "logs", "hello-container").stdout
    finally:
        stop(s)
    assert not containerd.rows("containers", "ls", "-q")


PROCFILE = "web: httpd -f -p 127.0.0.1:$PORT -h www\n"


def git_repo(repo, files):
    """Writes `files` (path -> text) into the work tree `repo` (made on first
    use, branch main) and commits them."""
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=t"]
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "update"], check=True)


BUILT = """apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: site
  annotations:
    ofn.io/backend: containerd
spec:
  version: v1.0.0
  image: registry.example.com/site:latest
  build:
    builder: ofn.local/command
    shipwright:
      params:
        - name: RUN_IMAGE
          value: example.local/busybox:run
    srcRepo:
      url: %s
      revision: main
  serving:
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
"""


def test_a_bundle_built_from_git_runs_as_an_image_layered_on_its_run_image(ofn_bin, containerd, tmp_path):
    # The run image: busybox with sh and httpd (its own entrypoint unused).
    build_image(ofn_bin, containerd, tmp_path, "example.local/busybox:run", "base\n")
    repo = tmp_path / "site"
    git_repo(repo, {"www/index.html": "built from git\n", "Procfile": PROCFILE})
    fn = tmp_path / "site.yaml"
    fn.write_text(BUILT % repo)
    s = serve(ofn_bin, containerd, tmp_path / "state", [fn])
    try:
        assert s.get("http://site.default.ofn.io/") == (200, "built from git\n"), "".join(s.lines)
        images = containerd.ctr("images", "ls", "-q").stdout
        assert "ofn.build/default/site:site-build-00001" in images, images
        (cid, _), = containerd.tasks().items()
        assert cid.startswith("site-00001-")
        builds = cli(ofn_bin, tmp_path / "state", "describe", "build", "site-build-00001").stdout
        assert "into image ofn.build/default/site:site-build-00001" in builds, builds

        # A C++ library cannot run in a container: said, nothing served.
        bad = tmp_path / "lib.yaml"
        git_repo(repo, {"fn.cc": '#include "libofn/serve/function.h"\nOFN_REGISTER_FUNCTIONS(r) {}\n'})
        bad.write_text((BUILT % repo).replace("name: site", "name: lib").replace("ofn.local/command", "ofn.local/cxx"))
        r = cli(ofn_bin, tmp_path / "state", "apply", "-f", str(bad), "--wait", "--timeout", "25", check=False)
        assert r.returncode == 1 and "NoImage" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        stop(s)


# The same Function, named docker-site, built from a Dockerfile by the buildah strategy.
DOCKERFILE_FN = BUILT.replace("name: site", "name: docker-site").replace("site:latest", "docker-site:latest").replace(
    "    builder: ofn.local/command\n    shipwright:\n      params:\n        - name: RUN_IMAGE\n"
    "          value: example.local/busybox:run\n",
    "    builder: openfunction/buildah:v1.23.1\n    dockerfile: Dockerfile\n    shipwright:\n      strategy:\n"
    "        kind: ClusterBuildStrategy\n        name: buildah\n")


def test_a_dockerfile_is_built_with_buildah_on_a_base_from_the_registry_mirror(ofn_bin, containerd, tmp_path):
    if not shutil.which("buildah"):
        pytest.fail("buildah not found: scripts/setup.sh installs it")
    if not shutil.which("docker-registry"):
        pytest.fail("docker-registry not found: scripts/setup.sh installs it")
    registry = Registry(tmp_path)
    try:
        # The base image, in the mirror only, under a Docker Hub short name.
        build_image(ofn_bin, containerd, tmp_path, "example.local/busybox:base", "base\n")
        image = [ofn_bin, "image", "--containerd", containerd.socket]
        for args in (["push", "example.local/busybox:base", "127.0.0.1:%d/library/busybox:ofn" % registry.port],
                     ["rm", "example.local/busybox:base"]):
            r = subprocess.run(image + args, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        repo = tmp_path / "src"
        git_repo(repo, {"site/index.html": "built by buildah\n", "Dockerfile":
                        "FROM busybox:ofn\nCOPY site /site\n"
                        'ENTRYPOINT ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:$PORT -h /site"]\n'})
        fn = tmp_path / "docker-site.yaml"
        fn.write_text(DOCKERFILE_FN % repo)
        state = tmp_path / "state"
        s = serve(ofn_bin, containerd, state, [fn],
                  extra=["--registry-mirror", "docker.io=http://127.0.0.1:%d" % registry.port])
        try:
            assert s.get("http://docker-site.default.ofn.io/") == (200, "built by buildah\n"), "".join(s.lines)
            assert "ofn.build/default/docker-site:docker-site-build-00001" in containerd.ctr("images", "ls", "-q").stdout
            log = cli(ofn_bin, state, "logs", "docker-site", "--build").stdout
            assert "buildah" in log and "strategy: dockerfile" in log, log
        finally:
            stop(s)
    finally:
        registry.stop()


def test_an_image_a_build_made_is_pushed_to_spec_image_with_its_credentials(ofn_bin, containerd, tmp_path):
    import base64
    import json
    import urllib.request
    (tmp_path / "registry").mkdir()
    registry = Registry(tmp_path / "registry", user="ofn", password="s3cret")
    auth = {"auths": {"127.0.0.1:%d" % registry.port: {"auth": base64.b64encode(b"ofn:s3cret").decode()}}}
    try:
        build_image(ofn_bin, containerd, tmp_path, "example.local/busybox:run", "base\n")
        repo = tmp_path / "site"
        git_repo(repo, {"www/index.html": "pushed\n", "Procfile": PROCFILE})
        image = "127.0.0.1:%d/team/site:v1" % registry.port
        secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: push-secret\ntype: kubernetes.io/dockerconfigjson\n"
                  "data:\n  .dockerconfigjson: %s\n---\n" % base64.b64encode(json.dumps(auth).encode()).decode())
        manifest = (BUILT % repo).replace("image: registry.example.com/site:latest",
                                          "image: %s\n  imageCredentials:\n    name: push-secret" % image)
        fn = tmp_path / "site.yaml"
        fn.write_text(secret + manifest)
        state = tmp_path / "state"
        s = serve(ofn_bin, containerd, state, [fn])
        try:
            assert s.get("http://site.default.ofn.io/") == (200, "pushed\n"), "".join(s.lines)
            req = urllib.request.Request("http://127.0.0.1:%d/v2/team/site/manifests/v1" % registry.port, headers={
                "Authorization": "Basic " + base64.b64encode(b"ofn:s3cret").decode(),
                "Accept": "application/vnd.oci.image.manifest.v1+json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
            log = cli(ofn_bin, state, "logs", "site", "--build").stdout
            assert "pushed to " + image in log, log
        finally:
            stop(s)
    finally:
        registry.stop()


def test_a_bundle_container_image_is_a_source(ofn_bin, containerd, tmp_path):
    build_image(ofn_bin, containerd, tmp_path, "example.local/busybox:run", "base\n")
    # The source bundle, as OpenFunction's docs make one (FROM scratch, the sources under /samples).
    bundle = tmp_path / "bundle"
    (bundle / "samples" / "site" / "www").mkdir(parents=True)
    (bundle / "samples" / "site" / "www" / "index.html").write_text("from a bundle\n")
    (bundle / "samples" / "site" / "Procfile").write_text(PROCFILE)
    (bundle / "samples" / "other").mkdir()
    (bundle / "samples" / "other" / "note.txt").write_text("not this\n")
    r = subprocess.run([ofn_bin, "image", "--containerd", containerd.socket, "build", str(bundle), "-t",
                        "example.local/site-source:v1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    manifest = (BUILT % "unused").replace(
        "    srcRepo:\n      url: unused\n      revision: main\n",
        "    srcRepo:\n      bundleContainer:\n        image: example.local/site-source:v1\n"
        "      sourceSubPath: /samples/site/\n")
    fn = tmp_path / "bundle.yaml"
    fn.write_text(manifest)
    state = tmp_path / "state"
    s = serve(ofn_bin, containerd, state, [fn])
    try:
        assert s.get("http://site.default.ofn.io/") == (200, "from a bundle\n"), "".join(s.lines)
        status = cli(ofn_bin, state, "get", "function", "site", "-o", "json").stdout
        assert '"bundle"' in status and '"digest": "sha256:' in status, status
        log = cli(ofn_bin, state, "logs", "site", "--build").stdout
        assert "unpacked example.local/site-source:v1" in log, log
    finally:
        stop(s)


WATCHED = """apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: watched
  annotations:
    ofn.io/backend: containerd
    openfunction.io/revision-controller: enable
    openfunction.io/revision-controller-params: |
      type: image
      polling-interval: 1s
spec:
  version: v1.0.0
  image: %s
  serving:
    template:
      containers:
        - name: function
          imagePullPolicy: IfNotPresent
    triggers:
      http:
        port: 8080
"""


def test_the_revision_controller_rolls_out_a_new_digest_of_the_same_tag(ofn_bin, containerd, tmp_path):
    if not shutil.which("docker-registry"):
        pytest.fail("docker-registry not found: scripts/setup.sh installs it")
    registry = Registry(tmp_path)
    image = [ofn_bin, "image", "--containerd", containerd.socket]
    tag = "127.0.0.1:%d/team/watched:latest" % registry.port
    try:
        def publish(text, local):
            build_image(ofn_bin, containerd, tmp_path, local, text)
            r = subprocess.run(image + ["push", local, tag], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr

        publish("one\n", "example.local/watched:one")
        fn = tmp_path / "watched.yaml"
        fn.write_text(WATCHED % tag)
        state = tmp_path / "state"
        s = serve(ofn_bin, containerd, state, [fn])
        try:
            assert wait_until(lambda: s.get("http://watched.default.ofn.io/") == (200, "one\n"), timeout=60), \
                "".join(s.lines)
            first = cli(ofn_bin, state, "get", "function", "watched", "-o", "jsonpath={.status.revision.imageDigest}").stdout
            assert first.startswith("sha256:"), first
            publish("two\n", "example.local/watched:two")  # the same tag, a new digest
            assert wait_until(lambda: s.get("http://watched.default.ofn.io/") == (200, "two\n"), timeout=60)
            second = cli(ofn_bin, state, "get", "function", "watched", "-o", "jsonpath={.status.revision.imageDigest}").stdout
            assert second.startswith("sha256:") and second != first, (first, second)
            assert [r["NAME"] for r in revisions(ofn_bin, state, "watched")] == ["watched-00001", "watched-00002"]
            described = cli(ofn_bin, state, "describe", "function", "watched").stdout
            assert "Revision controller" in described, described
        finally:
            stop(s)
    finally:
        registry.stop()
