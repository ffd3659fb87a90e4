"""ofn.Platform, the Python binding: every call and error path, Python
functions of each signature served in-process, the GIL under 32 concurrent
clients, the manual clock."""
import concurrent.futures
import http.client
import json
import pathlib
import threading

import pytest

import ofn
from ofn.framework import Response

ROOT = pathlib.Path(__file__).resolve().parents[2]


def function(name, func_name=None, extra="", namespace=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    serving = {"template": {"containers": [{"name": "function"}]}, "triggers": {"http": {"port": 8080}}}
    if func_name:
        serving["params"] = {"FUNC_NAME": func_name}
    doc = {"apiVersion": "core.openfunction.io/v1beta2", "kind": "Function", "metadata": meta,
           "spec": {"version": "v1.0.0", "image": "ofn.local/%s:latest" % name, "serving": serving}}
    if extra:
        doc["spec"].update(extra)
    return doc


@pytest.fixture
def platform(tmp_path):
    with ofn.Platform(state_dir=str(tmp_path / "state"), listen="127.0.0.1:0") as p:
        yield p


def test_the_package_imports_from_the_build_tree_with_its_stubs():
    pkg = pathlib.Path(ofn.__file__).parent
    assert (pkg / "_ofn.pyi").exists() and (pkg / "platform.pyi").exists() and (pkg / "py.typed").exists()
    assert list(pkg.glob("_ofn*.so")), sorted(p.name for p in pkg.iterdir())
    assert issubclass(ofn.ValidationError, ofn.Error) and issubclass(ofn.NotFound, ofn.Error)
    assert issubclass(ofn.Conflict, ofn.Error) and issubclass(ofn.Unavailable, ofn.Error)
    assert issubclass(ofn.Timeout, ofn.Error)


def test_http_functions_answer_in_every_return_form(platform):
    @platform.function("forms")
    def forms(request):
        kind = request.args.get("kind")
        if kind == "str":
            return "text"
        if kind == "bytes":
            return b"\x00\x01"
        if kind == "dict":
            return {"method": request.method, "path": request.path, "who": request.headers.get("x-who"),
                    "body": request.get_json()}
        if kind == "tuple":
            return "made", 201, {"X-Made": "yes"}
        if kind == "response":
            return Response(b"r", status=202, headers={"X-R": "1"})
        raise RuntimeError("no kind %r" % kind)

    platform.apply(function("forms"))
    platform.wait_ready("forms", timeout=10)
    r = platform.invoke("forms", path="/?kind=str")
    assert (r.status, r.text, r.headers.get("content-type")) == (200, "text", "text/plain; charset=utf-8")
    assert platform.invoke("forms", path="/?kind=bytes").body == b"\x00\x01"
    r = platform.invoke("forms", path="/p?kind=dict", method="POST", body={"a": 1}, headers={"X-Who": "py"})
    assert r.json() == {"method": "POST", "path": "/p", "who": "py", "body": {"a": 1}}
    r = platform.invoke("forms", path="/?kind=tuple")
    assert (r.status, r.text, r.headers["x-made"]) == (201, "made", "yes")
    r = platform.invoke("forms", path="/?kind=response")
    assert (r.status, r.body, r.headers.get("X-R")) == (202, b"r", "1")
    # A function that raises: 500 naming the exception; the platform serves on.
    r = platform.invoke("forms", path="/?kind=nope")
    assert r.status == 500 and "RuntimeError: no kind 'nope'" in r.json()["error"]["message"]
    assert platform.invoke("forms", path="/?kind=str").status == 200


def test_cloudevent_and_openfunction_signatures(platform):
    seen = []

    @platform.function("events", signature="cloudevent")
    def events(event):
        seen.append((event.id, event.type, event.source, event.data))
        return "ok"

    kept = []

    @platform.function("of", signature="openfunction")
    def of(context, data):
        kept.append(context)
        return {"name": context.name, "data": data, "sent": context.send(b"x", "nowhere")}

    platform.apply([function("events"), function("of")])
    platform.wait_ready("events", timeout=10)
    platform.wait_ready("of", timeout=10)
    r = platform.invoke("events", method="POST", body=b'{"v": 1}',
                        headers={"ce-id": "1", "ce-type": "t", "ce-source": "s", "ce-specversion": "1.0",
                                 "Content-Type": "application/json"})
    assert r.status == 200, r.text
    assert seen == [("1", "t", "s", {"v": 1})]
    r = platform.invoke("events", method="POST", body=b"x", headers={"ce-id": "2"})
    assert r.status == 400 and "missing" in r.text
    r = platform.invoke("of", method="POST", body={"k": "v"})
    assert r.status == 200, r.text
    assert r.json() == {"name": "of", "data": {"k": "v"}, "sent": False}  # no output named "nowhere"
    # The context lives only during the call.
    with pytest.raises(ofn.Error) as e:
        kept[0].name
    assert "only valid during" in str(e.value)


def test_apply_get_list_delete_and_their_errors(platform):
    applied = platform.apply("apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: a\n"
                             "spec:\n  version: v1\n  image: ofn.local/a:latest\n  serving:\n    triggers:\n"
                             "      http:\n        port: 8080\n", file="a.yaml")
    assert applied == [{"kind": "Function", "namespace": "default", "name": "a", "generation": 1}]
    assert platform.apply([function("b"), function("c", namespace="team")])[1]["namespace"] == "team"
    assert platform.get("a")["metadata"]["name"] == "a"
    assert platform.get("c", namespace="team")["metadata"]["namespace"] == "team"
    assert sorted(o["metadata"]["name"] for o in platform.list()) == ["a", "b", "c"]
    assert [o["metadata"]["name"] for o in platform.list(namespace="team")] == ["c"]
    # A bad manifest: every problem with its place; nothing stored.
    bad = "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: d\nspec:\n  version: v1\n" \
          "  serving:\n    triggers:\n      http:\n        port: 99999\n"
    with pytest.raises(ofn.ValidationError) as e:
        platform.apply([bad], file="bad.yaml")
    problem = [p for p in e.value.problems if p.path == "spec.serving.triggers.http.port"][0]
    assert (problem.file, problem.line, problem.path) == ("bad.yaml", 10, "spec.serving.triggers.http.port")
    assert problem.column > 0 and "99999" in problem.message
    assert e.value.code == "InvalidArgument"
    with pytest.raises(ofn.NotFound):
        platform.get("d")
    with pytest.raises(TypeError):
        platform.apply(42)
    platform.delete("a")
    with pytest.raises(ofn.NotFound):
        platform.delete("a")
    with pytest.raises(ofn.NotFound):
        platform.get("a")


def test_wait_ready_times_out_or_says_why(platform):
    slow = function("slow")
    # A process that never listens: not ready for a while, not failed yet.
    slow["spec"]["serving"]["template"]["containers"][0]["command"] = ["sleep", "30"]
    platform.apply(slow)
    with pytest.raises(ofn.Timeout):
        platform.wait_ready("slow", timeout=0.3)
    platform.delete("slow")
    @platform.function("lost")
    def f(request):
        return "x"

    lost = function("lost")
    lost["spec"]["serving"]["triggers"]["http"]["route"] = {"gatewayRef": {"name": "nosuch", "namespace": "x"}}
    platform.apply(lost)

    with pytest.raises(ofn.Error) as e:
        platform.wait_ready("lost", timeout=10)
    assert "GatewayNotFound" in str(e.value)
    stray = function("stray")
    stray["metadata"]["annotations"] = {"ofn.io/backend": "k8s"}  # no such backend
    platform.apply(stray)
    with pytest.raises(ofn.Error) as e:
        platform.wait_ready("stray", timeout=10)
    assert "NoBackend" in str(e.value) or "k8s" in str(e.value), str(e.value)


def test_revisions_traffic_split_watch_and_metrics(platform):
    @platform.function("split")
    def split(request):
        return "v"

    with platform.watch("Function", timeout=5) as events:
        platform.apply(function("split"))
        first = next(events)
        assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "split")
    platform.wait_ready("split", timeout=10)
    v2 = function("split")
    v2["spec"]["version"] = "v2.0.0"
    platform.apply(v2)
    platform.sync()
    v2["spec"]["traffic"] = [{"revisionName": "split-00001", "percent": 90},
                             {"revisionName": "split-00002", "percent": 10, "tag": "canary"}]
    platform.apply(v2)
    platform.sync()
    for _ in range(50):
        revs = platform.revisions("split")
        if [r["percent"] for r in revs] == [90, 10]:
            break
        platform.sync()
    assert [(r["name"], r["percent"]) for r in revs] == [("split-00001", 90), ("split-00002", 10)]
    assert revs[1]["tags"] == ["canary"] and revs[1]["object"]["kind"] == "Revision"
    assert 'revision="split-00001"' in platform.metrics()
    # A watch that sees nothing for its timeout ends.
    with platform.watch("Gateway", timeout=0.2) as quiet:
        assert list(quiet) == []


