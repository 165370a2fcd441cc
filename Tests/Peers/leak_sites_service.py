"""A Python service with three allocation sites, for the leak-site tests (issue 27):

- leaking steadily: a module-level list appended in `remember` (LEAK_LINE below), 2 MB/s;
  with DEEP=1 it is reached through `handle_request` -> `remember`;
- churning: `churn` allocates and frees about as much each second;
- large and static: `STATIC`, made at start.

MODE=asyncio runs the same on an event loop. Prints one JSON line when ready, with the leaking
line's number.
"""

import asyncio
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import memory_monitor_agent as agent  # noqa: E402

STATIC = [bytearray(1000) for _ in range(30000)]  # 30 MB, made once
remembered = []
LEAK_LINE = None


def remember(n):
    for _ in range(n):
        remembered.append(bytearray(1000))  # the leak


def handle_request(n):
    remember(n)


def churn():
    scratch = [bytearray(1000) for _ in range(200)]
    return len(scratch)


def tick():
    if os.environ.get("DEEP"):
        handle_request(200)
    else:
        remember(200)
    churn()


def main():
    global LEAK_LINE
    LEAK_LINE = [n for n, text in enumerate(open(__file__), 1) if text.rstrip().endswith("# the leak")][0]
    agent.start()
    print(json.dumps({"pid": os.getpid(), "socket": agent.socket_path(), "leak_line": LEAK_LINE,
                      "mode": os.environ.get("MODE", "threads")}), flush=True)
    if os.environ.get("MODE") == "asyncio":
        async def run():
            while True:
                tick()
                await asyncio.sleep(0.1)

        asyncio.run(run())
    else:
        def run():
            while True:
                tick()
                time.sleep(0.1)

        threading.Thread(target=run, daemon=True).start()
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
