"""A Python service with memory-monitor's runtime agent, for the agent's integration tests.

Environment:
  MODE          threads | asyncio: 16 workers pass the agent's gate in a loop (default: none)
  BALLAST_MB    resident memory held for the service's lifetime (sets the level against thresholds)
  CYCLES        reference cycles made at start with the collector disabled (only gc.collect() frees them)
  HANG_CLEARER  a cache clearer that hangs this many seconds
  AGENT_DIR     where the agent's socket goes (MEMORY_MONITOR_AGENT_DIR)
Prints one JSON line when ready: pid, socket, cycles made.
"""

import asyncio
import gc
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
if os.environ.get("AGENT_DIR"):
    os.environ["MEMORY_MONITOR_AGENT_DIR"] = os.environ["AGENT_DIR"]
import memory_monitor_agent as agent  # noqa: E402


class Node:
    def __init__(self):
        self.partner = None
        self.payload = bytearray(2048)  # above pymalloc's small-object limit: malloc'd, trimmable


ballast = bytes(os.urandom(16)) * (int(float(os.environ.get("BALLAST_MB", "0")) * (1 << 20)) // 16)
cache = {i: bytes(os.urandom(16)) * 4096 for i in range(64)}  # 4 MiB the clearer frees


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.partner, b.partner = b, a


def main():
    cycles = int(os.environ.get("CYCLES", "0"))
    if cycles:
        gc.disable()
        gc.collect()
        make_cycles(cycles)
    agent.start()
    agent.add_cache_clearer(cache.clear, name="cache.clear")
    hang = float(os.environ.get("HANG_CLEARER", "0"))
    if hang:
        agent.add_cache_clearer(lambda: time.sleep(hang), name="hangs")
    mode = os.environ.get("MODE", "")
    print(json.dumps({"pid": os.getpid(), "socket": agent.socket_path(), "cycles": cycles, "mode": mode}), flush=True)
    if mode == "threads":
        def worker():
            while True:
                with agent.gate():
                    time.sleep(0.02)

        for _ in range(16):
            threading.Thread(target=worker, daemon=True).start()
        while True:
            time.sleep(3600)
    elif mode == "asyncio":
        async def worker():
            while True:
                async with agent.gate():
                    await asyncio.sleep(0.02)

        async def run():
            await asyncio.gather(*(worker() for _ in range(16)))

        asyncio.run(run())
    else:
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
