"""The libofn Platform from Python.

    import ofn

    with ofn.Platform(state_dir="/tmp/ofn", listen="127.0.0.1:0") as p:
        @p.function("hello")
        def hello(request):
            return "Hello, %s!" % request.args.get("name", "World")

        p.apply(open("function.yaml").read())     # or a dict, or a list of dicts
        p.wait_ready("hello")
        print(p.invoke("hello", path="/?name=Ada").text)

Every call that may wait releases the GIL; registered functions run on the
platform's threads and take the GIL only while they run. Errors are
exceptions under ofn.Error.
"""
import json

from . import framework
from . import _ofn


class Error(Exception):
    """Any failure of a platform call. `.code` names its kind ("NotFound", ...)."""

    def __init__(self, message, code="Unknown"):
        super().__init__(message)
        self.code = code
        self.message = message


class Problem:
    """One thing wrong with a manifest, with where it is."""

    def __init__(self, file, line, column, path, message, severity="error"):
        self.file, self.line, self.column = file, line, column
        self.path, self.message, self.severity = path, message, severity

    def __repr__(self):
        return "%s:%d:%d: %s: %s" % (self.file, self.line, self.column, self.path, self.message)


class ValidationError(Error):
    """A manifest or argument was refused; nothing was changed. `.problems`
    lists each Problem (file, line, column, path, message)."""

    def __init__(self, message, code="InvalidArgument", problems=()):
        super().__init__(message, code)
        self.problems = list(problems)


class NotFound(Error):
    pass


class Conflict(Error):
    """Changed by someone else meanwhile, or already exists."""


class Unavailable(Error):
    pass


class Timeout(Error):
    pass


_KINDS = {
    "InvalidArgument": ValidationError,
    "NotFound": NotFound,
    "Conflict": Conflict,
    "AlreadyExists": Conflict,
    "Unavailable": Unavailable,
    "DeadlineExceeded": Timeout,
}


def _error(e):
    code, message, diagnostics = e.args
    kind = _KINDS.get(code, Error)
    if kind is ValidationError:
        return ValidationError(message, code, [Problem(*d) for d in diagnostics])
    return kind(message, code)


def _call(fn, *args):
    try:
        return fn(*args)
    except _ofn.StatusError as e:
        raise _error(e) from None


class Response:
    """What a Function answered: .status, .headers (case-insensitive get), .body (bytes)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = _Headers(headers)
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body or b"null")

    def __repr__(self):
        return "<Response %d, %d byte(s)>" % (self.status, len(self.body))


class _Headers(list):
    """(name, value) pairs; get() and [] look names up case-insensitively,
    items() gives the pairs (as the functions framework reads headers)."""

    def items(self):
        return list(self)

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self:
            if k.lower() == name:
                return v
        return default

    def __getitem__(self, key):
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return list.__getitem__(self, key)


class Event:
    """One change a watch saw: .type ("ADDED", "MODIFIED", "DELETED") and .object (a dict)."""

    def __init__(self, type, obj):
        self.type = type
        self.object = obj

    def __repr__(self):
        meta = self.object.get("metadata", {})
        return "<Event %s %s %s/%s>" % (self.type, self.object.get("kind"), meta.get("namespace"), meta.get("name"))


class Watch:
    """Iterates the changes of one kind, in commit order; stop with close()
    (or leave a `with` block). `timeout` (seconds) ends the iteration when
    nothing comes for that long; None waits for ever."""

    def __init__(self, watcher, timeout):
        self._w = watcher
        self._timeout = timeout

    def __iter__(self):
        return self

    def __next__(self):
        got = _call(self._w.next, -1.0 if self._timeout is None else float(self._timeout))
        if got is None:
            raise StopIteration
        return Event(got[0], json.loads(got[1]))

    def close(self):
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Context:
    """What an OpenFunction-signature function gets: .name, .version and
    send(data, output) to one of spec.serving.outputs. Valid during the call."""

    def __init__(self, raw):
        self._c = raw

    @property
    def name(self):
        return _call(lambda: self._c.name)

    @property
    def version(self):
        return _call(lambda: self._c.version)

    def send(self, data, output):
        """False when no output has that name or it refused the data."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray)):
            data = json.dumps(data).encode("utf-8")
        return _call(self._c.send, bytes(data), output)


class Clock:
    """The platform's clock. With manual_clock=True, advance() moves it and
    runs the autoscaler every 2 s of it, as the ticker would."""

    def __init__(self, platform):
        self._p = platform

    @property
    def manual(self):
        return self._p.manual_clock

    def now(self):
        """Monotonic seconds."""
        return self._p.now()

    def advance(self, seconds=0.0, minutes=0.0):
        _call(self._p.advance, float(seconds) + 60.0 * float(minutes))


