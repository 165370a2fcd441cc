"""A small Python service that leaks on purpose, with memory-monitor's runtime agent inside it.

It keeps an unbounded cache (the classic leak) that grows by LEAK_MB_PER_SECOND, and a bounded
"all" cache it can rebuild. memory-monitor, running beside it, finds the agent's Unix socket on
its own and runs the brief's automatic response inside this process: gc.collect() (force_gc,
multiple_gc_cycles), the cache clearers (clear_caches, clear_all_caches), the admission gate
(throttle_operations, emergency_throttle), stop_non_essential and prepare_restart. No signal
handler, no HTTP hook.

Environment: PORT (8000), LEAK_MB_PER_SECOND (5), LEAK_LIMIT_MB (the cache stops growing at this
size; 0 = no limit), CYCLE_GARBAGE (objects in reference cycles made per second, freed only by
the collector; 0), EVENTS_FILE (each clean-up appends a JSON line here, for tests), WORK_SECONDS
(how long one request holds the gate, 0.05).
"""

import gc
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import memory_monitor_agent as agent
except ImportError:  # run from a checkout: the agent lives in clients/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import memory_monitor_agent as agent

CHUNK = 1 << 20
cache = []  # the leak
lookups = {}  # a cache worth keeping until an emergency
lock = threading.Lock()
events_file = os.environ.get("EVENTS_FILE")
stop_prefetch = threading.Event()


def record(event):
    event["time"] = time.time()
    print(json.dumps(event), flush=True)
    if events_file:
        with open(events_file, "a") as f:
            f.write(json.dumps(event) + "\n")


def clear_cache():
    with lock:
        freed = sum(len(chunk) for chunk in cache)
        cache.clear()
    record({"source": "clear_cache", "freed_bytes": freed})


def clear_lookups():
    with lock:
        freed = sum(len(v) for v in lookups.values())
        lookups.clear()
    record({"source": "clear_lookups", "freed_bytes": freed})


def flush_state():
    record({"source": "prepare_restart"})


def stop_prefetching():
    stop_prefetch.set()
    record({"source": "stop_non_essential"})


# The five lines a service adds for memory-monitor:
agent.start()
agent.add_cache_clearer(clear_cache)
agent.add_cache_clearer(clear_lookups, priority="all")
agent.register_non_essential(stop_prefetching)
agent.on_prepare_restart(flush_state)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with agent.gate():  # throttled by memory-monitor at critical and emergency
            time.sleep(float(os.environ.get("WORK_SECONDS", "0.05")))
            with lock:
                size = sum(len(chunk) for chunk in cache)
            body = json.dumps({"status": "ok", "cache_bytes": size, "gate": agent.report()["gate"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Node:
    """Garbage in a reference cycle, holding a buffer: only the collector frees it."""

    def __init__(self):
        self.partner = None
        self.buffer = bytearray(1024)


def leak():
    rate = float(os.environ.get("LEAK_MB_PER_SECOND", "5"))
    limit = float(os.environ.get("LEAK_LIMIT_MB", "0")) * CHUNK
    cycles = int(os.environ.get("CYCLE_GARBAGE", "0"))
    interval = 1.0 / rate if rate > 0 else 1.0
    while True:
        with lock:
            if rate > 0 and (not limit or sum(len(c) for c in cache) < limit):
                cache.append(bytes(os.urandom(16)) * (CHUNK // 16))  # touched pages: resident
            if not stop_prefetch.is_set() and len(lookups) < 64:
                lookups[len(lookups)] = bytes(os.urandom(16)) * (CHUNK // 64)
        for _ in range(int(cycles * interval)):
            a, b = Node(), Node()
            a.partner, b.partner = b, a
        time.sleep(interval)


if __name__ == "__main__":
    if os.environ.get("CYCLE_GARBAGE"):
        gc.disable()  # the reference cycles pile up until memory-monitor asks for a collection
    threading.Thread(target=leak, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exits through atexit: the agent removes its socket
    print(json.dumps({"listening": server.server_address[1], "pid": os.getpid(), "agent": agent.socket_path()}), flush=True)
    server.serve_forever(poll_interval=0.2)
