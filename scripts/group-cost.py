#!/usr/bin/env python3
"""Cost of watching a group of processes: memory-monitor (--process-match) against
process-exporter (the same processes by a config matching the same command lines), for groups
of 1, 10, 100, 200 and 500 cheap sleepers started here (`exec -a crawler-worker-<tag> sleep`),
all stopped by pid at the end. Loopback only, bounded.

For each size: CPU time per scrape of each exporter over SCRAPES scrapes (memory-monitor with
scrape_max_age_seconds 0, so every scrape runs a full check of the group: Pss from smaps_rollup
within its budget, status, fds), the ratio, memory-monitor's check duration p50 from its
histogram, and its anonymous memory after the run. Prints a Markdown table.

    scripts/group-cost.py [--sizes 1,10,100,200,500] [--scrapes 200] [--binary .build/release/memory-monitor]
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def anonymous_kib(pid):
    text = open(f"/proc/{pid}/status").read()
    return int(re.search(r"^RssAnon:\s+(\d+) kB", text, re.M).group(1))


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def wait_http(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            get(url)
            return True
        except Exception:
            time.sleep(0.1)
    return False


def measure(pid, url, scrapes):
    for _ in range(5):
        get(url)  # warm up
    before = cpu_seconds(pid)
    started = time.time()
    for _ in range(scrapes):
        get(url)
    return (cpu_seconds(pid) - before) / scrapes, (time.time() - started) / scrapes


def run_groups(binary, sizes, scrapes):
    """Measures each group size; returns rows (size, mm µs, pe µs, ratio, mm wall ms, RssAnon KiB, Pss deferred)."""
    tag = f"{os.getpid()}"
    name = f"crawler-worker-{tag}"
    rows = []
    sleepers = []
    try:
        for size in sizes:
            while len(sleepers) < size:
                sleepers.append(subprocess.Popen(["bash", "-c", f"exec -a {name} sleep 900"]))
            time.sleep(0.5)
            # memory-monitor: every scrape a full check of the group.
            mm_port = free_port()
            config = f"/tmp/group-cost-{tag}.json"
            open(config, "w").write('{"monitoring": {"scrape_max_age_seconds": 0, "check_interval": 3600}}')
            mm = subprocess.Popen([binary, "--config", config, "--process-match", f"^{name}", "--health-port", "0",
                                   "--prometheus-port", str(mm_port), "--listen-address", "127.0.0.1", "--log-level", "warning"])
            pe_port = free_port()
            pe_config = f"/tmp/group-cost-{tag}.yml"
            open(pe_config, "w").write(f"process_names:\n  - name: crawler\n    cmdline:\n      - '^{name}'\n")
            pe = subprocess.Popen(["prometheus-process-exporter", "-config.path", pe_config, "-web.listen-address", f"127.0.0.1:{pe_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert wait_http(f"http://127.0.0.1:{mm_port}/metrics") and wait_http(f"http://127.0.0.1:{pe_port}/metrics")
                text = get(f"http://127.0.0.1:{mm_port}/metrics").decode()
                seen = re.search(r"^memory_target_processes (\d+)", text, re.M)
                if not seen or int(seen.group(1)) != size:
                    sys.exit(f"memory-monitor sees {seen and seen.group(1)} processes, expected {size}")
                pe_text = get(f"http://127.0.0.1:{pe_port}/metrics").decode()
                pe_seen = re.search(r'^namedprocess_namegroup_num_procs\{groupname="crawler"\} (\d+)', pe_text, re.M)
                if not pe_seen or int(pe_seen.group(1)) != size:
                    sys.exit(f"process-exporter sees {pe_seen and pe_seen.group(1)} processes, expected {size}")
                mm_cpu, mm_wall = measure(mm.pid, f"http://127.0.0.1:{mm_port}/metrics", scrapes)
                pe_cpu, pe_wall = measure(pe.pid, f"http://127.0.0.1:{pe_port}/metrics", scrapes)
                text = get(f"http://127.0.0.1:{mm_port}/metrics").decode()
                skipped = re.search(r"^memory_pss_skipped_total (\S+)", text, re.M).group(1)
                rows.append((size, mm_cpu * 1e6, pe_cpu * 1e6, mm_cpu / pe_cpu if pe_cpu else float("nan"), mm_wall * 1e3,
                             anonymous_kib(mm.pid), skipped))
            finally:
                for p in (mm, pe):
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=10)
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
    return rows


def table(rows):
    lines = ["| processes | memory-monitor CPU per scrape (µs) | process-exporter CPU per scrape (µs) | ratio | memory-monitor scrape wall (ms) | memory-monitor RssAnon (KiB) | Pss reads deferred |",
             "|---|---|---|---|---|---|---|"]
    for size, mm, pe, ratio, wall, anon, skipped in rows:
        lines.append(f"| {size} | {mm:.0f} | {pe:.0f} | {ratio:.2f} | {wall:.2f} | {anon} | {skipped} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,200,500")
    parser.add_argument("--scrapes", type=int, default=200)
    default = max((p for p in [f"{ROOT}/.build/release/memory-monitor", f"{ROOT}/.build/debug/memory-monitor"] if os.path.exists(p)),
                  key=os.path.getmtime)
    parser.add_argument("--binary", default=default)
    args = parser.parse_args()
    rows = run_groups(args.binary, [int(s) for s in args.sizes.split(",")], args.scrapes)
    print(f"binary: {args.binary}; {args.scrapes} scrapes per exporter and size; CPU per scrape from /proc/PID/stat (10 ms ticks)")
    print()
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
