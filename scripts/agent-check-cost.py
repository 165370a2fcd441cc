#!/usr/bin/env python3
"""What the Python runtime agent adds to a check: the exporter watches a Python service (Tests/Peers/
agent_service.py) with the agent probe off, then on, for the same time at the same interval, and
this prints the check durations it recorded (GET /health/metrics/history) and the difference.

    python3 scripts/agent-check-cost.py [--binary .build/release/memory-monitor] [--seconds 60] [--interval 1]
        [--mode threads|asyncio|idle]

Also prints the agent's own cost of counting objects (`objects_count_seconds` in its report)."""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def run(binary, agent_on, seconds, interval, mode):
    work = tempfile.mkdtemp(prefix="mm-agent-cost-")
    env = dict(os.environ, MEMORY_MONITOR_AGENT_DIR=work, MODE="" if mode == "idle" else mode, BALLAST_MB="20")
    service = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/Peers/agent_service.py")], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(service.stdout.readline())
    port = free_port()
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"monitoring": {"check_interval": interval, "history_size": 100000, "agent": {"enabled": agent_on},
                                  "leak_detection": {"enabled": False}},
                   "auto_response": {"enabled": False}}, f)
    exporter = subprocess.Popen([binary, "--config", config, "--pid", str(ready["pid"]), "--listen-address", "127.0.0.1",
                                 "--health-port", str(port), "--prometheus-port", str(free_port())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                get(port, "/health")
                break
            except OSError:
                time.sleep(0.1)
        cpu_start = cpu_seconds(exporter.pid), cpu_seconds(service.pid)
        time.sleep(seconds)
        history = get(port, "/health/metrics/history?hours=1")
        memory = get(port, "/health/memory")
        memory["cpu"] = (cpu_seconds(exporter.pid) - cpu_start[0], cpu_seconds(service.pid) - cpu_start[1])
    finally:
        for p in (exporter, service):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    points = history.get("samples") or []
    durations = sorted(p["check_duration_seconds"] for p in points if p.get("check_duration_seconds") is not None)
    # The first checks warm caches and find the socket: left out, as a long-running exporter would.
    durations = durations[2:] if len(durations) > 10 else durations
    return durations, memory


def cpu_seconds(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe(durations):
    q = statistics.quantiles(durations, n=100)
    return {"checks": len(durations), "p50_us": round(q[49] * 1e6), "p90_us": round(q[89] * 1e6), "p99_us": round(q[98] * 1e6),
            "max_us": round(max(durations) * 1e6)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory-monitor"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=1)
    parser.add_argument("--mode", default="threads", choices=["threads", "asyncio", "idle"])
    args = parser.parse_args()
    off, memory_off = run(args.binary, False, args.seconds, args.interval, args.mode)
    on, memory = run(args.binary, True, args.seconds, args.interval, args.mode)
    a, b = describe(off), describe(on)
    runtime = memory.get("runtime") or {}
    print(f"service: Tests/Peers/agent_service.py MODE={args.mode}; interval {args.interval:g} s; {args.seconds:g} s each; {args.binary}")
    print(f"{'':14}{'checks':>8}{'p50 µs':>10}{'p90 µs':>10}{'p99 µs':>10}{'max µs':>10}")
    for name, d in (("agent off", a), ("agent on", b)):
        print(f"{name:14}{d['checks']:>8}{d['p50_us']:>10}{d['p90_us']:>10}{d['p99_us']:>10}{d['max_us']:>10}")
    print(f"added by the agent: p50 {b['p50_us'] - a['p50_us']} µs, p90 {b['p90_us'] - a['p90_us']} µs")
    print(f"agents up {runtime.get('agents_up')}, gc_objects {memory.get('gc_objects')}")
    for name, m in (("agent off", memory_off), ("agent on", memory)):
        print(f"{name}: CPU over the run: exporter {m['cpu'][0]:.2f} s, service {m['cpu'][1]:.2f} s")


if __name__ == "__main__":
    main()
