"""HTTPS on the gateway through `ofn serve`: a certificate from a Gateway's
HTTPS listener (a kubernetes.io/tls Secret) and one from files, chosen by
SNI; the Gateway's status when a Secret is bad; a renewed certificate file
served without a restart; plain HTTP redirected with 308. Certificates are
made here with openssl."""
import base64
import http.client
import json
import pathlib
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_serve import Server, cli, wait_until  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "https"
HOST = "hello.default.example.com"


def make_cert(directory, name, host):
    crt, key = directory / (name + ".crt"), directory / (name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=" + host, "-addext", "subjectAltName=DNS:" + host,
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt, key


def secret_yaml(name, crt, key):
    b64 = lambda p: base64.b64encode(pathlib.Path(p).read_bytes()).decode()  # noqa: E731
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: openfunction\n"
            "type: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n" % (name, b64(crt), b64(key)))


def same_cert(pem_a, pem_b):
    return ssl.PEM_cert_to_DER_cert(pem_a) == ssl.PEM_cert_to_DER_cert(pem_b)


def tls_get(port, sni, path="/"):
    """GET over TLS asking for `sni`: (the certificate served as PEM, the raw response)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            pem = ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True))
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, sni)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    return pem, data.decode(errors="replace")


def https_listener(ofn_bin, state):
    gw = json.loads(cli(ofn_bin, state, "get", "gateway", "openfunction", "-n", "openfunction", "-o", "json").stdout)
    for listener in gw.get("status", {}).get("listeners", []):
        if listener["name"] == "ofn-https-external":
            return listener["conditions"][0]
    return {}


def test_https_with_sni_secrets_files_reload_and_redirect(ofn_bin, tmp_path):
    secret_crt, secret_key = make_cert(tmp_path, "secret", "*.example.com")
    file_crt, file_key = make_cert(tmp_path, "files", "files.test")
    (tmp_path / "secret.yaml").write_text(secret_yaml("example-com-tls", secret_crt, secret_key))
    state = tmp_path / "state"
    server = Server(ofn_bin, state, [EXAMPLE / "gateway.yaml", tmp_path / "secret.yaml"],
                    extra=["--https-listen", "127.0.0.1:0", "--tls-cert", "%s,%s" % (file_crt, file_key),
                           "--https-redirect"])
    try:
        assert server.https_port, server.lines
        # The listener's Secret serves *.example.com; the file serves its own name.
        pem, resp = tls_get(server.https_port, HOST)
        assert same_cert(pem, secret_crt.read_text())
        assert resp.startswith("HTTP/1.1 200") and "Hello, World!" in resp, resp
        pem, _ = tls_get(server.https_port, "files.test")
        assert same_cert(pem, file_crt.read_text())
        assert https_listener(ofn_bin, state).get("status") == "True"

        # Plain HTTP is sent to HTTPS with the method kept (308).
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/path?q=1", body=b"x", headers={"Host": HOST})
        r = conn.getresponse()
        assert r.status == 308
        assert r.getheader("Location") == "https://%s:%d/path?q=1" % (HOST, server.https_port)
        conn.close()

        # A Secret whose key does not match: the listener says so, the
        # name falls back to the default certificate, nothing else breaks.
        other_crt, other_key = make_cert(tmp_path, "other", "*.example.com")
        (tmp_path / "bad.yaml").write_text(secret_yaml("example-com-tls", secret_crt, other_key))
        cli(ofn_bin, state, "apply", "-f", str(tmp_path / "bad.yaml"))
        assert wait_until(lambda: https_listener(ofn_bin, state).get("reason") == "InvalidCertificateRef")
        cond = https_listener(ofn_bin, state)
        assert cond["status"] == "False" and "Secret openfunction/example-com-tls" in cond["message"], cond
        pem, resp = tls_get(server.https_port, HOST)
        assert same_cert(pem, file_crt.read_text()) and "Hello, World!" in resp
        # Fixed: served again.
        (tmp_path / "good.yaml").write_text(secret_yaml("example-com-tls", other_crt, other_key))
        cli(ofn_bin, state, "apply", "-f", str(tmp_path / "good.yaml"))
        assert wait_until(lambda: same_cert(tls_get(server.https_port, HOST)[0], other_crt.read_text()))
        assert wait_until(lambda: https_listener(ofn_bin, state).get("status") == "True")

        # A renewed certificate file is served without a restart.
        old = file_crt.read_text()
        make_cert(tmp_path, "files", "files.test")
        assert not same_cert(old, file_crt.read_text())
        assert wait_until(lambda: same_cert(tls_get(server.https_port, "files.test")[0], file_crt.read_text()))
    finally:
        if server.proc.poll() is None:
            assert server.stop() == 0


def test_a_bad_certificate_file_stops_ofn_serve_with_the_file_named(ofn_bin, tmp_path):
    crt, _ = make_cert(tmp_path, "a", "a.test")
    _, other_key = make_cert(tmp_path, "b", "b.test")
    r = subprocess.run([ofn_bin, "serve", "--state-dir", str(tmp_path / "s"), "--listen", "127.0.0.1:0",
                        "--https-listen", "127.0.0.1:0", "--tls-cert", "%s,%s" % (crt, other_key)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert str(crt) in r.stderr and "does not match" in r.stderr, r.stderr
    r = subprocess.run([ofn_bin, "serve", "--state-dir", str(tmp_path / "s"), "--tls-cert", "%s,%s" % (crt, other_key)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--https-listen" in r.stderr, r.stderr
