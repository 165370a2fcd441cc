#!/usr/bin/env python3
"""Side-by-side A/B of memory-monitor builds: the live check's duration, steady state.

Runs every binary given at once, each checking itself once a second by default (no scrapes), their checks
staggered evenly across the second; after a warm-up (the leak window fills), reads each one's
per-check history over a window and prints p25/p50/p75/p99 of the check duration. Running them
together means the machine's state (other load, frequency) is the same for all; give each build
twice, in alternating places (A B A B), because the place in the stagger moves p50 by itself.

Usage: scripts/ab-check.py [--warmup 300] [--window 300] [--interval 1] BINARY [BINARY ...]
Every process started is stopped by its pid at the end. Talks to 127.0.0.1 only.
"""
import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime


def unix_time(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def health_port(log_path, deadline):
    while time.time() < deadline:
        with open(log_path) as f:
            m = re.search(r"listening address=127\.0\.0\.1:(\d+).*role=health", f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    raise SystemExit(f"no health port in {log_path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=300, help="seconds before the window opens (default 300, the leak window)")
    parser.add_argument("--window", type=int, default=300, help="seconds of checks compared (default 300)")
    parser.add_argument("--interval", type=float, default=1.0, help="check interval, seconds (default 1)")
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()

    logs = tempfile.mkdtemp(prefix="ab-check-")
    procs = []
    try:
        ports = []
        for i, binary in enumerate(args.binaries):
            log = f"{logs}/{i}.log"
            procs.append(subprocess.Popen(
                [binary, "--check-interval", str(args.interval), "--health-port", "0", "--prometheus-port", "0", "--listen-address", "127.0.0.1"],
                stdout=open(log, "w"), stderr=subprocess.STDOUT))
            ports.append(health_port(log, time.time() + 10))
            time.sleep(args.interval / len(args.binaries))
        print(f"{len(procs)} exporters started; {args.warmup} s warm-up, then a {args.window} s window", flush=True)
        time.sleep(args.warmup)
        start = time.time()
        time.sleep(args.window)
        for i, (binary, port) in enumerate(zip(args.binaries, ports)):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/metrics/history?hours=1", timeout=10) as r:
                history = json.load(r)
            d = sorted(s["check_duration_seconds"] * 1e6 for s in history["samples"]
                       if s.get("check_duration_seconds") and unix_time(s["timestamp"]) >= start)
            if not d:
                print(f"{i} {binary}: no checks in the window")
                continue
            q = lambda f: d[min(len(d) - 1, int(f * len(d)))]
            print(f"{i} {binary}: checks {len(d)}, p25 {q(.25):.0f}, p50 {statistics.median(d):.0f}, "
                  f"p75 {q(.75):.0f}, p99 {q(.99):.0f} µs")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
