"""Holds MB mebibytes and survives SIGTERM, writing a line to EVENTS for each: a target that a
restart action signals again and again (the restart-loop guard's test).

usage: stubborn.py MB EVENTS
"""

import signal
import sys
import time

size = int(sys.argv[1]) << 20
events = sys.argv[2]
held = bytes(size // 2) + b"x" * (size - size // 2)  # touched: resident
held = bytearray(held)
for i in range(0, len(held), 4096):
    held[i] = 1


def on_term(signum, frame):
    with open(events, "a") as f:
        f.write("SIGTERM\n")


signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
deadline = time.time() + 120
while time.time() < deadline:
    time.sleep(0.1)
