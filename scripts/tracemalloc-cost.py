#!/usr/bin/env python3
"""What tracemalloc costs a Python service, in each mode of `monitoring.enable_tracemalloc`:
requests per second of a small request handler (parse a JSON body, build a response of a few
hundred objects, serialise it), measured inside the service with the runtime agent loaded:

  - agent, no tracing            (enable_tracemalloc false, no leak episode: the usual state)
  - during a profile             (false: tracing only while a profile runs, depth 8)
  - traced from the start        (true: always on, depth 8)
  - traced from the start, depth 1

    python3 scripts/tracemalloc-cost.py [--seconds 5] [--rounds 3]

Each mode runs --rounds times for --seconds; the median is printed. Also the tracing's own memory
(tracemalloc.get_tracemalloc_memory()) after a run, and a profile's snapshot time."""

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients", "python"))
import memory_monitor_agent as agent  # noqa: E402

REQUEST = json.dumps({"query": "flights", "from": "AMS", "to": "LIS", "passengers": [{"age": 30 + i} for i in range(5)]})
CACHE = {}


def handle(i):
    """A request: parse, look up, build a response of a few hundred objects, serialise."""
    body = json.loads(REQUEST)
    offers = [{"id": f"{i}-{n}", "price": 100 + n, "legs": [body["from"], body["to"]], "seats": n % 9} for n in range(40)]
    if i % 50 == 0:
        CACHE[i % 5000] = offers[:2]  # a bounded cache: some long-lived allocations
    return json.dumps({"offers": offers, "count": len(offers)})


def rate(seconds):
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            handle(done)
            done += 1
    return done / seconds


def measure(name, seconds, rounds, setup, teardown):
    rates = []
    extra = {}
    for _ in range(rounds):
        setup()
        rates.append(rate(seconds))
        extra = teardown() or {}
    return name, statistics.median(rates), extra


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    agent.start(path=f"/tmp/mm-tracemalloc-cost-{os.getpid()}.sock")
    run = agent._agent.run_action
    results = []

    def nothing():
        return None

    results.append(measure("agent, no tracing", args.seconds, args.rounds, nothing, nothing))

    def profile_start():
        run("profile_start", {"depth": 8}, wait=True)

    def profile_stop():
        memory = tracemalloc.get_tracemalloc_memory()
        answer = run("profile_stop", {"top": 10}, wait=True)
        return {"tracemalloc_bytes": memory, "snapshot_seconds": answer["snapshot_seconds"]}

    results.append(measure("during a profile (depth 8)", args.seconds, args.rounds, profile_start, profile_stop))

    for depth in (8, 1):
        def start(depth=depth):
            run("tracemalloc", {"enable": True, "depth": depth}, wait=True)

        def stop():
            memory = tracemalloc.get_tracemalloc_memory()
            run("tracemalloc", {"enable": False}, wait=True)
            return {"tracemalloc_bytes": memory}

        results.append(measure(f"traced from the start (depth {depth})", args.seconds, args.rounds, start, stop))
    agent.stop()
    base = results[0][1]
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds of {args.seconds:g} s each, median")
    print(f"{'mode':36}{'requests/s':>12}{'vs none':>9}{'tracemalloc memory':>20}{'snapshot':>10}")
    for name, value, extra in results:
        memory = extra.get("tracemalloc_bytes")
        snap = extra.get("snapshot_seconds")
        print(f"{name:36}{value:>12.0f}{value / base * 100:>8.0f}%{(f'{memory / 1048576:.1f} MiB' if memory else ''):>20}"
              f"{(f'{snap * 1000:.0f} ms' if snap else ''):>10}")


if __name__ == "__main__":
    main()
