"""A test instance for the process backend: an HTTP server on $PORT whose
behaviour the tests pick by path (and a few environment variables).

  GET  /env           JSON: PORT, FUNC_CONTEXT, the request's headers, selected env
  GET  /ready         503 until READY_AFTER_MS after start, then 200
  GET  /alive         200 for LIVE_FOR_MS after start, then 500
  POST /count         reads the body in chunks; JSON {"bytes": n}
  GET  /produce?n=N   streams N bytes back (chunked)
  GET  /crash         exits with code 1 at once
  GET  /close-mid     sends half a response header, then closes
  GET  /cut-body      sends a header promising 100 bytes, 10 of them, then closes
  GET  /slow?ms=M     answers after M ms
  GET  /hold          says "holding" in its log, then waits (10 s at most) for
                      the caller to close the connection, and says so
  GET  /spam?n=N      writes N log lines of 100 bytes to stdout
  GET  /child-pid     pid of a background child it forked at start
Environment: EXIT_AT_START=code, NEVER_LISTEN=1, IGNORE_TERM=1, FORK_CHILD=1.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.monotonic()
print("behave: starting pid %d port %s" % (os.getpid(), os.environ.get("PORT")), flush=True)

if os.environ.get("EXIT_AT_START"):
    print("behave: exiting with %s as asked" % os.environ["EXIT_AT_START"], flush=True)
    sys.exit(int(os.environ["EXIT_AT_START"]))
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.environ.get("NEVER_LISTEN"):
    print("behave: never listening", flush=True)
    while True:
        time.sleep(1)

CHILD = None
if os.environ.get("FORK_CHILD"):
    CHILD = subprocess.Popen(["sleep", "1000"])


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("behave: " + fmt % args, flush=True)

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/env":
            keys = ["PORT", "FUNC_CONTEXT", "GREETING", "FROM_ENV", "CONTEXT_MODE", "OFN_TEST_MARKER"]
            return self.reply(200, {"env": {k: os.environ.get(k) for k in keys},
                                    "headers": [[k, v] for k, v in self.headers.items()],
                                    "path": self.path, "cwd": os.getcwd()})
        if url.path == "/ready":
            wait = int(os.environ.get("READY_AFTER_MS", "0")) / 1000.0
            ok = time.monotonic() - START >= wait
            return self.reply(200 if ok else 503, {"ready": ok})
        if url.path == "/alive":
            limit = int(os.environ.get("LIVE_FOR_MS", "1000000000")) / 1000.0
            ok = time.monotonic() - START < limit
            return self.reply(200 if ok else 500, {"alive": ok})
        if url.path == "/produce":
            n = int(q.get("n", "0"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"x" * 65536
            while n > 0:
                part = block[:min(n, len(block))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                n -= len(part)
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/crash":
            print("behave: crashing as asked", flush=True)
            os._exit(1)
        if url.path == "/close-mid":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if url.path == "/cut-body":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if url.path == "/hold":
            print("behave: holding", flush=True)
            self.connection.settimeout(10)
            try:
                left = self.connection.recv(1) == b""
            except OSError:
                left = False
            print("behave: the caller left" if left else "behave: the caller stayed", flush=True)
            self.close_connection = True
            return
        if url.path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            return self.reply(200, {"slept": q.get("ms")})
        if url.path == "/spam":
            for i in range(int(q.get("n", "10"))):
                print("behave: spam line %06d " % i + "." * 80, flush=True)
            return self.reply(200, {"spammed": q.get("n")})
        if url.path == "/hog":
            hog = []
            for _ in range(int(q.get("mb", "256"))):
                hog.append(bytearray(1 << 20))  # touched: zero-filled pages count
            return self.reply(200, {"held_mb": len(hog)})
        if url.path == "/child-pid":
            return self.reply(200, {"child": CHILD.pid if CHILD else None})
        return self.reply(200, {"hello": os.environ.get("GREETING", "world")})

    def discard(self, n):
        """Reads and drops n body bytes in 64 KiB pieces; returns how many came."""
        got = 0
        while got < n:
            piece = len(self.rfile.read(min(n - got, 1 << 16)))
            if piece == 0:
                break
            got += piece
        return got

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        total = 0
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += self.discard(size)
                self.rfile.readline()
        else:
            total = self.discard(int(self.headers.get("Content-Length") or 0))
        if url.path == "/count":
            return self.reply(200, {"bytes": total})
        return self.reply(200, {"posted": total})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
