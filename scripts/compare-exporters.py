#!/usr/bin/env python3
"""Side-by-side cost of memory-monitor and the exporters a user would pick instead, in one run.

Runs on 127.0.0.1 only, each for a bounded time, and stops everything it started by PID:
  - memory-monitor (release build, --static-swift-stdlib)
  - prometheus-node-exporter restricted to the memory collectors (meminfo, pressure, vmstat)
  - prometheus-process-exporter watching one process
  - a Python prometheus_client exporter with its default collectors (process, platform, gc)
For each: wrk throughput and p50/p99 latency on /metrics, plain and gzip, at the same connection
count; CPU time per scrape; memory after the load from /proc/PID/smaps_rollup (Rss, Pss, and
Anonymous: heap and stacks, the memory a process really adds; file-backed code pages are shared
page cache the kernel can drop); the binary's stripped size; response size plain and gzip. For
memory-monitor alone: CPU over an idle period at a 1 s check interval, and check duration p50/p99
from its own per-check history. With --size-levers, also builds memory-monitor with each size
lever (strip, -Osize, --gc-sections) and reports the stripped size and anonymous memory of each.
Prints tables with ratios and writes docs/benchmarks.md.

Also: the live check against node_exporter (memory-monitor checking itself each second while
node_exporter's memory collectors are scraped each second, in the same window), and a process
group of 1 to 500 processes against process-exporter (scripts/group-cost.py).

Usage: scripts/compare-exporters.py [--duration 10] [--connections 4] [--idle-seconds 60] [--group-sizes 1,10,100,200,500]
                                    [--live-warmup 300] [--size-levers] [--no-write] [--live-only]
"""
import argparse
import datetime
import importlib.util
import gzip
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.sysconf("SC_PAGE_SIZE")

# The process-group measurement, and the helpers both scripts use (free ports, waiting for an
# endpoint, CPU time from /proc/PID/stat), live in scripts/group-cost.py.
_spec = importlib.util.spec_from_file_location("group_cost", os.path.join(ROOT, "scripts", "group-cost.py"))
group_cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(group_cost)
free_port, wait_http, cpu_seconds = group_cost.free_port, group_cost.wait_http, group_cost.cpu_seconds

PYTHON_EXPORTER = """
import sys, time
from prometheus_client import start_http_server
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def rollup(pid):
    """Rss, Pss and Anonymous in bytes from /proc/PID/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("Rss:", "Pss:", "Anonymous:"):
                values[parts[0][:-1].lower()] = int(parts[1]) * 1024
    return values


def stripped_size(path):
    """Size of a stripped copy of an executable (Debian's binaries ship stripped already)."""
    if not path or not os.path.exists(path):
        return None
    copy = f"/tmp/mm-size-{os.getpid()}-{os.path.basename(path)}"
    shutil.copy(path, copy)
    subprocess.run(["strip", copy], check=False, capture_output=True)
    size = os.path.getsize(copy)
    os.remove(copy)
    return size


# What Prometheus 2.42 sends with native histograms on (protobuf first), and without.
PROTOBUF = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
            "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
OPENMETRICS = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
               "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def fetch(url, gzip_ok, accept=None):
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
        return len(body), r.headers.get("Content-Encoding") == "gzip"