def _manifest_text(manifests):
    if isinstance(manifests, (bytes, bytearray)):
        return manifests.decode("utf-8")
    if isinstance(manifests, str):
        return manifests
    if isinstance(manifests, dict):
        return json.dumps(manifests)
    if isinstance(manifests, (list, tuple)):
        return "\n---\n".join(_manifest_text(m) for m in manifests)
    raise TypeError("manifests must be YAML text, a dict or a list of dicts, not %s" % type(manifests).__name__)


class Platform:
    """An embedded libofn platform.

    state_dir: where state is kept (None: in memory). listen: the gateway's
    "host:port" ("127.0.0.1:0": any free port; None: no listener, invoke()
    still works). admin: the admin API ("unix", "127.0.0.1:PORT"; None:
    none). manual_clock: time moves only with .clock.advance().
    """

    def __init__(self, state_dir=None, listen="127.0.0.1:0", admin=None, namespace="default", library_dirs=(),
                 worker_threads=0, manual_clock=False):
        self.namespace = namespace
        self._p = _call(_ofn.Platform, state_dir or "", listen or "", admin or "", namespace,
                        [str(d) for d in library_dirs], int(worker_threads), bool(manual_clock))
        self.clock = Clock(self._p)

    # -- lifetime
    def close(self, drain=1.0):
        """Stops listeners, reconciling and instances; idempotent."""
        if self._p is not None:
            self._p.close(float(drain))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def address(self):
        """The gateway's "host:port" ("" without a listener)."""
        return _call(self._p.gateway_address)

    @property
    def url(self):
        return "http://" + self.address if self.address else ""

    @property
    def admin_address(self):
        return _call(self._p.admin_address)

    # -- functions served in this process
    def function(self, name, signature="http"):
        """Registers the decorated callable as the in-process function `name`
        (a Function whose FUNC_NAME, or else metadata.name, is `name` runs it).
        signature: "http" (fn(request)), "cloudevent" (fn(event)) or
        "openfunction" (fn(context, data), context.send(data, output))."""
        if signature not in framework.SIGNATURES:
            raise ValueError("signature must be one of %s" % ", ".join(framework.SIGNATURES))

        def register(fn):
            if signature == "openfunction":
                def adapter(context, data, headers):
                    ctype = _Headers(headers or ()).get("Content-Type") or ""
                    if "json" in ctype.lower():
                        data = json.loads(data or b"null")
                    return framework.to_response(fn(Context(context), data))
                _call(self._p.register_openfunction, name, adapter)
            else:
                def adapter(method, target, headers, body):
                    req = framework.Request(method, target, _Headers(headers), body)
                    status, hdrs, out = framework.dispatch(fn, signature, None, req)
                    return status, [(str(k), str(v)) for k, v in hdrs.items()], out
                _call(self._p.register_http, name, adapter)
            return fn

        return register

    # -- objects
    def apply(self, manifests, file=None):
        """Validates and stores manifests (YAML text, a dict, or a list of
        them), all or nothing. Returns [{"kind", "namespace", "name",
        "generation"}]. ValidationError lists each problem; nothing changes."""
        applied = _call(self._p.apply, _manifest_text(manifests), file or "<apply>")
        return [{"kind": k, "namespace": ns, "name": n, "generation": g} for k, ns, n, g in applied]

    def get(self, name, kind="Function", namespace=None):
        return json.loads(_call(self._p.get, kind, namespace or "", name))

    def list(self, kind="Function", namespace=None):
        """Objects of `kind`; namespace None: every namespace."""
        return [json.loads(o) for o in _call(self._p.list, kind, namespace or "")]

    def delete(self, name, kind="Function", namespace=None):
        _call(self._p.delete, kind, namespace or "", name)

    def watch(self, kind="Function", timeout=None):
        """Changes of `kind` ("" for every kind) from now on, as Events."""
        return Watch(_call(self._p.watch, kind), timeout)

    # -- serving
    def invoke(self, name, path="/", method="GET", body=b"", headers=None, namespace=None):
        """Sends a request to the Function through the gateway's own path
        (route, filters, instance), without a socket."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        status, hdrs, out = _call(self._p.invoke, name, method, path, [(str(k), str(v)) for k, v in pairs],
                                  bytes(body), namespace or "")
        return Response(status, list(hdrs), out)

    def wait_ready(self, name, timeout=30.0, namespace=None):
        """Waits until the Function serves; its object as a dict. Raises
        Timeout, or Error with the reason when it cannot run."""
        return json.loads(_call(self._p.wait_ready, name, float(timeout), namespace or ""))

    def revisions(self, name, namespace=None):
        """Its revisions, oldest first: name, ready, percent, tags, ready_instances, ..."""
        out = _call(self._p.revisions, name, namespace or "")
        for r in out:
            r["object"] = json.loads(r["object"])
        return out

    def metrics(self):
        """Per-revision metrics, Prometheus text format."""
        return _call(self._p.metrics)

    def sync(self, timeout=10.0):
        """Waits until every change stored so far is reconciled."""
        _call(self._p.sync, float(timeout))
