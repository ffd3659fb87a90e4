"""libofn's Node.js functions framework (bindings/node/index.js) run as the
node strategy's bundles run it: FUNC_SOURCE, FUNC_NAME, FUNC_SIGNATURE_TYPE
and PORT in the environment; each signature, errors, and a missing export."""
import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from test_process import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAMEWORK = ROOT / "bindings" / "node" / "index.js"

pytestmark = pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")

SOURCE = r"""
exports.hello = (req, res) => {
  res.set('X-Who', req.query.name || 'nobody').status(202).send('hi ' + req.path + ' ' + req.get('x-test'));
};
exports.echo = async (req, res) => res.json({method: req.method, body: req.body});
exports.boom = () => { throw new Error('kaboom'); };
exports.nested = {inner: (req, res) => res.sendStatus(418)};
exports.onEvent = (event) => ({type: event.type, data: event.data});
exports.quiet = (event) => undefined;
exports.withContext = async (ctx, data) => ({name: ctx.name, got: data, outputs: Object.keys(ctx.outputs)});
"""


class Node:
    def __init__(self, tmp_path, name, signature="http", context=None):
        src = tmp_path / "src"
        src.mkdir(exist_ok=True)
        (src / "index.js").write_text(SOURCE)
        self.port = free_port()
        env = dict(os.environ, FUNC_SOURCE=str(src), FUNC_NAME=name, FUNC_SIGNATURE_TYPE=signature,
                   PORT=str(self.port), FUNC_CONTEXT=json.dumps(context or {"name": "fn"}))
        self.proc = subprocess.Popen(["node", str(FRAMEWORK)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read()
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/" % self.port, timeout=1)
                return
            except urllib.error.HTTPError:
                return  # up, answering
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the framework did not listen")

    def call(self, path="/", data=None, headers=None, method=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, headers=headers or {},
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=10)


def test_http_functions_answer_express_style(tmp_path):
    n = Node(tmp_path, "hello")
    try:
        status, headers, body = n.call("/a/b?name=ann", headers={"X-Test": "yes"})
        assert (status, body, headers.get("X-Who")) == (202, "hi /a/b yes", "ann")
    finally:
        assert n.stop() == 0  # SIGTERM ends it cleanly
    n = Node(tmp_path, "echo")
    try:
        status, headers, body = n.call("/", data=b'{"a": [1]}', headers={"Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"method": "POST", "body": {"a": [1]}}
        assert headers["Content-Type"].startswith("application/json")
        status, _, body = n.call("/", data=b"{not json", headers={"Content-Type": "application/json"})
        assert status == 400 and "not JSON" in body, body
    finally:
        n.stop()
    n = Node(tmp_path, "nested.inner")
    try:
        assert n.call("/")[0] == 418
    finally:
        n.stop()


def test_a_throwing_function_answers_500_and_the_process_keeps_serving(tmp_path):
    n = Node(tmp_path, "boom")
    try:
        for _ in range(2):
            status, _, body = n.call("/")
            assert status == 500 and "kaboom" in body, body
    finally:
        n.stop()


def test_cloudevents_in_binary_and_structured_mode(tmp_path):
    n = Node(tmp_path, "onEvent", signature="cloudevent")
    try:
        status, _, body = n.call("/", data=b'{"x": 1}', headers={
            "ce-id": "1", "ce-source": "test", "ce-type": "demo.event", "ce-specversion": "1.0",
            "Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"type": "demo.event", "data": {"x": 1}}
        event = {"id": "2", "source": "s", "type": "structured", "specversion": "1.0", "data": "text"}
        status, _, body = n.call("/", data=json.dumps(event).encode(),
                                 headers={"Content-Type": "application/cloudevents+json"})
        assert status == 200 and json.loads(body) == {"type": "structured", "data": "text"}
        status, _, body = n.call("/", data=b"x", headers={"Content-Type": "text/plain"})
        assert status == 400 and "ce-id" in body, body
    finally:
        n.stop()
    n = Node(tmp_path, "quiet", signature="event")  # OpenFunction's older name
    try:
        status, _, body = n.call("/", data=b"x", headers={"ce-id": "1", "ce-source": "s", "ce-type": "t",
                                                          "ce-specversion": "1.0"})
        assert (status, body) == (204, "")
    finally:
        n.stop()


def test_the_openfunction_signature_gets_the_context_and_the_data(tmp_path):
    context = {"name": "ctx-fn", "outputs": {"out": {"componentName": "out", "componentType": "bindings.cron"}}}
    n = Node(tmp_path, "withContext", signature="openfunction", context=context)
    try:
        status, _, body = n.call("/", data=b'{"k": "v"}', headers={"Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"name": "ctx-fn", "got": {"k": "v"}, "outputs": ["out"]}
    finally:
        n.stop()


def test_a_missing_export_ends_the_process_naming_what_there_is(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.js").write_text(SOURCE)
    env = dict(os.environ, FUNC_SOURCE=str(src), FUNC_NAME="nope", PORT=str(free_port()))
    r = subprocess.run(["node", str(FRAMEWORK)], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert 'exports no function "nope"' in r.stderr and "hello" in r.stderr, r.stderr