def test_thirty_two_concurrent_clients_through_the_gateway(platform):
    threads = set()

    @platform.function("busy")
    def busy(request):
        threads.add(threading.get_ident())
        return str(sum(range(20000)))  # Python work, holding the GIL

    platform.apply(function("busy"))
    platform.wait_ready("busy", timeout=10)
    host, port = platform.address.rsplit(":", 1)

    def client(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        codes = []
        for _ in range(10):
            conn.request("GET", "/?i=%d" % i, headers={"Host": "busy.default.ofn.io"})
            res = conn.getresponse()
            codes.append((res.status, res.read()))
        conn.close()
        # And the socket-less path from Python threads at the same time.
        codes.append((platform.invoke("busy").status, str(sum(range(20000))).encode()))
        return codes

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(client, range(32), timeout=120))
    expected = str(sum(range(20000))).encode()
    assert all(code == 200 and body == expected for codes in results for code, body in codes)
    assert len(threads) >= 2  # served from several platform threads, none holding the GIL between calls


def test_the_manual_clock_scales_to_zero_in_milliseconds(tmp_path):
    with ofn.Platform(state_dir=str(tmp_path / "s"), listen=None, manual_clock=True) as p:
        assert p.clock.manual and p.address == ""

        @p.function("idle")
        def idle(request):
            return "up"

        p.apply(function("idle"))
        p.wait_ready("idle", timeout=10)
        assert p.revisions("idle")[0]["ready_instances"] == 1
        start = p.clock.now()
        p.clock.advance(minutes=2)
        assert p.clock.now() - start == pytest.approx(120)
        assert p.revisions("idle")[0]["ready_instances"] == 0
        # The next request is a cold start.
        assert p.invoke("idle").text == "up"
        assert p.revisions("idle")[0]["cold_starts"] == 2
        with pytest.raises(ofn.Error):
            p.clock.advance(seconds=-1)
    with ofn.Platform(listen=None) as real:
        with pytest.raises(ofn.Error) as e:
            real.clock.advance(seconds=1)
        assert e.value.code == "FailedPrecondition"


