"""A Python service that leaks on purpose and cleans up through a hand-written handler (SIGUSR1,
POST /admin/memory): what a service without the runtime agent does for the `signal` and
`http_hook` actions. (The example in examples/python-service uses the agent instead.)


It keeps an unbounded cache (the classic leak) that grows by LEAK_MB_PER_SECOND. memory-monitor,
running as its sidecar, asks it to clean up in one of two ways:

- SIGUSR1: the handler below clears the cache and runs gc.collect();
- POST /admin/memory: the same, over HTTP (auto_response.*.http_hook).

Environment: PORT (8000), LEAK_MB_PER_SECOND (5), LEAK_LIMIT_MB (the cache stops growing at this
size; 0 = no limit), EVENTS_FILE (each clean-up appends a JSON line here, for tests).
"""

import ctypes
import ctypes.util
import gc
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20
cache = []
lock = threading.Lock()
events_file = os.environ.get("EVENTS_FILE")
# glibc keeps freed heap in its arenas; malloc_trim(0) hands it back to the kernel, so the freed
# cache shows as lower RSS. Without it, memory freed by one thread's arena often stays resident.
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
malloc_trim = getattr(_libc, "malloc_trim", None)


def clean_up(source, detail=None):
    """Clears the cache and collects garbage; returns the bytes released by the cache."""
    with lock:
        freed = sum(len(chunk) for chunk in cache)
        cache.clear()
    gc.collect()
    if malloc_trim is not None:
        malloc_trim(0)
    event = {"source": source, "freed_bytes": freed, "time": time.time()}
    if detail:
        event.update(detail)
    print(json.dumps(event), flush=True)
    if events_file:
        with open(events_file, "a") as f:
            f.write(json.dumps(event) + "\n")
    return freed


# The three lines a Python service adds for memory-monitor's `signal` action:
signal.signal(signal.SIGUSR1, lambda signum, frame: clean_up("SIGUSR1"))
# (and, for `restart`, a SIGTERM handler that finishes work and exits; the default is fine too).


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/admin/memory":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        alert = json.loads(self.rfile.read(length) or b"{}")
        freed = clean_up("http_hook", {"severity": alert.get("severity"), "trigger": alert.get("trigger")})
        body = json.dumps({"freed_bytes": freed}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            size = sum(len(chunk) for chunk in cache)
        body = json.dumps({"status": "ok", "cache_bytes": size}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def leak():
    rate = float(os.environ.get("LEAK_MB_PER_SECOND", "5"))
    limit = float(os.environ.get("LEAK_LIMIT_MB", "0")) * CHUNK
    interval = 1.0 / rate if rate > 0 else 3600
    while True:
        with lock:
            if not limit or sum(len(c) for c in cache) < limit:
                cache.append(bytes(os.urandom(16)) * (CHUNK // 16))  # touched pages: resident
        time.sleep(interval)


if __name__ == "__main__":
    threading.Thread(target=leak, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler)
    print(json.dumps({"listening": server.server_address[1], "pid": os.getpid()}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.2)
