"""A web server in front of `git http-backend` (smart HTTP), with basic auth.

    python3 git_http.py PORT ROOT USER PASSWORD

Serves the repositories under ROOT on 127.0.0.1:PORT. Every request needs
`Authorization: Basic USER:PASSWORD`; without it, or with others, 401.
The tests start it and stop it (SIGTERM).
"""
import base64
import http.server
import os
import subprocess
import sys
import urllib.parse

PORT, ROOT, USER, PASSWORD = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
EXPECTED = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("git_http: " + (fmt % args) + "\n")

    def _reply(self, status, headers, body):
        # Head and body in one write, as web servers send small answers.
        self.log_request(status)
        head = "HTTP/1.1 %d %s\r\n" % (status, self.responses.get(status, ("",))[0])
        for name, value in headers + [("Content-Length", str(len(body)))]:
            head += "%s: %s\r\n" % (name, value)
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)
        self.wfile.flush()

    def _cgi(self):
        if self.headers.get("Authorization") != EXPECTED:
            # No body: libgit2 1.5 leaves a 401's body unread on a
            # kept-alive connection and takes it for the next answer.
            self._reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"")
            return
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(split.path),
            "QUERY_STRING": split.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers.get("Content-Encoding")
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers.get("Git-Protocol")
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self._reply(status, headers, payload)

    do_GET = _cgi
    do_POST = _cgi


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
