#!/usr/bin/env python3
"""Records a memory trace from a real process for scripts/alert-quality.py's corpus: starts the
command, reads its VmRSS every STEP seconds for SECONDS, writes "seconds,rss_mib" lines, stops
the process by its pid.

    scripts/record-trace.py OUT.csv SECONDS STEP -- COMMAND...
"""
import os
import signal
import subprocess
import sys
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit(__doc__)
    out, seconds, step, command = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[5:]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    rows = []
    try:
        while (elapsed := time.monotonic() - start) <= seconds:
            value = rss_mib(process.pid)
            if value is not None:
                rows.append(f"{round(elapsed)},{value:.1f}")
            time.sleep(max(0.0, step - (time.monotonic() - start - elapsed)))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with open(out, "w") as f:
        f.write("# " + " ".join(command) + f" (every {step:g} s for {seconds:g} s)\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
