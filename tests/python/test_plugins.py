"""Seed 004's curl sessions for the key-rate-limit and key-auth plugins,
replayed against `ofn serve` on examples/gateway-plugins: the WasmPlugin
manifests are the article's, unchanged."""
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import Server, cli, wait_until  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gateway-plugins"
HOST = "http://hello.default.example.com/"




def test_the_seed_sessions_through_ofn_serve(ofn_bin, tmp_path):
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "function.yaml", EXAMPLE / "key-rate-limit.yaml"])
    try:
        # 1. key-rate-limit: two requests pass, the third is limited.
        key = {"x-ca-key": "123456"}
        first = server.get(HOST, headers=key)
        second = server.get(HOST, headers=key)
        third = server.get(HOST, headers=key)
        assert first[0] == 200 and first[1].startswith("Hello, World!"), first
        assert second[0] == 200, second
        assert third == (429, "rate_limited"), third
        # Requests without the key are not limited.
        assert all(server.get(HOST)[0] == 200 for _ in range(3))

        # 2. key-auth, applied to the running platform.
        cli(ofn_bin, state, "apply", "-f", str(EXAMPLE / "key-auth.yaml"))
        assert wait_until(lambda: server.get(HOST)[0] == 401), "key-auth did not take effect"
        code, _ = server.get(HOST + "?apikey=2bda943c-ba2b-11ec-ba07-00163e1250b5")
        assert code == 403  # consumer1 is not allowed
        code, body = server.get(HOST + "?apikey=c8c8e9ca-558e-4a2d-bb62-e700dcc40e35")
        assert code == 200 and body.startswith("Hello, World!"), (code, body)
        # The plugins are stored: a restart keeps enforcing them.
        assert server.stop() == 0
        server = Server(ofn_bin, state, [])
        assert server.get(HOST)[0] == 401
        assert server.get(HOST + "?apikey=c8c8e9ca-558e-4a2d-bb62-e700dcc40e35")[0] == 200
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_an_unsupported_plugin_is_refused_at_apply(ofn_bin, tmp_path):
    bad = tmp_path / "waf.yaml"
    bad.write_text((EXAMPLE / "key-auth.yaml").read_text().replace("name: key-auth\n", "name: waf\n")
                   .replace("plugins/key-auth:1.0.0", "plugins/waf:1.0.0"))
    r = subprocess.run([ofn_bin, "validate", "-f", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "spec.url" in r.stdout + r.stderr and "key-auth and key-rate-limit" in r.stdout + r.stderr
