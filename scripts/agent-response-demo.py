#!/usr/bin/env python3
"""The brief's auto_response block (SPEC §3, unchanged but for settle_seconds) run inside
examples/python-service/app.py through its runtime agent, one level at a time, and what each
action reclaimed in Python objects and resident bytes.

    python3 scripts/agent-response-demo.py [--binary .build/release/memory-monitor]

For each level the app starts afresh (its cache leaks 10 MiB/s up to 40 MiB, it makes 2 MiB/s of
reference-cycle garbage with its collector off) and runs 5 s; then memory-monitor starts with
thresholds that put it at that level, and the actions of the level's first round are listed."""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BRIEF = {"enabled": True, "settle_seconds": 0.5,
         "critical_actions": {"force_gc": True, "clear_caches": True, "throttle_operations": True},
         "emergency_actions": {"force_gc": True, "multiple_gc_cycles": 3, "clear_all_caches": True,
                               "emergency_throttle": True, "send_immediate_alert": True}}
LEVELS = [("warning", (20, 4000, 8000), 1), ("critical", (10, 20, 8000), 3), ("emergency", (5, 10, 20), 5)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def level(binary, name, thresholds, expected):
    work = tempfile.mkdtemp(prefix="mm-agent-demo-")
    env = dict(os.environ, PORT="0", LEAK_MB_PER_SECOND="10", LEAK_LIMIT_MB="40", CYCLE_GARBAGE="1000",
               MEMORY_MONITOR_AGENT_DIR=work)
    app = subprocess.Popen([sys.executable, os.path.join(ROOT, "examples/python-service/app.py")], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(5)
    port = free_port()
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"monitoring": {"check_interval": 0.5, "leak_detection": {"enabled": False}},
                   "experimental": {"predictive_alerting": False},
                   "thresholds": dict(zip(["memory_warning_mb", "memory_critical_mb", "memory_emergency_mb"], thresholds)),
                   "auto_response": BRIEF}, f)
    exporter = subprocess.Popen([binary, "--config", config, "--pid", str(app.pid), "--listen-address", "127.0.0.1",
                                 "--health-port", str(port), "--prometheus-port", str(free_port())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                records = get(port, "/health/actions?hours=1")["actions"]
            except OSError:
                pass
            if len(records) >= expected:
                break
            time.sleep(0.5)
    finally:
        for p in (exporter, app):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return list(reversed(records))


def mib(v):
    return "" if v is None else f"{v / 1048576:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory-monitor"))
    args = parser.parse_args()
    print(f"{'level':10}{'action':22}{'result':8}{'objects before':>15}{'collected':>11}{'objects after':>14}"
          f"{'RSS before':>12}{'RSS after':>11}{'reclaimed':>11}  detail")
    for name, thresholds, expected in LEVELS:
        for r in level(args.binary, name, thresholds, expected):
            print(f"{r['level']:10}{r['action']:22}{r['result']:8}{r.get('objects_before') or '':>15}"
                  f"{'' if r.get('collected_objects') is None else r['collected_objects']:>11}{r.get('objects_after') or '':>14}"
                  f"{mib(r.get('rss_before_bytes')):>12}{mib(r.get('rss_after_bytes')):>11}{mib(r.get('reclaimed_bytes')):>11}  "
                  f"{r['detail'][:90]}")
    print("(RSS in MiB; the after reading is settle_seconds = 0.5 s later, so it includes up to 5 MiB of new leak)")


if __name__ == "__main__":
    main()
