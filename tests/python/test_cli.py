"""The ofn command as a user runs it."""
import os
import signal
import re
import sqlite3
import subprocess


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd)


def test_version(ofn_bin):
    r = run(ofn_bin, "version")
    assert r.returncode == 0
    assert re.match(r"^ofn \d+\.\d+\.\d+$", r.stdout.strip())


def test_help_on_every_command(ofn_bin):
    for cmd in ([], ["validate"], ["serve"], ["version"]):
        r = run(ofn_bin, *cmd, "--help")
        assert r.returncode == 0, cmd
        assert "Usage" in r.stdout or "usage" in r.stdout.lower(), cmd


def test_validate_prints_ok_per_object(ofn_bin, data_dir):
    r = run(ofn_bin, "validate", "-f", str(data_dir / "seeds" / "verbatim" / "000_01.yaml"),
            "-f", str(data_dir / "seeds" / "verbatim" / "001_41.yaml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["OK Gateway/openfunction", "OK Trigger/condition-trigger"]


def test_validate_five_errors(ofn_bin, data_dir):
    f = str(data_dir / "manifests" / "five_errors.yaml")
    r = run(ofn_bin, "validate", "-f", f)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 5, r.stderr
    got = [l[len(f):].split(": ")[0:2] for l in lines]
    assert got == [[":5:9", "metadata.name"],
                   [":11:20", "spec.serving.scaleOptions.minReplicas"],
                   [":14:15", "spec.serving.triggers.http.port"],
                   [":19:27", "spec.serving.triggers.http.route.rules[0].matches[0].path.type"],
                   [":21:5", "spec.serving.timeoutt"]]
    assert r.stdout == ""


def test_validate_missing_file_is_a_usage_error(ofn_bin):
    r = run(ofn_bin, "validate", "-f", "/nonexistent.yaml")
    assert r.returncode != 0
    assert "nonexistent.yaml" in r.stderr


def _serve_until_ready(ofn_bin, state, *files):
    args = [ofn_bin, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0"]
    for f in files:
        args += ["-f", f]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith("ready"):
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=20)
    return proc.returncode, "".join(out) + rest


def _rows(state):
    db = sqlite3.connect(str(state / "state.db"))
    rows = db.execute("SELECT kind, namespace, name, generation, resource_version, spec, status FROM objects "
                      "ORDER BY kind, name").fetchall()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    return rows


def test_serve_persists_and_invalid_input_changes_nothing(ofn_bin, data_dir, tmp_path):
    state = tmp_path / "state"
    good = str(data_dir / "seeds" / "completed" / "000_03.yaml")
    bad = str(data_dir / "manifests" / "five_errors.yaml")
    other = str(data_dir / "seeds" / "verbatim" / "001_29.yaml")
    # a batch with one invalid manifest applies nothing and starts nothing
    r = run(ofn_bin, "serve", "--state-dir", str(state), "-f", other, "-f", bad)
    assert r.returncode == 1
    assert "nothing was applied" in r.stderr
    assert not state.exists()
    code, out = _serve_until_ready(ofn_bin, state, good)
    assert code == 0, out
    assert "applied Function/default/function-sample (generation 1)" in out
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"
    before = _rows(state)
    assert [(k, n, g) for k, _, n, g, *_ in before] == [("Function", "function-sample", 1), ("Gateway", "openfunction", 1)]
    r = run(ofn_bin, "serve", "--state-dir", str(state), "-f", other, "-f", bad)
    assert r.returncode == 1
    assert _rows(state) == before
    # applying the same manifest again does not bump the generation
    code, out = _serve_until_ready(ofn_bin, state, good)
    assert code == 0 and "(generation 1)" in out, out


def test_serve_refuses_a_bad_autoscaler_setting_naming_it(ofn_bin, tmp_path):
    r = subprocess.run([ofn_bin, "serve", "--state-dir", str(tmp_path / "s"), "--listen", "127.0.0.1:0",
                        "--autoscaler", "stable-window=2s", "--autoscaler", "enable-scale-to-zero=false"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "--autoscaler stable-window: must be in 6s..3600s, got 2s" in r.stderr, r.stderr
    assert "enable-scale-to-zero" not in r.stderr


def test_a_second_serve_on_the_same_state_dir_is_refused_and_the_first_keeps_its_socket(ofn_bin, tmp_path):
    import sys as _sys
    import pathlib as _pathlib
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import Server, cli
    state = tmp_path / "state"
    first = Server(ofn_bin, state, [])
    try:
        r = subprocess.run([ofn_bin, "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1
        assert "is in use by another platform (pid %d)" % first.proc.pid in r.stderr, r.stderr
        # The first one's admin socket is still there and answers.
        assert cli(ofn_bin, state, "get", "functions").returncode == 0
    finally:
        assert first.stop() == 0


def test_usage_errors_exit_1_like_kubectl_and_version_flag(ofn_bin):
    r = run(ofn_bin, "nosuchcommand")
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "ofn --help" in r.stderr, r.stderr
    r = run(ofn_bin, "get")
    assert r.returncode == 1 and r.stderr.startswith("error: "), r.stderr
    r = run(ofn_bin, "--version")
    assert r.returncode == 0 and re.match(r"^ofn \d+\.\d+\.\d+$", r.stdout.strip()), r.stdout


def _function(name):
    return ("apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: %s\nspec:\n"
            "  version: v1\n  image: ofn.local/hello-world:latest\n  serving:\n    params:\n"
            "      FUNC_NAME: HelloWorld\n    triggers:\n      http:\n        port: 8080\n" % name)


def test_apply_and_delete_kubectl_style(ofn_bin, tmp_path):
    import sys as _sys
    import pathlib as _pathlib
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [])
    env = dict(os.environ, OFN_STATE_DIR=str(state))  # no --state-dir below

    def ofn(*args, stdin=None):
        return subprocess.run([ofn_bin, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60)
    try:
        # -f - reads stdin (cat <<EOF | ofn apply -f -).
        r = ofn("apply", "-f", "-", stdin=_function("from-stdin"))
        assert r.returncode == 0 and "Function default/from-stdin applied" in r.stdout, r.stderr
        # -f DIR: its manifests in name order; -R: below it too.
        d = tmp_path / "manifests"
        (d / "nested").mkdir(parents=True)
        (d / "a.yaml").write_text(_function("dir-a"))
        (d / "b.yml").write_text(_function("dir-b"))
        (d / "notes.txt").write_text("not a manifest")
        (d / "nested" / "c.yaml").write_text(_function("dir-c"))
        r = ofn("apply", "-f", str(d))
        assert r.returncode == 0, r.stderr
        assert [l.split()[1] for l in r.stdout.splitlines()] == ["default/dir-a", "default/dir-b"], r.stdout
        r = ofn("apply", "-R", "-f", str(d))
        assert r.returncode == 0 and "default/dir-c" in r.stdout, r.stdout
        r = ofn("apply", "-f", str(tmp_path / "missing.yaml"))
        assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
        # delete: several names, TYPE/NAME, -f FILE, --ignore-not-found.
        r = ofn("delete", "function", "dir-a", "dir-b")
        assert r.returncode == 0 and r.stdout.splitlines() == ['function "dir-a" deleted', 'function "dir-b" deleted']
        r = ofn("delete", "function/dir-c")
        assert r.returncode == 0 and 'function "dir-c" deleted' in r.stdout, r.stderr
        manifest = tmp_path / "stdin.yaml"
        manifest.write_text(_function("from-stdin"))
        r = ofn("delete", "-f", str(manifest))
        assert r.returncode == 0 and 'function "from-stdin" deleted' in r.stdout, r.stderr
        r = ofn("delete", "function", "from-stdin")
        assert r.returncode == 1 and "not found" in r.stderr, r.stderr
        r = ofn("delete", "function", "from-stdin", "--ignore-not-found")
        assert r.returncode == 0 and r.stdout == "", r.stdout
        r = ofn("get", "functions")  # nothing left
        assert r.returncode == 0 and "No resources found" in r.stderr, r.stderr
    finally:
        assert server.stop() == 0


def test_round_trips_columns_and_path_routed_invoke(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "host-based.yaml", EXAMPLE / "path-based.yaml"])
    env = dict(os.environ, OFN_STATE_DIR=str(state))

    def ofn(*args):
        return subprocess.run([ofn_bin, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        # get -o yaml of a list is a kind: List that validate and apply take back, unchanged.
        backup = tmp_path / "backup.yaml"
        r = ofn("get", "functions", "-o", "yaml")
        assert r.returncode == 0 and r.stdout.startswith("apiVersion: v1\n") and "kind: List" in r.stdout, r.stdout
        backup.write_text(r.stdout)
        r = ofn("validate", "-f", str(backup))
        assert r.returncode == 0 and r.stdout.splitlines() == ["OK Function/hello", "OK Function/hello-path"], r.stderr
        r = ofn("apply", "-f", str(backup))
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["Function default/hello unchanged", "Function default/hello-path unchanged"]
        # -A adds the NAMESPACE column.
        r = ofn("get", "functions", "-A")
        assert r.stdout.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"], r.stdout
        assert r.stdout.splitlines()[1].split()[:2] == ["default", "hello"], r.stdout
        r = ofn("get", "revisions", "-A")
        assert r.stdout.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"], r.stdout
        # invoke of a path-routed Function goes to its path.
        r = ofn("invoke", "hello-path")
        assert r.returncode == 0 and r.stdout == "Hello, World! (path /default/hello-path/)\n", r.stdout + r.stderr
        # describe function: its revisions with traffic and instances.
        r = ofn("describe", "function", "hello")
        rows = r.stdout.split("Revisions:\n", 1)[1].splitlines()
        assert rows[0].split() == ["NAME", "READY", "TRAFFIC", "TAGS", "INSTANCES", "COLDSTARTS", "RESTARTS", "REASON"]
        assert rows[1].split()[:3] == ["hello-00001", "True", "100%"], r.stdout
        # restart replaces the instances; an unknown function is an error.
        r = ofn("restart", "hello")
        assert r.returncode == 0 and r.stdout == 'function "hello" restarted\n', r.stdout + r.stderr
        assert ofn("invoke", "hello").returncode == 0
        r = ofn("restart", "nosuch")
        assert r.returncode == 1 and "nosuch" in r.stderr, r.stderr
        # describe gateway: the spec indented under Spec:.
        r = ofn("describe", "gateway", "openfunction", "-n", "openfunction")
        spec = r.stdout.split("Spec:\n", 1)[1].splitlines()
        assert spec and all(line.startswith("  ") for line in spec), r.stdout
    finally:
        assert server.stop() == 0


def test_output_formats_selectors_get_all_and_describe_revision(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    labelled = tmp_path / "labelled.yaml"
    labelled.write_text((EXAMPLE / "host-based.yaml").read_text().replace(
        "  name: hello\n", "  name: labelled\n  labels:\n    team: a\n    tier: web\n"))
    server = Server(ofn_bin, state, [EXAMPLE / "host-based.yaml", labelled])
    env = dict(os.environ, OFN_STATE_DIR=str(state))

    def ofn(*args):
        return subprocess.run([ofn_bin, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        assert ofn("get", "functions", "-o", "name").stdout == "function/hello\nfunction/labelled\n"
        r = ofn("get", "functions", "-o", "jsonpath={.items[*].metadata.name}{\"\\n\"}")
        assert r.stdout == "hello labelled\n", r.stdout
        r = ofn("get", "function", "hello", "-o", "jsonpath={.status.serving.state}")
        assert r.stdout == "Running", r.stdout
        r = ofn("get", "functions", "-o", "wide")
        assert r.stdout.splitlines()[0].split()[-3:] == ["READY-REVISION", "REASON", "INTERNAL"], r.stdout
        # The table the platform sums up: each column from the status.
        row = [line for line in r.stdout.splitlines() if line.startswith("hello ")][0].split()
        assert row[1:3] == ["Skipped", "Running"] and row[3] == "hello-00001", row
        assert row[4] == "http://hello.default.ofn.io/" and row[6] == "hello-00001", row
        assert row[7] == "-" and row[8] == "http://hello.default.svc.cluster.local/", row
        # Selectors pick the table's rows too.
        r = ofn("get", "functions", "-l", "tier=web")
        assert [line.split()[0] for line in r.stdout.splitlines()] == ["NAME", "labelled"], r.stdout
        r = ofn("get", "functions", "-l", "team=b")
        assert r.returncode == 0 and r.stdout == "" and "No resources found" in r.stderr, r.stdout + r.stderr
        # Label selectors: equality, inequality, existence, absence.
        for selector, names in [("team=a", ["labelled"]), ("team!=a", ["hello"]), ("tier", ["labelled"]),
                                ("!tier", ["hello"]), ("team=a,tier=web", ["labelled"]), ("team=b", [])]:
            r = ofn("get", "functions", "-l", selector, "-o", "name")
            assert r.returncode == 0 and r.stdout.split() == ["function/" + n for n in names], (selector, r.stdout)
        r = ofn("get", "functions", "-o", "bogus")
        assert r.returncode == 1 and "unknown output format" in r.stderr
        # get all: functions and revisions (and HTTPRoutes when there are any).
        r = ofn("get", "all")
        assert "BUILDSTATE" in r.stdout and "COLDSTARTS" in r.stdout and "hello-00001" in r.stdout, r.stdout
        # describe revision.
        r = ofn("describe", "revision", "hello-00001")
        assert r.returncode == 0 and "Function:     hello" in r.stdout and "Traffic:      100%" in r.stdout, r.stdout
        r = ofn("describe", "revision", "nope-00001")
        assert r.returncode == 1 and "not found" in r.stderr
    finally:
        assert server.stop() == 0


def test_get_watch_prints_changes_as_they_happen(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    import time as _time
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "host-based.yaml"])
    env = dict(os.environ, OFN_STATE_DIR=str(state))
    watcher = subprocess.Popen([ofn_bin, "get", "functions", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    import queue
    import threading
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in watcher.stdout], daemon=True).start()
    try:
        def line(timeout=20):
            return lines.get(timeout=timeout)
        assert line().split()[0] == "NAME"
        assert line().split()[0] == "hello"
        _time.sleep(0.2)
        other = tmp_path / "other.yaml"
        other.write_text((EXAMPLE / "host-based.yaml").read_text().replace("  name: hello\n", "  name: other\n"))
        r = subprocess.run([ofn_bin, "apply", "-f", str(other)], capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        seen = []
        deadline = _time.monotonic() + 20
        while _time.monotonic() < deadline and not any(l.split()[:2] == ["MODIFIED", "default/other"] and
                                                        "Running" in l for l in seen):
            seen.append(line())
        assert seen[0].split()[:2] == ["ADDED", "default/other"], seen
        assert any("Running" in l and "default/other" in l for l in seen), seen
    finally:
        watcher.kill()
        watcher.wait()
        assert server.stop() == 0


def test_shell_completion_offers_commands_resources_and_object_names(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "host-based.yaml"])
    env = dict(os.environ, OFN_STATE_DIR=str(state), PATH=str(_pathlib.Path(ofn_bin).parent) + ":" + os.environ["PATH"])

    def complete(*words):
        script = ('source <(ofn completion bash); COMP_WORDS=(%s); COMP_CWORD=%d; _ofn; echo "${COMPREPLY[@]}"'
                  % (" ".join("'%s'" % w for w in words), len(words) - 1))
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()
    try:
        assert complete("ofn", "ge") == ["get"]
        assert complete("ofn", "get", "http") == ["httproutes"]
        assert complete("ofn", "describe", "functions", "he") == ["hello"]
        assert complete("ofn", "logs", "") == ["hello"]
        assert "wide" in complete("ofn", "get", "functions", "-o", "")
        zsh = subprocess.run([ofn_bin, "completion", "zsh"], capture_output=True, text=True)
        assert zsh.stdout.startswith("autoload -U +X bashcompinit && bashcompinit\n")
        assert subprocess.run([ofn_bin, "completion", "fish"], capture_output=True, text=True).returncode == 1
    finally:
        assert server.stop() == 0


def test_a_route_conflict_shows_in_get_functions(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "host-based.yaml"])
    env = dict(os.environ, OFN_STATE_DIR=str(state))
    try:
        # A younger Function claiming hello's host and path.
        copy = tmp_path / "copy.yaml"
        copy.write_text((EXAMPLE / "host-based.yaml").read_text().replace("  name: hello\n", "  name: copy\n").replace(
            "        port: 8080\n",
            "        port: 8080\n        route:\n          hostnames: [hello.default.ofn.io]\n"
            "          rules:\n            - matches: [{path: {type: PathPrefix, value: /}}]\n"))
        r = subprocess.run([ofn_bin, "apply", "-f", str(copy)], capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        import time as _time
        deadline = _time.monotonic() + 20
        row = ""
        while _time.monotonic() < deadline and "Conflicted" not in row:
            out = subprocess.run([ofn_bin, "get", "functions"], capture_output=True, text=True, env=env).stdout
            row = next((l for l in out.splitlines() if l.startswith("copy ")), "")
            _time.sleep(0.1)
        assert "<route not accepted: Conflicted>" in row, row
    finally:
        assert server.stop() == 0


def test_apply_wait_and_describe_events(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import EXAMPLE, Server
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [])
    env = dict(os.environ, OFN_STATE_DIR=str(state))

    def ofn(*args):
        return subprocess.run([ofn_bin, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        r = ofn("apply", "-f", str(EXAMPLE / "host-based.yaml"), "--wait")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["Function default/hello applied (generation 1)", "Function default/hello ready"]
        broken = tmp_path / "broken.yaml"
        broken.write_text((EXAMPLE / "host-based.yaml").read_text().replace("hello-world", "nosuchlib").replace(
            "  name: hello\n", "  name: broken\n"))
        r = ofn("apply", "-f", str(broken), "--wait", "--timeout", "10")
        assert r.returncode == 1 and "NoBackend" in r.stderr and "nosuchlib.so" in r.stderr, r.stderr
        r = ofn("describe", "function", "hello")
        events = r.stdout.split("Events:\n", 1)[1].split("Revisions:", 1)[0].splitlines()
        assert [e.split()[1] for e in events][:1] == ["ADDED"], events
        assert events[-1].split()[-1] == "Running", events
    finally:
        assert server.stop() == 0


def test_a_relative_working_dir_is_taken_from_the_manifests_directory(ofn_bin, tmp_path):
    import pathlib as _pathlib
    import sys as _sys
    _sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))
    from test_serve import Server
    app = tmp_path / "app"
    (app / "site").mkdir(parents=True)
    (app / "site" / "index.html").write_text("served from site\n")
    (app / "fn.yaml").write_text(
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: static\nspec:\n"
        "  image: example/static:v1\n  serving:\n    triggers:\n      http:\n        port: 8080\n"
        "    template:\n      containers:\n      - name: function\n"
        "        command: [sh, -c, exec python3 -m http.server --bind 127.0.0.1 $PORT]\n"
        "        workingDir: site\n")
    state = tmp_path / "state"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = Server(ofn_bin, state, [])
    env = dict(os.environ, OFN_STATE_DIR=str(state))

    def ofn(*args):
        # Run from another directory than the file's and the server's.
        return subprocess.run([ofn_bin, *args], capture_output=True, text=True, env=env, cwd=str(elsewhere),
                              timeout=60)
    try:
        r = ofn("apply", "-f", os.path.relpath(app / "fn.yaml", elsewhere), "--wait", "--timeout", "30")
        assert r.returncode == 0, r.stdout + r.stderr
        r = ofn("invoke", "static")
        assert r.returncode == 0 and r.stdout == "served from site\n", r.stdout + r.stderr
        r = ofn("get", "function", "static", "-o", "jsonpath={.metadata.annotations.ofn\\.io/base-dir}")
        assert r.stdout.strip() == str(app), r.stdout + r.stderr
        r = ofn("get", "function", "static", "-o", "jsonpath={.metadata.annotations['ofn.io/base-dir']}")
        assert r.stdout.strip() == str(app), r.stdout + r.stderr
        # The same text again: unchanged, the recorded place included.
        r = ofn("apply", "-f", str(app / "fn.yaml"))
        assert r.stdout.strip() == "Function default/static unchanged", r.stdout + r.stderr
    finally:
        assert server.stop() == 0
