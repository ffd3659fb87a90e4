"""Serves one Python function over HTTP in a libofn process instance.

    python3 -m ofn.framework --target module:function --signature http|cloudevent|openfunction

Standard library only. Like OpenFunction's functions frameworks it reads the
port from $PORT (else FUNC_CONTEXT's "port", else 8080) and the function's
context (name, version, outputs) from $FUNC_CONTEXT.

Signatures:
  http          fn(request) -> response
  cloudevent    fn(event) -> None | response      (binary or structured mode)
  openfunction  fn(context, data) -> response     (context.send(data, output))

A response is a str, bytes, a dict/list (sent as JSON), None (empty 200), a
Response, or a tuple (body, status) / (body, status, headers). A function
that raises gives a 500 with the error; the process keeps serving.
"""

import argparse
import base64
import importlib
import json
import os
import signal
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURES = ("http", "cloudevent", "openfunction")

if __name__ == "__main__":
    # Run as `python3 -m ofn.framework`: functions that import ofn.framework
    # must get this module (and its Response class), not a second copy.
    sys.modules.setdefault("ofn.framework", sys.modules[__name__])


class Request:
    """An HTTP request as the function sees it."""

    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query_string = split.query
        self.args = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        self.headers = headers  # email.message.Message: case-insensitive get()
        self.data = body

    def get_data(self, as_text=False):
        return self.data.decode("utf-8", "replace") if as_text else self.data

    def get_json(self):
        return json.loads(self.data or b"null")


class Response:
    def __init__(self, body=b"", status=200, headers=None):
        self.body = body
        self.status = status
        self.headers = dict(headers or {})


class CloudEvent(dict):
    """CloudEvents 1.0 attributes as a dict, plus .data."""

    def __init__(self, attributes, data):
        super().__init__(attributes)
        self.data = data

    @property
    def id(self):
        return self.get("id")

    @property
    def type(self):
        return self.get("type")

    @property
    def source(self):
        return self.get("source")


class BadRequest(Exception):
    pass


REQUIRED_CE = ("id", "source", "type", "specversion")


def parse_cloudevent(req):
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/cloudevents+json":
        try:
            doc = json.loads(req.data or b"{}")
        except ValueError as e:
            raise BadRequest("structured CloudEvent is not JSON: %s" % e)
        if not isinstance(doc, dict):
            raise BadRequest("structured CloudEvent must be a JSON object")
        if "data_base64" in doc:
            data = base64.b64decode(doc.pop("data_base64"))
        else:
            data = doc.pop("data", None)
        attrs = doc
    else:
        attrs = {}
        for name, value in req.headers.items():
            if name.lower().startswith("ce-"):
                attrs[name[3:].lower()] = value
        if ctype:
            attrs["datacontenttype"] = req.headers.get("Content-Type")
        data = req.data
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                data = json.loads(req.data or b"null")
            except ValueError as e:
                raise BadRequest("event data is not JSON: %s" % e)
    missing = [a for a in REQUIRED_CE if not attrs.get(a)]
    if missing:
        raise BadRequest("not a CloudEvent: missing %s" % ", ".join("ce-" + m for m in missing))
    if attrs.get("specversion") != "1.0":
        raise BadRequest("unsupported CloudEvents specversion %r" % attrs.get("specversion"))
    return CloudEvent(attrs, data)


class Context:
    """OpenFunction's function context: name, version, outputs, send()."""

    def __init__(self, raw):
        self.raw = raw
        self.name = raw.get("name", "")
        self.version = raw.get("version", "")
        self.outputs = raw.get("outputs") or {}
        self.sent = []  # (output, data) pairs, in order
        self.lock = threading.Lock()

    def send(self, data, output):
        if output not in self.outputs:
            raise KeyError("output %r is not declared in spec.serving.outputs (have: %s)"
                           % (output, ", ".join(sorted(self.outputs)) or "none"))
        with self.lock:
            self.sent.append((output, data))
        sys.stderr.write("ofn.framework: output %s <- %d byte(s)\n" % (output, len(_to_bytes(data)[0])))
        return True


def _to_bytes(body):
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), "application/json"


def to_response(result):
    if isinstance(result, Response):
        body, ctype = _to_bytes(result.body)
        headers = dict(result.headers)
        if ctype and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = ctype
        return result.status, headers, body
    status, headers = 200, {}
    if isinstance(result, tuple):
        if len(result) == 3:
            result, status, headers = result
        elif len(result) == 2:
            result, status = result
        headers = dict(headers or {})
    body, ctype = _to_bytes(result)
    if ctype and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = ctype
    return int(status), headers, body


def load_target(target):
    if ":" not in target:
        raise SystemExit("--target must be module:function, got %r" % target)
    module_name, func_name = target.split(":", 1)
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise SystemExit("%s has no function %r" % (module_name, func_name))
    return fn


def error_response(status, message):
    return status, {"Content-Type": "application/json"}, json.dumps(
        {"error": {"code": status, "message": message}}).encode()


def dispatch(fn, signature, context, req):
    """Calls `fn` with `req` as its signature wants it; (status, headers, body).
    A function that raises answers 500 naming the exception; a request its
    signature cannot take, 400."""
    try:
        if signature == "http":
            result = fn(req)
        elif signature == "cloudevent":
            result = fn(parse_cloudevent(req))
        else:
            data = req.data
            ctype = (req.headers.get("Content-Type") or "").lower()
            if "json" in ctype:
                data = json.loads(data or b"null")
            result = fn(context, data)
    except BadRequest as e:
        return error_response(400, str(e))
    except Exception as e:  # the function's own failure
        traceback.print_exc()
        return error_response(500, "function failed: %s: %s" % (type(e).__name__, e))
    try:
        return to_response(result)
    except (TypeError, ValueError) as e:
        return error_response(500, "function returned something that is not a response: %s" % e)


def make_handler(fn, signature, context):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ofn-python"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

        def _read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status, headers, body):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status, message):
            self._send(*error_response(status, message))

        def _serve(self):
            try:
                body = self._read_body()
            except (ValueError, OSError) as e:
                self.close_connection = True
                return self._error(400, "bad request body: %s" % e)
            self._send(*dispatch(fn, signature, context, Request(self.command, self.path, self.headers, body)))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m ofn.framework", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="module:function to serve")
    parser.add_argument("--signature", default="http", choices=SIGNATURES)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    try:
        raw_context = json.loads(os.environ.get("FUNC_CONTEXT") or "{}")
    except ValueError as e:
        raise SystemExit("FUNC_CONTEXT is not JSON: %s" % e)
    port = int(os.environ.get("PORT") or raw_context.get("port") or 8080)
    fn = load_target(args.target)
    server = ThreadingHTTPServer((args.host, port), make_handler(fn, args.signature, Context(raw_context)))
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("ofn.framework: serving %s (%s) on %s:%d\n" % (args.target, args.signature, args.host, port))
    sys.stderr.flush()
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
