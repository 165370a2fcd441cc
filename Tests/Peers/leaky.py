"""A process whose memory follows a pattern, for leak-detection tests.
Usage: leaky.py leak MIB_PER_SECOND SECONDS   -- grows steadily, then holds
       leaky.py sawtooth PEAK_MIB PERIOD_SECONDS SECONDS -- allocates up to PEAK over a period, frees, repeats
Prints "ready" first and "done" when the pattern ends; then sleeps until killed."""
import sys
import time

mode = sys.argv[1]
blocks = []
print("ready", flush=True)
start = time.time()
if mode == "leak":
    rate, seconds = float(sys.argv[2]), float(sys.argv[3])
    while time.time() - start < seconds:
        blocks.append(bytearray(b"\x01") * int(rate * 1048576 / 10))
        time.sleep(0.1)
else:
    peak, period, seconds = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    steps = 10
    while time.time() - start < seconds:
        for _ in range(steps):
            blocks.append(bytearray(b"\x01") * int(peak * 1048576 / steps))
            time.sleep(period / steps)
        blocks = []
print("done", flush=True)
while True:
    time.sleep(3600)