def test_a_closed_platform_refuses_calls_and_a_second_one_on_the_same_state_dir_is_refused(tmp_path):
    p = ofn.Platform(state_dir=str(tmp_path / "s"), listen=None)
    with pytest.raises(ofn.Error) as e:
        ofn.Platform(state_dir=str(tmp_path / "s"), listen=None)
    assert "pid" in str(e.value)
    w = p.watch()
    p.close()
    p.close()  # idempotent
    assert list(w) == []  # the watch ended with the platform
    with pytest.raises(ofn.Error) as e:
        p.list()
    assert "closed" in str(e.value)
    with pytest.raises(ValueError):
        ofn.Platform(listen=None).function("x", signature="grpc")


def test_error_kinds_map_from_status_codes():
    from ofn import platform as pm
    cases = {"NotFound": ofn.NotFound, "Conflict": ofn.Conflict, "AlreadyExists": ofn.Conflict,
             "Unavailable": ofn.Unavailable, "DeadlineExceeded": ofn.Timeout, "InvalidArgument": ofn.ValidationError,
             "Internal": ofn.Error}
    for code, kind in cases.items():
        err = pm._error(pm._ofn.StatusError(code, "m", []))
        assert type(err) is kind and err.code == code and str(err) == "m"


def test_the_python_scripting_example_runs():
    import subprocess
    import sys
    env = dict(__import__("os").environ, PYTHONPATH=str(pathlib.Path(ofn.__file__).parent.parent))
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "python-scripting" / "script.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "hello v1: Hello, Ada!" in lines
    assert any(l.startswith("split over 200 requests: v1=") for l in lines), lines
    assert "scaled to zero after 120 s idle: True" in lines, lines
