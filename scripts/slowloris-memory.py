#!/usr/bin/env python3
"""The exporter's memory before, during and after a slowloris: N clients that each send part of a
request and then nothing, held until the server closes them (the request timeout), then gone.

Usage: scripts/slowloris-memory.py [--binary PATH] [--clients 2000] [--rounds 3]

Starts the binary on ephemeral 127.0.0.1 ports (allocator statistics on), and prints, per round:
RSS and RssAnon of the exporter from /proc/PID/status, and its heap as glibc sees it
(memory_allocator_bytes{state="in_use"|"free"} from /metrics): at rest, with the clients
connected, and 3 s after they are gone. Every process it starts is stopped by its PID; every loop
is bounded.
"""
import argparse
import json
import os
import re
import resource
import socket
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


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def heap(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = {}
    for state in ("in_use", "free"):
        m = re.search(r'^memory_allocator_bytes\{state="%s"\} (\S+)' % state, text, re.M)
        values[state] = float(m.group(1)) / 1048576 if m else float("nan")
    return values


def figure(label, pid, port):
    s, h = status(pid), heap(port)
    print(f"  {label:<22} RSS {s['VmRSS']:6.1f} MiB  RssAnon {s['RssAnon']:6.1f} MiB  heap in use {h['in_use']:6.1f} MiB  heap free {h['free']:6.1f} MiB",
          flush=True)
    return s, h


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/memory-monitor"))
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients + 256)), hard))

    port = free_port()
    config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"monitoring": {"health_port": port, "prometheus_port": port, "listen_address": "127.0.0.1", "check_interval": 1,
                              "enable_tracemalloc": True},
               "server": {"request_timeout_seconds": 5, "first_byte_timeout_seconds": 5}}, config)
    config.close()
    child = subprocess.Popen([args.binary, "--config", config.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                heap(port)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(2)
        print(f"{args.binary}: {args.clients} slow clients per round, request timeout 5 s")
        first = None
        for round in range(1, args.rounds + 1):
            print(f"round {round}")
            rest = figure("at rest", child.pid, port)
            first = first or rest
            clients = []
            deadline = time.monotonic() + 60
            for _ in range(args.clients):
                if time.monotonic() > deadline:
                    break
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                clients.append(s)
            time.sleep(1)
            figure(f"{len(clients)} clients held", child.pid, port)
            for s in clients:
                s.close()
            time.sleep(3)
            figure("3 s after they left", child.pid, port)
        last = figure("at the end", child.pid, port)
        print(f"RSS at rest {first[0]['VmRSS']:.1f} MiB -> at the end {last[0]['VmRSS']:.1f} MiB")
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        os.unlink(config.name)


if __name__ == "__main__":
    sys.exit(main())
