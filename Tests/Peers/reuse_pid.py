"""Waits for process PID to exit, then starts a new process with the same pid (through
/proc/sys/kernel/ns_last_pid, as root) that records each signal it receives in EVENTS.

usage: reuse_pid.py PID EVENTS

Prints "reused PID" once the new process runs with that pid, or "failed" and exits 1. Stopped
by SIGTERM to this process, which kills the new process too.
"""

import os
import signal
import sys
import time

pid = int(sys.argv[1])
events = sys.argv[2]
deadline = time.time() + 60
while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
    time.sleep(0.005)

child = None
for attempt in range(500):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))
    r, w = os.pipe()
    forked = os.fork()
    if forked == 0:
        os.close(r)
        if os.getpid() != pid:
            os._exit(0)

        def record(signum, frame):
            with open(events, "a") as f:
                f.write(f"{signal.Signals(signum).name} {os.getpid()}\n")

        for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
            signal.signal(s, record)
        os.write(w, b"x")
        os.close(w)
        end = time.time() + 120
        while time.time() < end:
            time.sleep(0.1)
        os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    if got:
        child = forked
        break
    os.waitpid(forked, 0)

if child is None:
    print("failed", flush=True)
    sys.exit(1)


def stop(signum, frame):
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
print("reused", pid, flush=True)
while True:
    time.sleep(0.1)