def unix_time(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def cpu_ns(pid):
    """CPU time of every thread of pid, in ns (/proc/PID/task/*/schedstat; finer than stat's ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def run_wrk(url, duration, connections, gzip_ok, accept=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if gzip_ok:
        cmd[1:1] = ["-H", "Accept-Encoding: gzip"]
    if accept:
        cmd[1:1] = ["-H", f"Accept: {accept}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]

    return {"rps": rps, "requests": total, "p50_us": pct(50), "p99_us": pct(99), "errors": int(errors.group(1)) if errors else 0}


class Started:
    def __init__(self, name, cmd, url, env=None):
        self.name, self.url = name, url
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if not wait_http(url):
            self.stop()
            raise SystemExit(f"{name} did not start: {' '.join(cmd)}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def ensure_tools():
    missing = [p for p, binary in [("wrk", "wrk"), ("prometheus-node-exporter", "prometheus-node-exporter"),
                                   ("prometheus-process-exporter", "prometheus-process-exporter")] if not shutil.which(binary)]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    venv_python = os.path.join(ROOT, ".venv", "bin", "python3")
    if not os.path.exists(venv_python) or subprocess.run([venv_python, "-c", "import prometheus_client"]).returncode != 0:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-test-deps.sh")], check=True)
    binary = os.path.join(ROOT, ".build", "release", "memory-monitor")
    print("building memory-monitor (release, --static-swift-stdlib)...", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "memory-monitor"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return binary, venv_python


LEVERS = [
    ("release (not stripped)", [], False),
    ("release, stripped", [], True),
    ("-Osize, stripped", ["-Xswiftc", "-Osize"], True),
    ("--gc-sections, stripped", ["-Xlinker", "--gc-sections"], True),
    ("-Osize and --gc-sections, stripped", ["-Xswiftc", "-Osize", "-Xlinker", "--gc-sections"], True),
]


def measure_levers():
    """Builds each lever into its own scratch path and measures size and idle memory."""
    rows = []
    for label, flags, strip in LEVERS:
        scratch = os.path.join(ROOT, ".build-size-" + re.sub(r"[^a-z0-9]+", "-", " ".join(flags).lower()).strip("-") if flags else ".build")
        print(f"building: {label}", flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "memory-monitor", "--scratch-path", scratch]
                       + flags, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        built = os.path.join(scratch, "release", "memory-monitor")
        path = built
        if strip:
            path = f"/tmp/mm-lever-{os.getpid()}"
            shutil.copy(built, path)
            subprocess.run(["strip", path], check=True)
        port, health = free_port(), free_port()
        s = Started(label, [path, "--listen-address", "127.0.0.1", "--prometheus-port", str(port), "--health-port", str(health),
                            "--check-interval", "0.2", "--log-level", "warning"], f"http://127.0.0.1:{health}/health")
        time.sleep(2)
        mem = rollup(s.pid)
        s.stop()
        rows.append((label, os.path.getsize(path), mem))
        if strip:
            os.remove(path)
    return rows


def quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = q * (len(ordered) - 1)
    lo, hi = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (index - lo)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per exporter and encoding")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (one thread)")
    parser.add_argument("--idle-seconds", type=int, default=60, help="idle CPU measurement of memory-monitor")
    parser.add_argument("--size-levers", action="store_true", help="also build and measure each binary-size lever (minutes)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    parser.add_argument("--group-sizes", default="1,10,100,200,500",
                        help="process-group sizes measured against process-exporter (scripts/group-cost.py); empty to skip")
    parser.add_argument("--group-scrapes", type=int, default=200, help="scrapes per exporter and group size")
    parser.add_argument("--live-warmup", type=int, default=300,
                        help="seconds memory-monitor checks before the live window opens (default 300, the default "
                             "leak-detection window: the growth tracker then holds a full window, as in steady state)")
    parser.add_argument("--live-only", action="store_true",
                        help="only the idle run and the live-check comparison with node_exporter; prints, writes nothing")
    args = parser.parse_args()

    binary, venv_python = ensure_tools()
    levers = measure_levers() if args.size_levers else []
    started = []
    results = {}
    try:
        mm_port, mm_health = free_port(), free_port()
        ne_port, pe_port, py_port = free_port(), free_port(), free_port()
        sleeper = subprocess.Popen(["sleep", "3600"])
        started.append(type("S", (), {"stop": lambda self: (sleeper.kill(), sleeper.wait())})())
        pb_port, pb_health = free_port(), free_port()
        om_port, om_health = free_port(), free_port()
        exporters = [
            ("memory-monitor", [binary, "--listen-address", "127.0.0.1", "--prometheus-port", str(mm_port), "--health-port", str(mm_health),
                                "--check-interval", "1", "--log-level", "warning"], mm_port),
            ("memory-monitor, OpenMetrics", [binary, "--listen-address", "127.0.0.1", "--prometheus-port", str(om_port), "--health-port",
                                             str(om_health), "--check-interval", "1", "--log-level", "warning"], om_port),
            ("memory-monitor, protobuf", [binary, "--listen-address", "127.0.0.1", "--prometheus-port", str(pb_port), "--health-port",
                                          str(pb_health), "--check-interval", "1", "--log-level", "warning"], pb_port),
            ("node_exporter (memory collectors)", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}",
                                                   "--collector.disable-defaults", "--collector.meminfo", "--collector.pressure",
                                                   "--collector.vmstat", "--log.level=warn"], ne_port),
            ("process-exporter", ["prometheus-process-exporter", "-web.listen-address", f"127.0.0.1:{pe_port}", "-procnames", "sleep"], pe_port),
            ("python prometheus_client", [venv_python, "-c", PYTHON_EXPORTER, str(py_port)], py_port),
        ]
        for name, cmd, port in ([] if args.live_only else exporters):
            url = f"http://127.0.0.1:{port}/metrics"
            accept = PROTOBUF if name.endswith("protobuf") else (OPENMETRICS if name.endswith("OpenMetrics") else None)
            s = Started(name, cmd, url)
            started.append(s)
            row = {}
            row["size_plain"], _ = fetch(url, False, accept)
            row["size_gzip"], gz = fetch(url, True, accept)
            row["gzip_supported"] = gz
            for mode, gzip_ok in (("plain", False), ("gzip", True)):
                before = cpu_seconds(s.pid)
                w = run_wrk(url, args.duration, args.connections, gzip_ok, accept)
                used = cpu_seconds(s.pid) - before
                w["cpu_us_per_scrape"] = used / max(w["requests"], 1) * 1e6
                row[mode] = w
            row["rss_after"] = rss_bytes(s.pid)
            row.update(rollup(s.pid))
            row["binary"] = stripped_size(cmd[0] if os.path.isabs(cmd[0]) else shutil.which(cmd[0])) if "python" not in name else None
            results[name] = row
            s.stop()
            print(f"measured {name}", flush=True)

        # memory-monitor idle: no scrapes, 1 s checks.
        idle_port, idle_health = free_port(), free_port()
        idle = Started("memory-monitor idle", [binary, "--listen-address", "127.0.0.1", "--prometheus-port", str(idle_port),
                                               "--health-port", str(idle_health), "--check-interval", "1", "--log-level", "warning"],
                       f"http://127.0.0.1:{idle_health}/health")
        started.append(idle)
        # Steady state: a check in the first minutes fits fewer points than one after the leak
        # window (300 s by default) has filled, so the window opens after it.
        if args.live_warmup > 0:
            print(f"live check: {args.live_warmup} s warm-up (the leak window fills)", flush=True)
            time.sleep(args.live_warmup)
        # The live-check comparison, in the same window: node_exporter (memory collectors) scraped
        # once a second while memory-monitor checks itself once a second, unscraped.
        live_port = free_port()
        live_url = f"http://127.0.0.1:{live_port}/metrics"
        live_ne = Started("node_exporter live", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{live_port}",
                                                 "--collector.disable-defaults", "--collector.meminfo", "--collector.pressure",
                                                 "--collector.vmstat", "--log.level=warn"], live_url)
        started.append(live_ne)
        time.sleep(2)
        window_start = time.time()
        before = cpu_seconds(idle.pid)
        before_ns = cpu_ns(idle.pid)
        ne_scrapes = []
        tick = time.time()
        while time.time() < window_start + args.idle_seconds:
            b = cpu_ns(live_ne.pid)
            with urllib.request.urlopen(live_url, timeout=10) as r:
                r.read()
            ne_scrapes.append((cpu_ns(live_ne.pid) - b) / 1000)
            tick += 1
            time.sleep(max(0, tick - time.time()))
        window = time.time() - window_start
        idle_cpu = (cpu_seconds(idle.pid) - before) / window * 100
        mm_cpu_us = (cpu_ns(idle.pid) - before_ns) / 1000
        with urllib.request.urlopen(f"http://127.0.0.1:{idle_health}/health/metrics/history?hours=1", timeout=10) as r:
            history = json.load(r)
        in_window = [s for s in history["samples"] if s.get("check_duration_seconds") and unix_time(s["timestamp"]) >= window_start]
        durations = [s["check_duration_seconds"] * 1e6 for s in in_window]
        mm_cpu_per_check = mm_cpu_us / max(len(in_window), 1)
        idle_rss = rss_bytes(idle.pid)
        live_ne.stop()
        idle.stop()
    finally:
        for s in reversed(started):
            s.stop()

    ne_p50 = quantile(ne_scrapes, 0.5)
    live = [
        "## The live check against node_exporter\n",
        f"In the same {args.idle_seconds} s window, opened after memory-monitor has checked itself once a second for "
        f"{args.live_warmup} s"
        + (" (so its leak tracker holds a full default window, as in steady state)" if args.live_warmup >= 300
           else " (its leak tracker holds less than the default 300 s window: cheaper than the steady state)")
        + ": memory-monitor checks "
        f"itself once a second (no scrapes), while "
        f"node_exporter with only its memory collectors (`--collector.disable-defaults --collector.meminfo "
        f"--collector.pressure --collector.vmstat`) is scraped once a second. node_exporter's cost is the CPU its threads "
        f"used during each scrape (`/proc/PID/task/*/schedstat`, ns); memory-monitor's is the duration of each check "
        f"from its own history, and its whole CPU over the window divided by its checks (timers and idle work included). "
        f"Target: memory-monitor's check p50 at most 0.15× node_exporter's CPU per scrape.\n",
        "| | p50 (µs) | p99 (µs) | mean CPU (µs) | count |",
        "|---|---|---|---|---|",
        f"| memory-monitor check (wall) | {quantile(durations, 0.5):.0f} | {quantile(durations, 0.99):.0f} | "
        f"{mm_cpu_per_check:.0f} (per check, all threads) | {len(durations)} |",
        f"| node_exporter scrape (CPU) | {ne_p50:.0f} | {quantile(ne_scrapes, 0.99):.0f} | {statistics.mean(ne_scrapes):.0f} | {len(ne_scrapes)} |",
        "",
        f"Ratio: memory-monitor check p50 / node_exporter CPU per scrape p50 = **{quantile(durations, 0.5) / ne_p50:.2f}×**; "
        f"CPU per check (mean) / node_exporter CPU per scrape (mean) = {mm_cpu_per_check / statistics.mean(ne_scrapes):.2f}×.",
    ]
    if args.live_only:
        print("\n".join(live))
        return
    groups = []
    if args.group_sizes:
        group_rows = group_cost.run_groups(binary, [int(s) for s in args.group_sizes.split(",")], args.group_scrapes)
        groups = [
            "## A group of processes against process-exporter\n",
            f"For each size the script starts that many cheap sleepers renamed by `exec -a crawler-worker-<tag> sleep 900` (stopped "
            f"by pid at the end), runs memory-monitor with `--process-match '^crawler-worker-<tag>'` and `scrape_max_age_seconds: 0` "
            f"(so **every scrape runs a full check of the group**: every command line on the host matched, each member's status and "
            f"descriptors read, Pss within its budget), and process-exporter with a config matching the same command lines; checks "
            f"that both see exactly that many processes; then scrapes each {args.group_scrapes} times and divides the CPU time each "
            f"used (`/proc/PID/stat`, 10 ms ticks) by the scrapes. Target at 200 processes: at most 0.2×.\n",
        ] + group_cost.table(group_rows) + [
            "",
            "Read with care: process-exporter reads `smaps` of every process at every scrape (its default `-gather-smaps=true`); "
            "memory-monitor re-reads `smaps_rollup` every `pss_refresh_seconds` (30 s) and spends at most `pss_budget_seconds` "
            "(0.1 s) on it per check; that is each tool's default, and part of why the ratio falls as the group grows. The floor at "
            "one process is the match itself: every check reads the command line of every process on the host. In normal operation "
            "a scrape is served from the snapshot of the last check; this table is the cost of the check itself.\n",
        ]
    mm = results["memory-monitor"]
    lines = []
    cmd = "scripts/compare-exporters.py" + ("" if (args.duration, args.connections, args.idle_seconds) == (10, 4, 60)
                                            else f" --duration {args.duration} --connections {args.connections} --idle-seconds {args.idle_seconds}")
    lines.append("# Benchmarks: memory-monitor side by side\n")
    lines.append(f"Produced by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores, "
                 f"Linux {platform.release()}, wrk -t1 -c{args.connections} -d{args.duration}s per row, all on 127.0.0.1, "
                 "one exporter at a time. Ratios are memory-monitor's advantage (higher is better for memory-monitor).\n")
    header = "| exporter | req/s plain | req/s gzip | p50 / p99 plain (µs) | p50 / p99 gzip (µs) | CPU per scrape plain / gzip (µs) | RSS after load (MiB) | body plain / gzip (bytes) |"
    lines.append(header)
    lines.append("|" + "---|" * 8)
    for name, r in results.items():
        gz = r["size_gzip"] if r["gzip_supported"] else f"{r['size_gzip']} (no gzip)"
        lines.append(f"| {name} | {r['plain']['rps']:.0f} | {r['gzip']['rps']:.0f} | {r['plain']['p50_us']:.0f} / {r['plain']['p99_us']:.0f} | "
                     f"{r['gzip']['p50_us']:.0f} / {r['gzip']['p99_us']:.0f} | {r['plain']['cpu_us_per_scrape']:.1f} / {r['gzip']['cpu_us_per_scrape']:.1f} | "
                     f"{r['rss_after'] / 1048576:.1f} | {r['size_plain']} / {gz} |")
    lines.append("")
    lines.append("| memory-monitor vs | throughput plain | throughput gzip | CPU per scrape plain | CPU per scrape gzip | RSS after load |")
    lines.append("|---|---|---|---|---|---|")
    for name, r in results.items():
        if name.startswith("memory-monitor"):
            continue
        lines.append(f"| {name} | {mm['plain']['rps'] / r['plain']['rps']:.1f}× | {mm['gzip']['rps'] / r['gzip']['rps']:.1f}× | "
                     f"{r['plain']['cpu_us_per_scrape'] / mm['plain']['cpu_us_per_scrape']:.1f}× less | "
                     f"{r['gzip']['cpu_us_per_scrape'] / mm['gzip']['cpu_us_per_scrape']:.1f}× less | "
                     f"{r['rss_after'] / mm['rss_after']:.2f}× smaller |")
    lines.append("")
    pb = results.get("memory-monitor, protobuf")
    om = results.get("memory-monitor, OpenMetrics")
    if pb and om:
        lines.append("The two extra memory-monitor rows send the `Accept` header Prometheus 2.42 sends: with native histograms "
                     "(protobuf first) and without (OpenMetrics first); the first row sends none (text 0.0.4). "
                     f"Protobuf against OpenMetrics: {pb['plain']['rps'] / om['plain']['rps']:.2f}× the plain throughput, "
                     f"{pb['gzip']['rps'] / om['gzip']['rps']:.2f}× the gzip throughput; body {pb['size_plain']} bytes "
                     f"({pb['size_gzip']} gzip) against {om['size_plain']} ({om['size_gzip']}).\n")
    lines.append("Memory after the load, from `/proc/PID/smaps_rollup`. Anonymous memory (heap, stacks) is what a process really adds; "
                 "Rss also counts the binary's file-backed code pages, which are page cache the kernel can reclaim and share.\n")
    lines.append("| exporter | Rss (MiB) | Pss (MiB) | Anonymous (MiB) | binary, stripped (MiB) |")
    lines.append("|---|---|---|---|---|")
    for name, r in results.items():
        binary = f"{r['binary'] / 1048576:.1f}" if r.get("binary") else "n/a (interpreter)"
        lines.append(f"| {name} | {r['rss'] / 1048576:.1f} | {r['pss'] / 1048576:.1f} | {r['anonymous'] / 1048576:.1f} | {binary} |")
    lines.append("")
    lines.append("| memory-monitor vs | Anonymous | Pss | Rss |")
    lines.append("|---|---|---|---|")
    for name, r in results.items():
        if name.startswith("memory-monitor"):
            continue
        lines.append(f"| {name} | {r['anonymous'] / mm['anonymous']:.2f}× less | {r['pss'] / mm['pss']:.2f}× less | {r['rss'] / mm['rss']:.2f}× less |")
    lines.append("")
    if levers:
        lines.append("Binary-size levers for memory-monitor (`--size-levers`): each a release build with `--static-swift-stdlib`, "
                     "measured idle after 10 checks at a 0.2 s interval.\n")
        lines.append("| build | binary (MiB) | Rss idle (MiB) | Anonymous idle (MiB) |")
        lines.append("|---|---|---|---|")
        for label, size, mem in levers:
            lines.append(f"| {label} | {size / 1048576:.1f} | {mem['rss'] / 1048576:.1f} | {mem['anonymous'] / 1048576:.1f} |")
        lines.append("")
    lines.append(f"memory-monitor alone, {args.idle_seconds} s idle at a 1 s check interval after {args.live_warmup} s of checks, no scrapes: CPU {idle_cpu:.3f} % of one core; "
                 f"RSS {idle_rss / 1048576:.1f} MiB; check duration over {len(durations)} checks (its own per-check history): "
                 f"p50 {quantile(durations, 0.5):.0f} µs, p99 {quantile(durations, 0.99):.0f} µs.\n")
    lines.extend(live)
    if groups:
        lines.append("")
        lines.extend(groups)
    errors = {n: (r["plain"]["errors"], r["gzip"]["errors"]) for n, r in results.items() if r["plain"]["errors"] or r["gzip"]["errors"]}
    if errors:
        lines.append(f"\nNon-2xx responses during load: {errors}")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        kept = ""
        if os.path.exists(path):
            # Keep the micro-benchmark section (written by hand from `swift package benchmark`).
            old = open(path).read()
            marker = "<!-- micro-benchmarks -->"
            if marker in old:
                kept = "\n" + old[old.index(marker):]
        with open(path, "w") as f:
            f.write(text + kept)
        print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
