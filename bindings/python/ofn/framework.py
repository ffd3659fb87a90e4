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
import re
import signal
import sys
import threading
import traceback
import urllib.parse
import uuid
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
    """CloudEvents 1.0 attributes as a dict, plus .data. A function may also
    return one: it is answered as a CloudEvent in the mode it was called with
    (id and specversion are filled in when missing)."""

    def __init__(self, attributes, data=None):
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

    @property
    def subject(self):
        return self.get("subject")


class BadRequest(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


REQUIRED_CE = ("specversion", "id", "source", "type")
CONTEXT_CE = REQUIRED_CE + ("subject", "time", "datacontenttype", "dataschema")
_NAME = re.compile(r"^[a-z0-9]+$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def _is_json_type(content_type):
    t = _media_type(content_type)
    return t in ("", "application/json", "text/json") or t.endswith("+json")


def decode_header_value(raw):
    """A binary-mode header value (HTTP binding 3.1.3.2): un-quoted
    (RFC 7230 quoted-string), percent-decoded once, valid UTF-8."""
    raw = raw.strip(" \t")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out, i, inner = [], 0, raw[1:-1]
        while i < len(inner):
            if inner[i] == "\\":
                if i + 1 >= len(inner):
                    raise BadRequest("a quoted value ends in a lone backslash")
                i += 1
            elif inner[i] == '"':
                raise BadRequest("a quoted value holds an unescaped '\"'")
            out.append(inner[i])
            i += 1
        raw = "".join(out)
    data = bytearray()
    i = 0
    encoded = raw.encode("latin-1", "replace")
    while i < len(encoded):
        if encoded[i:i + 1] == b"%":
            pair = encoded[i + 1:i + 3]
            if len(pair) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in pair):
                raise BadRequest("%r is not a percent-encoded byte" % encoded[i:i + 3].decode("latin-1"))
            data.append(int(pair, 16))
            i += 3
        else:
            data.append(encoded[i])
            i += 1
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the percent-decoded value is not valid UTF-8")


def encode_header_value(value):
    out = []
    for b in str(value).encode("utf-8"):
        out.append("%%%02X" % b if b <= 0x20 or b >= 0x7F or b in (0x22, 0x25) else chr(b))
    return "".join(out)


def _check_attribute(name, value, where):
    if name in CONTEXT_CE and not isinstance(value, str):
        raise BadRequest("%s: must be a string, got %s" % (where, json.dumps(value)))
    if not isinstance(value, (str, bool, int)) or isinstance(value, float):
        raise BadRequest("%s: must be a string, a boolean or an integer, got %s" % (where, json.dumps(value)))
    if isinstance(value, int) and not isinstance(value, bool) and not -2**31 <= value < 2**31:
        raise BadRequest("%s: %d is outside the 32-bit integers" % (where, value))
    if name in REQUIRED_CE and value == "":
        raise BadRequest("%s: must be a non-empty string" % where)
    if name == "specversion" and value != "1.0":
        raise BadRequest("unsupported CloudEvents specversion %r (want 1.0)" % value)
    if name == "time" and not _TIME.match(value):
        raise BadRequest("%s: %r is not an RFC 3339 timestamp" % (where, value))
    if name == "dataschema" and not _SCHEME.match(value):
        raise BadRequest("%s: %r is not an absolute URI" % (where, value))


def parse_cloudevent(req):
    """The event of a request, binary or structured mode (CloudEvents 1.0.2);
    BadRequest names the attribute. Sets req.ce_mode to "binary" or "structured"."""
    media = _media_type(req.headers.get("Content-Type"))
    if media == "application/cloudevents-batch+json":
        raise BadRequest("batched CloudEvents (application/cloudevents-batch+json) are not supported; send one "
                         "event per request, in binary or structured mode", 415)
    if media.startswith("application/cloudevents") and media != "application/cloudevents+json":
        raise BadRequest("the CloudEvents format %r is not supported" % media, 415)
    attrs = {}
    if media == "application/cloudevents+json":
        req.ce_mode = "structured"
        try:
            doc = json.loads(req.data or b"{}")
        except ValueError as e:
            raise BadRequest("structured CloudEvent is not JSON: %s" % e)
        if not isinstance(doc, dict):
            raise BadRequest("structured CloudEvent must be a JSON object")
        if doc.get("data") is not None and doc.get("data_base64") is not None:
            raise BadRequest('structured CloudEvent: "data" and "data_base64" cannot both be set')
        data = None
        for name, value in doc.items():
            if value is None:
                continue  # null: unset
            if name == "data":
                data = value
                continue
            if name == "data_base64":
                try:
                    data = base64.b64decode(value, validate=True)
                except (ValueError, TypeError):
                    raise BadRequest('structured CloudEvent: "data_base64" is not base64')
                continue
            where = 'structured CloudEvent: attribute "%s"' % name
            if not _NAME.match(name):
                raise BadRequest(where + ": a name is lower-case letters a-z and digits 0-9")
            _check_attribute(name, value, where)
            attrs[name] = value
        if data is not None and "datacontenttype" not in attrs and not isinstance(data, bytes):
            attrs["datacontenttype"] = "application/json"
    else:
        req.ce_mode = "binary"
        ce_type = None
        for name, value in req.headers.items():
            if not name.lower().startswith("ce-"):
                continue
            attr = name[3:].lower()
            where = 'binary CloudEvent: header "%s"' % name
            if not _NAME.match(attr):
                raise BadRequest(where + ": an attribute name is lower-case letters a-z and digits 0-9")
            try:
                value = decode_header_value(value)
            except BadRequest as e:
                raise BadRequest("%s: %s" % (where, e))
            if attr == "datacontenttype":
                ce_type = value
                continue
            if attr in attrs:
                raise BadRequest(where + ": the attribute is given twice")
            _check_attribute(attr, value, where)
            attrs[attr] = value
        content_type = req.headers.get("Content-Type") or ce_type
        if content_type:
            attrs["datacontenttype"] = content_type
        data = req.data
        if _is_json_type(content_type) and content_type:
            try:
                data = json.loads(req.data) if req.data else None
            except ValueError:
                # Labelled JSON but not JSON (the SDK sends a plain string so): the text as sent.
                data = req.data.decode("utf-8", "replace")
    missing = [a for a in REQUIRED_CE if not attrs.get(a)]
    if missing:
        raise BadRequest("not a CloudEvent: missing %s" % ", ".join(
            ("ce-" + m if req.ce_mode == "binary" else m) for m in missing))
    return CloudEvent(attrs, data)


def cloudevent_response(event, mode):
    """A CloudEvent a function returned, answered in `mode`: (status, headers, body)."""
    attrs = dict(event)
    attrs.setdefault("specversion", "1.0")
    attrs.setdefault("id", str(uuid.uuid4()))
    for a in ("source", "type"):
        if not attrs.get(a):
            raise ValueError("the returned CloudEvent has no %s" % a)
    data = event.data
    if mode == "structured":
        doc = dict(attrs)
        if isinstance(data, (bytes, bytearray)):
            doc["data_base64"] = base64.b64encode(bytes(data)).decode("ascii")
        elif data is not None:
            doc["data"] = data
            doc.setdefault("datacontenttype", "application/json")
        return 200, {"Content-Type": "application/cloudevents+json"}, json.dumps(doc).encode("utf-8")
    headers = {}
    content_type = attrs.pop("datacontenttype", None)
    for name, value in attrs.items():
        headers["ce-" + name] = encode_header_value(json.dumps(value) if isinstance(value, bool) else value)
    if isinstance(data, (bytes, bytearray)):
        body = bytes(data)
        content_type = content_type or "application/octet-stream"
    elif isinstance(data, str) and not _is_json_type(content_type or "application/json"):
        body = data.encode("utf-8")
    elif data is None:
        body = b""
    else:
        body = json.dumps(data).encode("utf-8")
        content_type = content_type or "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    return 200, headers, body


class DaprError(Exception):
    """A Dapr API call that did not succeed: .status and Dapr's .code."""

    def __init__(self, status, code, message):
        super().__init__("%s (HTTP %d): %s" % (code, status, message))
        self.status, self.code = status, code


def dapr_call(method, path, body=None, content_type="application/json", headers=None):
    """One call to the Dapr HTTP API the platform serves this instance
    (DAPR_HTTP_PORT, authenticated with DAPR_API_TOKEN); (status, headers, body)."""
    import http.client
    port = os.environ.get("DAPR_HTTP_PORT")
    if not port:
        raise DaprError(0, "ERR_NO_DAPR", "DAPR_HTTP_PORT is not set: this instance has no Dapr API")
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    try:
        h = {"dapr-api-token": os.environ.get("DAPR_API_TOKEN", "")}
        if body is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            try:
                err = json.loads(data)
                raise DaprError(resp.status, err.get("errorCode", ""), err.get("message", ""))
            except ValueError:
                raise DaprError(resp.status, "", data.decode("utf-8", "replace"))
        return resp.status, dict(resp.getheaders()), data
    finally:
        conn.close()


class Context:
    """OpenFunction's function context: name, version, inputs, outputs,
    send() to an output, and the state of a store (state_get, state_save,
    state_delete) through the Dapr API."""

    def __init__(self, raw):
        self.raw = raw
        self.name = raw.get("name", "")
        self.version = raw.get("version", "")
        self.runtime = raw.get("runtime", "Knative")
        self.inputs = raw.get("inputs") or {}
        self.outputs = raw.get("outputs") or {}
        # State stores by name: the function's inputs and the ones it embeds.
        self.states = raw.get("states") or {}
        self.sent = []  # (output, data) pairs, in order
        self.lock = threading.Lock()

    def subscriptions(self):
        """What the app answers to the platform's GET /dapr/subscribe: each
        pub/sub input's topic, delivered to POST /<input name>."""
        out = []
        for name, c in sorted(self.inputs.items()):
            kind = c.get("componentType") or ""
            topic = c.get("uri") or ""
            is_pubsub = kind.startswith("pubsub.") or (not kind and topic and topic != c.get("componentName"))
            if is_pubsub and topic:
                out.append({"pubsubname": c.get("componentName") or name, "topic": topic, "route": "/" + name})
        return out

    def send(self, data, output):
        """Sends to an output: a binding (its operation and metadata) or a
        pub/sub topic, through the platform's Dapr API."""
        if output not in self.outputs:
            raise KeyError("output %r is not declared in spec.serving.outputs (have: %s)"
                           % (output, ", ".join(sorted(self.outputs)) or "none"))
        out = self.outputs[output]
        body, ctype = _to_bytes(data)
        with self.lock:
            self.sent.append((output, data))
        if not os.environ.get("DAPR_HTTP_PORT"):
            sys.stderr.write("ofn.framework: output %s <- %d byte(s) (no Dapr API here: dropped)\n"
                             % (output, len(body)))
            return False
        component = out.get("componentName", output)
        kind = out.get("componentType", "")
        if kind.startswith("pubsub."):
            topic = out.get("uri") or output
            dapr_call("POST", "/v1.0/publish/%s/%s" % (urllib.parse.quote(component), urllib.parse.quote(topic)),
                      body, ctype or "application/octet-stream")
        else:
            payload = {"data": data if not isinstance(data, bytes) else data.decode("utf-8", "replace"),
                       "operation": out.get("operation", "create"), "metadata": out.get("metadata") or {}}
            dapr_call("POST", "/v1.0/bindings/%s" % urllib.parse.quote(component), json.dumps(payload).encode())
        return True

    def state_get(self, store, key):
        """The value saved under `key` (as JSON decodes it), or None."""
        status, _, body = dapr_call("GET", "/v1.0/state/%s/%s" % (urllib.parse.quote(store), urllib.parse.quote(key)))
        return None if status == 204 or not body else json.loads(body)

    def state_save(self, store, key, value, etag=None):
        item = {"key": key, "value": value}
        if etag:
            item["etag"] = etag
        dapr_call("POST", "/v1.0/state/%s" % urllib.parse.quote(store), json.dumps([item]).encode())

    def state_delete(self, store, key):
        dapr_call("DELETE", "/v1.0/state/%s/%s" % (urllib.parse.quote(store), urllib.parse.quote(key)))


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
            if isinstance(result, CloudEvent):
                return cloudevent_response(result, getattr(req, "ce_mode", "binary"))
        else:
            data = req.data
            ctype = (req.headers.get("Content-Type") or "").lower()
            if ctype.startswith("application/cloudevents+json"):
                # A pub/sub event: the function gets the event's data.
                data = parse_cloudevent(req).data
            elif "json" in ctype:
                data = json.loads(data or b"null")
            result = fn(context, data)
    except BadRequest as e:
        return error_response(e.status, str(e))
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
            if self.command == "GET" and self.path == "/dapr/subscribe" and context.inputs:
                # Asked by the platform, as Dapr asks an app, before it delivers.
                payload = json.dumps(context.subscriptions()).encode()
                return self._send(200, {"Content-Type": "application/json"}, payload)
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
