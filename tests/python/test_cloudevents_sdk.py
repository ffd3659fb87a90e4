"""CloudEvents 1.0 with a real client: the `cloudevents` SDK from the npm
registry (tests/sdk, installed by scripts/setup.sh) sends events in binary and
structured mode to a C++ in-process function and to a Python process function
through `ofn serve`; every event arrives as sent, and the events the Python
function answers with decode in the SDK."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import BUILD, Server, wait_until  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SDK = ROOT / "tests" / "sdk"


def test_the_sdk_round_trips_through_both_runtimes(ofn_bin, tmp_path):
    if not (SDK / "node_modules" / "cloudevents" / "package.json").exists():
        pytest.fail("the CloudEvents SDK is not installed in tests/sdk (run scripts/setup.sh)")
    server = Server(ofn_bin, tmp_path / "state", [ROOT / "tests" / "data" / "events" / "functions.yaml"],
                    extra=["--lib-dir", str(BUILD / "tests")], cwd=str(ROOT))
    try:
        assert wait_until(lambda: server.get("http://ce-last.default.ofn.io/")[0] == 200, 30)
        r = subprocess.run(["node", str(SDK / "ce_sdk.mjs"), "http://127.0.0.1:%d" % server.port],
                           capture_output=True, text=True, timeout=120, cwd=str(SDK))
        assert r.returncode == 0, r.stderr
        results = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        assert len(results) == 2 * 2 * 6, r.stdout
        failed = [x for x in results if not x["ok"]]
        assert not failed, "\n".join("%(target)s %(mode)s %(case)s: %(detail)s" % x for x in failed)
    finally:
        assert server.stop() == 0


# Hand-made cases from the spec's MUST and MUST NOT statements, against both
# runtimes through the gateway: (section, headers, body, expected status, text in the error).
BASE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
CASES = [
    ("http 3.1.3.2 percent-decoding", dict(BASE, **{"ce-subject": "Euro%20%E2%82%AC"}), b"", 200, ""),
    ("http 3.1.3.2 invalid UTF-8 refused", dict(BASE, **{"ce-subject": "%FF"}), b"", 400, "UTF-8"),
    ("core 3.1.4 attribute names", dict(BASE, **{"ce-my_ext": "v"}), b"", 400, "ce-my_ext"),
    ("json 3.1 data and data_base64 exclusive", STRUCTURED,
     b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}', 400, "data_base64"),
    ("json 2.2 null is unset", STRUCTURED, b'{"specversion":"1.0","id":null,"source":"/s","type":"t"}', 400, "id"),
    ("core 3.1 id is a string", STRUCTURED, b'{"specversion":"1.0","id":42,"source":"/s","type":"t"}', 400, "id"),
    ("http 3.1 media types are case-insensitive", {"Content-Type": "Application/CloudEvents+JSON"},
     b'{"specversion":"1.0","id":"1","source":"/s","type":"t"}', 200, ""),
    ("http 3.3 batched mode refused, saying so", {"Content-Type": "application/cloudevents-batch+json"}, b"[]", 415,
     "batched"),
    ("json object extensions refused", STRUCTURED,
     b'{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":{"a":1}}', 400, "ext"),
]


def test_spec_cases_in_both_runtimes(ofn_bin, tmp_path):
    server = Server(ofn_bin, tmp_path / "state", [ROOT / "tests" / "data" / "events" / "functions.yaml"],
                    extra=["--lib-dir", str(BUILD / "tests")], cwd=str(ROOT))
    try:
        assert wait_until(lambda: server.get("http://ce-last.default.ofn.io/")[0] == 200, 30)
        for host in ("ce-cpp.default.ofn.io", "ce-py.default.ofn.io"):
            for section, headers, body, status, text in CASES:
                code, answer = server.get("http://%s/" % host, headers=headers, data=body)
                assert code == status, (host, section, code, answer)
                assert text.lower() in answer.lower(), (host, section, answer)
    finally:
        assert server.stop() == 0
