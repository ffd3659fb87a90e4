"""Seed 002 through `ofn serve`: two Functions, hello-v1 and hello-v2, and
one route (hello-v1's) that sends hello-app's traffic 100/0, then 50/50
(exactly, over 100 calls), then by header: x-version: v2 to v2 only."""
import collections
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import Server, cli, wait_until  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "traffic-across-functions"
APP = "http://hello-app.default.ofn.io/"


@pytest.fixture
def served(ofn_bin, tmp_path):
    s = Server(ofn_bin, tmp_path / "state", [EXAMPLE / "hello-v2.yaml", EXAMPLE / "hello-v1.yaml"], cwd=str(ROOT))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def message(server, headers=None):
    code, body = server.get(APP, headers=headers)
    assert code == 200, body
    return json.loads(body)["message"]


def settle(ofn_bin, state, generation):
    """Until hello-v1's spec of `generation` serves (its newest revision ready)."""
    def done():
        obj = json.loads(cli(ofn_bin, state, "get", "function", "hello-v1", "-o", "json").stdout)
        st = obj.get("status", {}).get("serving", {})
        return (obj["metadata"]["generation"] == generation and st.get("state") == "Running"
                and st.get("resourceRef") == st.get("lastSuccessfulResourceRef") and not st.get("reason"))
    assert wait_until(done, 60), cli(ofn_bin, state, "get", "function", "hello-v1", "-o", "yaml").stdout
    cli(ofn_bin, state, "get", "functions")  # one more round trip: the reconciler is quiet again


def test_seed_002_weights_then_headers(ofn_bin, served, tmp_path, shared_dir):
    state = tmp_path / "state"
    assert wait_until(lambda: served.get(APP)[0] == 200, 60), served.get(APP)
    settle(ofn_bin, state, 1)
    # Weight 100 to v1, 0 to v2.
    assert collections.Counter(message(served) for _ in range(100)) == {"Hello V1": 100}
    status = json.loads(cli(ofn_bin, state, "get", "function", "hello-v1", "-o", "json").stdout)["status"]
    conditions = {c["type"]: c for c in status["route"]["conditions"]}
    assert conditions["Accepted"]["status"] == "True"
    assert conditions["ResolvedRefs"]["status"] == "True", conditions
    # The status with its ResolvedRefs condition is a valid Function.
    out = tmp_path / "hello-v1.yaml"
    out.write_text(cli(ofn_bin, state, "get", "function", "hello-v1", "-o", "yaml").stdout)
    import subprocess
    check = subprocess.run([sys.executable, str(shared_dir / "k8s-crds" / "validate.py"), "--strict-kinds", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # 50/50: exactly 50 each over 100 calls.
    cli(ofn_bin, state, "apply", "-f", str(EXAMPLE / "hello-v1-50-50.yaml"))
    settle(ofn_bin, state, 2)
    described = cli(ofn_bin, state, "describe", "function", "hello-v1").stdout
    assert "Rule 0:    PathPrefix / -> hello-v1 (weight 50, 50%), hello-v2 (weight 50, 50%)" in described, described
    assert wait_until(lambda: message(served) == "Hello V2", 30)
    counts = collections.Counter(message(served) for _ in range(100))
    assert counts == {"Hello V1": 50, "Hello V2": 50}, counts
    # By header: x-version: v2 reaches v2 only; everyone else v1.
    cli(ofn_bin, state, "apply", "-f", str(EXAMPLE / "hello-v1-by-header.yaml"))
    settle(ofn_bin, state, 3)
    assert wait_until(lambda: [message(served) for _ in range(4)] == ["Hello V1"] * 4, 30)
    assert collections.Counter(message(served, {"x-version": "v2"}) for _ in range(50)) == {"Hello V2": 50}
    assert collections.Counter(message(served) for _ in range(50)) == {"Hello V1": 50}
    # hello-v2 keeps its own address too.
    code, body = served.get("http://hello-v2.default.ofn.io/")
    assert code == 200 and json.loads(body)["message"] == "Hello V2"


def test_the_split_as_an_httproute_object(ofn_bin, served, tmp_path, shared_dir):
    import subprocess
    state = tmp_path / "state"
    assert wait_until(lambda: served.get(APP)[0] == 200, 60), served.get(APP)
    cli(ofn_bin, state, "apply", "-f", str(EXAMPLE / "hello-app-route.yaml"))
    route = "http://hello-app.ofn.io/"

    def counts():
        out = collections.Counter()
        for _ in range(100):
            code, body = served.get(route)
            out[json.loads(body)["message"] if code == 200 else code] += 1
        return out
    assert wait_until(lambda: served.get(route)[0] == 200, 30)
    assert counts() == {"Hello V1": 90, "Hello V2": 10}
    table = cli(ofn_bin, state, "get", "httproutes").stdout
    assert "hello-app" in table and "hello-app.ofn.io" in table and "1/1" in table, table
    described = cli(ofn_bin, state, "describe", "httproute", "hello-app").stdout
    assert "-> hello-v1 (weight 90, 90%), hello-v2 (weight 10, 10%)" in described, described
    assert "Accepted=True" in described and "ResolvedRefs=True" in described, described
    out = tmp_path / "route.yaml"
    out.write_text(cli(ofn_bin, state, "get", "httproute", "hello-app", "-o", "yaml").stdout)
    check = subprocess.run([sys.executable, str(shared_dir / "k8s-crds" / "validate.py"), "--strict-kinds", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    cli(ofn_bin, state, "delete", "httproute", "hello-app")
    assert wait_until(lambda: served.get(route)[0] == 404, 30)
