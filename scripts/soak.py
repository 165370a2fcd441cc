#!/usr/bin/env python3
"""Soak: N scrapes (default 100 000) of a freshly started memory-monitor over keep-alive
connections, alternating text, OpenMetrics and gzip, with health requests mixed in. Prints the
exporter's anonymous memory (RssAnon) and RSS before and after, and the growth. Not run in CI.

    scripts/soak.py [--scrapes 100000] [--binary .build/release/memory-monitor]
"""
import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status_kib(pid):
    text = open(f"/proc/{pid}/status").read()
    get = lambda key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))
    return get("RssAnon"), get("VmRSS")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=100_000)
    default = max((p for p in [f"{root}/.build/release/memory-monitor", f"{root}/.build/debug/memory-monitor"] if os.path.exists(p)),
                  key=os.path.getmtime)
    parser.add_argument("--binary", default=default)
    args = parser.parse_args()
    proc = subprocess.Popen([args.binary, "--health-port", "0", "--prometheus-port", "0", "--listen-address", "127.0.0.1",
                             "--check-interval", "1"], stderr=subprocess.PIPE, text=True)
    ports = {}
    deadline = time.time() + 20
    while len(ports) < 2 and time.time() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"listening address=127\.0\.0\.1:(\d+).* role=(\w+)", line)
        if m:
            ports[m.group(2)] = int(m.group(1))
    try:
        metrics = http.client.HTTPConnection("127.0.0.1", ports["metrics"], timeout=10)
        health = http.client.HTTPConnection("127.0.0.1", ports["health"], timeout=10)
        variants = [{}, {"Accept": "application/openmetrics-text;version=1.0.0"}, {"Accept-Encoding": "gzip"}]
        # Warm up: caches, first allocations, thread pools.
        for i in range(2000):
            metrics.request("GET", "/metrics", headers=variants[i % 3]); metrics.getresponse().read()
        time.sleep(2)
        anon_before, rss_before = status_kib(proc.pid)
        started = time.time()
        for i in range(args.scrapes):
            metrics.request("GET", "/metrics", headers=variants[i % 3])
            r = metrics.getresponse(); r.read()
            if r.status != 200:
                sys.exit(f"scrape {i}: status {r.status}")
            if i % 50 == 0:
                health.request("GET", "/health/memory"); health.getresponse().read()
        elapsed = time.time() - started
        time.sleep(2)
        anon_after, rss_after = status_kib(proc.pid)
        print(f"binary: {args.binary}")
        print(f"scrapes: {args.scrapes} in {elapsed:.1f} s ({args.scrapes / elapsed:.0f}/s), plus {args.scrapes // 50} health requests")
        print(f"RssAnon: {anon_before} kB before, {anon_after} kB after, growth {anon_after - anon_before} kB")
        print(f"VmRSS:   {rss_before} kB before, {rss_after} kB after, growth {rss_after - rss_before} kB")
        print("target: anonymous growth under 1024 kB:", "met" if anon_after - anon_before < 1024 else "NOT met")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
