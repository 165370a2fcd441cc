"""A target that records each signal it handles: one line "SIGNAME PID" in EVENTS.

usage: signal_recorder.py EVENTS TAG [--handle SIGUSR1,SIGHUP,...] [--exit-on SIGUSR1,...] [--mb N]

TAG only puts a word in the command line for --process-match. Signals in --handle are recorded
and survived; those in --exit-on are recorded, then the process exits. Any other signal keeps its
default action (SIGUSR1, SIGHUP and SIGTERM terminate). Holds N MiB resident (default 0).
"""

import os
import signal
import sys
import time

events = sys.argv[1]
args = sys.argv[3:]


def option(name, default):
    return args[args.index(name) + 1] if name in args else default


handled = [s for s in option("--handle", "").split(",") if s]
exiting = [s for s in option("--exit-on", "").split(",") if s]
held = bytearray(int(option("--mb", "0")) << 20)
for i in range(0, len(held), 4096):
    held[i] = 1


def record(signum):
    with open(events, "a") as f:
        f.write(f"{signal.Signals(signum).name} {os.getpid()}\n")


def survive(signum, frame):
    record(signum)


def leave(signum, frame):
    record(signum)
    os._exit(0)


for name in handled:
    signal.signal(getattr(signal, name), survive)
for name in exiting:
    signal.signal(getattr(signal, name), leave)
print("ready", os.getpid(), flush=True)
deadline = time.time() + 120
while time.time() < deadline:
    time.sleep(0.1)
