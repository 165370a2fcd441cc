"""A process whose memory a test controls through a file: when CONTROL_FILE holds "N" (a count),
the process keeps N blocks of STEP MiB allocated and touched. Usage: memory_hog.py STEP CONTROL_FILE.
Prints "ready", then "blocks N" each time the count changes. (A file, not signals: a test runner
may block SIGUSR1/2, and children inherit the mask.) With MM_HOG_NAME set, the process first
names itself that (its comm: any bytes but NUL, at most 15), as a hostile process could."""
import os
import sys
import time

if os.environ.get("MM_HOG_NAME"):
    with open("/proc/self/comm", "wb") as f:
        f.write(os.environ["MM_HOG_NAME"].encode())

step = int(sys.argv[1]) * 1048576
control = sys.argv[2]
blocks = []
print("ready", flush=True)
while True:
    try:
        with open(control) as f:
            wanted = int(f.read().strip() or 0)
    except (OSError, ValueError):
        wanted = len(blocks)
    if wanted != len(blocks):
        while len(blocks) < wanted:
            blocks.append(bytearray(b"\x01") * step)
        del blocks[wanted:]
        print("blocks", len(blocks), flush=True)
    time.sleep(0.05)
