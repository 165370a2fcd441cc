#!/usr/bin/env python3
"""Scrape latency while clients read /health/metrics/history, or another health path
(docs/benchmarks.md).

Starts the binary with a state directory whose history holds ENTRIES checks, then runs READERS
processes that each read PATH (by default the whole history) in a loop, while the main thread scrapes /metrics every
50 ms. Prints the scrape latency (p50, p99, max) with and without the readers, and how many
history replies were served. Everything on 127.0.0.1, ephemeral ports; the binary is stopped by
its pid; every loop is bounded in time.

usage: history-load.py [--binary PATH] [--entries 2000] [--readers 8] [--seconds 10] [--pause 0] [--reader-nice 0]
                       [--path /health/metrics/history?hours=8760]
"""
import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "memory-monitor"))
parser.add_argument("--entries", type=int, default=2000)
parser.add_argument("--readers", type=int, default=8)
parser.add_argument("--seconds", type=float, default=10)
parser.add_argument("--pause", type=float, default=0, help="seconds each reader waits between reads (0: back to back)")
parser.add_argument("--reader-nice", type=int, default=0,
                    help="niceness of the reader processes: tells the server's latency from the readers' own CPU use on a small machine")
parser.add_argument("--path", default="/health/metrics/history?hours=8760",
                    help="what the readers read: /health and /health/memory are a load balancer's probes")
args = parser.parse_args()

work = tempfile.mkdtemp(prefix="mm-history-load-")
state = os.path.join(work, "state")
os.makedirs(state)
now = time.time()
with open(os.path.join(state, "history.jsonl"), "w") as f:
    for i in range(args.entries):
        t = now - (args.entries - i) * 0.5
        f.write(json.dumps({"t": t, "rss": 100 + i % 50, "vms": 400, "anon": 80, "pct": 12.5, "avail": 2000, "swap": 0,
                            "used": 1 << 30, "limit": 1 << 32, "dur": 0.0004, "pid": os.getpid(), "start": 1}) + "\n")
config = os.path.join(work, "config.json")
with open(config, "w") as f:
    json.dump({"monitoring": {"check_interval": 1, "history_size": max(args.entries, 10)}}, f)
log = open(os.path.join(work, "log"), "w+")
child = subprocess.Popen([args.binary, "--health-port", "0", "--prometheus-port", "0", "--listen-address", "127.0.0.1",
                          "--config", config, "--state-dir", state], stdout=log, stderr=subprocess.STDOUT)
ports = {}
deadline = time.time() + 30
while len(ports) < 2 and time.time() < deadline:
    time.sleep(0.1)
    log.seek(0)
    for m in re.finditer(r"listening address=127\.0\.0\.1:(\d+) .*role=(\w+)", log.read()):
        ports[m.group(2)] = int(m.group(1))


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def scrape_for(seconds):
    latencies = []
    end = time.time() + seconds
    while time.time() < end:
        start = time.perf_counter()
        status, _ = get(ports["metrics"], "/metrics")
        latencies.append((time.perf_counter() - start) * 1000)
        assert status == 200
        time.sleep(0.05)
    latencies.sort()
    return latencies


def summary(latencies):
    def q(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]
    return f"p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {latencies[-1]:.2f} ms over {len(latencies)} scrapes"


try:
    assert len(ports) == 2, "the exporter did not start"
    status, body = get(ports["health"], "/health/metrics/history?hours=8760")
    points = len(json.loads(body).get("history", json.loads(body).get("points", [])) or [])
    print(f"history: {args.entries} entries, a full reply is {len(body)} bytes")
    quiet = scrape_for(min(5, args.seconds))
    print(f"scrapes alone:                {summary(quiet)}")
    # Readers are processes of their own: threads would share the scraper's interpreter lock and
    # the figure would be Python's, not the server's.
    stop = multiprocessing.Event()
    served = multiprocessing.Value("i", 0)

    def reader():
        if args.reader_nice:
            os.nice(args.reader_nice)
        while not stop.is_set():
            get(ports["health"], args.path)
            with served.get_lock():
                served.value += 1
            if args.pause:
                time.sleep(args.pause)

    readers = [multiprocessing.Process(target=reader, daemon=True) for _ in range(args.readers)]
    for r in readers:
        r.start()
    loaded = scrape_for(args.seconds)
    stop.set()
    for r in readers:
        r.join(timeout=60)
        if r.is_alive():
            r.kill()
    print(f"with {args.readers} readers of {args.path}: {summary(loaded)}; {served.value} replies served")
finally:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
    shutil.rmtree(work, ignore_errors=True)
