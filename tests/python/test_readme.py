"""The README's commands, run as printed.

`bash scripts/serve.sh` binds 127.0.0.1:8080 and keeps its state in ./.ofn, as
the README says. So that the test can run them unchanged on a machine where
that port or that directory are in use, it runs them in a private network
namespace (its own loopback) with a private tmpfs over .ofn: root only.
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block_after(marker):
    """The indented command lines of the code block after the line holding `marker`."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    block = []
    for line in lines[start + 1:]:
        if not line.strip():
            if block:
                break
            continue
        if not line.startswith("      "):
            break
        block.append(line.strip())
    assert block, "no code block after %r in README.md" % marker
    return block


def _status_check(command):
    """A curl line as printed, with what makes its HTTP status visible appended."""
    command = command.split("   #", 1)[0].rstrip()
    if command.startswith("curl "):
        return command + " -sS -o /dev/null -w '%{http_code}\\n'"
    return command


SCRIPT = r"""
set -u
ip link set lo up
mkdir -p .ofn
mount -t tmpfs -o mode=700 tmpfs .ofn
log=$(mktemp)
{serve} >"$log" 2>&1 &
serve=$!
for _ in $(seq 1 600); do grep -q '^ready' "$log" && break; kill -0 $serve 2>/dev/null || break; sleep 0.2; done
echo "== serve"
cat "$log"
{commands}
kill -TERM $serve
wait $serve
echo "== exit $?"
"""


def _run(serve, commands):
    body = ""
    for i, c in enumerate(commands):
        body += "echo '== command %d'\n%s\necho \"== rc $?\"\n" % (i, c)
    script = SCRIPT.replace("{serve}", serve).replace("{commands}", body)
    r = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "bash", "-c", script],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    parts = re.split(r"^== ", r.stdout, flags=re.M)
    serve_out = next(p for p in parts if p.startswith("serve\n"))
    results = []
    for p in parts:
        m = re.match(r"command (\d+)\n(.*)", p, re.S)
        if m:
            results.append(m.group(2))
    rcs = [int(x) for x in re.findall(r"^== rc (\d+)$", r.stdout, re.M)]
    return r, serve_out, list(zip(results, rcs))


def _assert_ran(commands, results):
    """Every command exited 0 and every curl line got 200."""
    assert len(results) == len(commands), (commands, results)
    for command, (out, rc) in zip(commands, results):
        assert rc == 0, "%s\n%s" % (command, out)
        if command.startswith("curl "):
            assert out.strip().splitlines()[-1] == "200", "%s\n%s" % (command, out)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
                                reason="runs the README in a private network namespace: root, unshare and ip")
needs_default_build = pytest.mark.skipif(
    pathlib.Path(os.environ.get("OFN_BUILD_ROOT", ROOT / "build")).resolve() != (ROOT / "build").resolve(),
    reason="the README's commands use ./build")


@needs_root
@needs_default_build
def test_the_main_job_and_the_commands_shown_with_it_work_as_printed():
    commands = _block_after("With `bash scripts/serve.sh` running:")
    r, serve_out, results = _run("bash scripts/serve.sh", [_status_check(c) for c in commands])
    assert "ready" in serve_out, r.stdout + r.stderr
    # Every curl line serve.sh prints for a function works as printed too.
    printed = [line.split("try:", 1)[1].strip() for line in serve_out.splitlines() if line.strip().startswith("try:")]
    assert printed, serve_out
    r2, _, printed_results = _run("bash scripts/serve.sh", [_status_check(c) for c in printed])
    assert len(results) == len(commands), r.stdout + r.stderr
    _assert_ran(commands, results)
    _assert_ran(printed, printed_results)
    assert "== exit 0" in r.stdout, r.stdout + r.stderr


@needs_root
@needs_default_build
def test_the_process_examples_work_as_printed():
    block = _block_after("valid OpenFunction Function. Two examples, run from the repository root:")
    serve, rest = block[0], block[1:]
    assert serve.startswith("./build/libofn/ofn serve ")
    # `logs -f` follows until stopped: run it for a moment, as a reader would.
    commands = [("timeout 2 " + c + "; [ $? -eq 124 ]") if c.endswith(" -f") else _status_check(c) for c in rest]
    r, serve_out, results = _run(serve, commands)
    assert "ready" in serve_out, r.stdout + r.stderr
    assert len(results) == len(rest), r.stdout + r.stderr
    _assert_ran(rest, results)
    assert "== exit 0" in r.stdout, r.stdout + r.stderr


@needs_root
@needs_default_build
def test_the_async_example_works_as_printed():
    block = _block_after("and an HTTP reader:")
    serve, rest = block[0], block[1:]
    assert serve.startswith("./build/libofn/ofn serve ")
    r, serve_out, results = _run(serve, [_status_check(c) for c in rest])
    assert "ready" in serve_out, r.stdout + r.stderr
    assert len(results) == len(rest), r.stdout + r.stderr
    _assert_ran(rest, results)
    assert "== exit 0" in r.stdout, r.stdout + r.stderr


@needs_root
@needs_default_build
def test_the_gateway_plugin_and_https_sessions_work_as_printed():
    block = _block_after("the article's session:")
    serve, rest = block[0], block[1:]
    r, serve_out, results = _run(serve, [_status_check(c) for c in rest])
    assert "ready" in serve_out and len(results) == len(rest), r.stdout + r.stderr
    _assert_ran(rest, results)
    # The HTTPS block makes its Secret first, then serves.
    block = _block_after("listener and `tls-secret.sh` makes its Secret:")
    serve, rest = block[0] + "; " + block[1], block[2:]
    r, serve_out, results = _run(serve, [_status_check(c) for c in rest])
    assert "ready" in serve_out and len(results) == len(rest), r.stdout + r.stderr
    _assert_ran(rest, results)


@needs_root
@needs_default_build
def test_the_build_from_git_example_works_as_printed():
    block = _block_after("the repository the script makes, as git's `insteadOf` does):")
    # The script makes the repository first, then the platform serves.
    serve, rest = block[0] + " >/dev/null; " + block[1], block[2:]
    assert block[1].startswith("./build/libofn/ofn serve ")
    r, serve_out, results = _run(serve, [_status_check(c) for c in rest])
    assert "ready" in serve_out and len(results) == len(rest), r.stdout + r.stderr
    assert "hello-git: Running" in serve_out and "greet-git: Running" in serve_out, serve_out
    _assert_ran(rest, results)
    builds = next(out for c, (out, _) in zip(rest, results) if c.endswith("get builds"))
    assert "hello-git-build-00001" in builds and "Succeeded" in builds, builds
    assert "== exit 0" in r.stdout, r.stdout + r.stderr


@needs_root
@needs_default_build
def test_the_metrics_line_works_with_the_main_job():
    commands = _block_after("the Prometheus text format:")
    assert commands == ["curl --unix-socket .ofn/admin.sock http://ofn/metrics"], commands
    r, serve_out, results = _run("bash scripts/serve.sh", commands)
    assert "ready" in serve_out, r.stdout + r.stderr
    out, rc = results[0]
    assert rc == 0 and 'ofn_revision_ready_instances{namespace="default",function="hello"' in out, out
