"""Dapr's own JavaScript client (npm @dapr/dapr, HTTP mode), unchanged, in a
process Function: it saves and reads state and publishes through the Dapr
API libofn serves; a Python subscriber relays the message into a shared
store the Node app reads back."""
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import ROOT, Server, wait_until  # noqa: E402

SDK = ROOT / "tests" / "sdk"


def test_the_dapr_javascript_client_works_unchanged(ofn_bin, tmp_path):
    if not (SDK / "node_modules" / "@dapr" / "dapr" / "package.json").exists():
        pytest.fail("@dapr/dapr is not installed in tests/sdk (run scripts/setup.sh)")
    (tmp_path / "relay.py").write_text(
        "def relay(ctx, data):\n    ctx.state_save('shared', 'relayed', data)\n    return ''\n")
    manifest = tmp_path / "dapr.yaml"
    manifest.write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: store}\n"
        "spec: {type: state.in-memory, version: v1, metadata: []}\n---\n"
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: shared}\n"
        "spec: {type: state.in-memory, version: v1, metadata: [{name: keyPrefix, value: name}]}\n---\n"
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: bus}\n"
        "spec: {type: pubsub.in-memory, version: v1, metadata: []}\n---\n"
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata: {name: dapr-node}\nspec:\n"
        "  image: ofn.local/dapr-node:latest\n  serving:\n    triggers: {http: {port: 8080}}\n"
        "    template:\n      containers:\n        - name: function\n          command: [node, dapr_app.mjs]\n"
        "          workingDir: %s\n---\n"
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata: {name: relay}\nspec:\n"
        "  image: ofn.local/relay:latest\n  serving:\n    triggers: {dapr: [{name: bus, topic: greetings}]}\n"
        "    template:\n      containers:\n        - name: function\n"
        "          command: [python3, -m, ofn.framework]\n"
        "          args: [--target, 'relay:relay', --signature, openfunction]\n          workingDir: .\n"
        "          env: [{name: PYTHONPATH, value: '%s'}]\n" % (SDK, ROOT / "bindings" / "python"))
    s = Server(ofn_bin, tmp_path / "state", [manifest])
    try:
        status, body = s.get("http://dapr-node.default.ofn.io/save")
        assert status == 200, body
        assert json.loads(body) == {"saved": {"text": "hello from node"}}
        got = {}

        def relayed():
            status, body = s.get("http://dapr-node.default.ofn.io/read")
            got.update(json.loads(body) if status == 200 else {"error": body})
            # A key not saved yet reads as "" (Dapr's 204), not as None.
            return got.get("relayed") not in (None, "")

        assert wait_until(relayed, 20), got
        assert got["relayed"] == {"text": "published by node"}
    finally:
        assert s.stop() == 0
