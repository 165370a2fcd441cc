#!/usr/bin/env python3
"""Alert quality on a corpus of memory traces: the exporter's own alerts against the bundled
Prometheus rules and a predict_linear rule as users would write it.

    swift build --product alert-replay && python3 scripts/alert-quality.py [--seeds N | --sweep [--against OTHER_REPLAY]]

Each trace (RSS in MiB every 10 s for two hours, seeded; and two recorded from real Python
processes by scripts/record-trace.py, in scripts/alert-corpus/) is replayed

- through the exporter's evaluation and routing with the trace's own clock (.build/debug/alert-replay:
  AlertEvaluator, then AlertRouter with its tick), thresholds 200/400/800 MiB, the default rate limit
  (300 s), leak window (300 s) and prediction window (600 s);
- through Prometheus's rule engine with promtool: the trace becomes the input series of a rule unit
  test whose alert_rule_test entries probe every 30 s; promtool's failure report lists the alerts that
  were firing. The rules: the bundled MemoryProcessWarning/Critical (prometheus/rules, `for: 5m`) and
  `predict_linear(memory_process_resident_bytes[10m], 600) > warning` (what users write instead of a
  trend alert).

It prints, per trace and path: notifications (firing) per level, the most of one level within one
rate-limit window, false leak or trend alerts, the detection delay of a leak, and the error of the
predicted time to the threshold.
"""
import collections
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLAY = os.path.join(ROOT, ".build", "debug", "alert-replay")
STEP = 10
DURATION = 7200
WARNING, CRITICAL, EMERGENCY = 200.0, 400.0, 800.0
RATE_LIMIT = 300
PREDICTION_WINDOW = 600
MIB = 1048576


def trace(name, f, leak_start=None, kind="steady"):
    return {"name": name, "points": [(t, f(t)) for t in range(0, DURATION + 1, STEP)], "leak_start": leak_start, "kind": kind, "step": STEP}


# Traces recorded from real Python processes by scripts/record-trace.py (see their first line).
RECORDED = {
    "example-service.csv": ("the example service, leaking 6 MiB/min (recorded)", 0, "leak"),
    "gc-heavy.csv": ("a gc-heavy Python workload, no leak (recorded)", None, "steady"),
}


def recorded():
    out = []
    for file, (name, leak_start, kind) in RECORDED.items():
        path = os.path.join(ROOT, "scripts", "alert-corpus", file)
        if not os.path.exists(path):
            continue
        points = []
        for line in open(path):
            if line.startswith("#") or not line.strip():
                continue
            t, v = line.split(",")
            points.append((float(t), float(v)))
        step = round((points[-1][0] - points[0][0]) / max(1, len(points) - 1))
        out.append({"name": name, "points": points, "leak_start": leak_start, "kind": kind, "step": step})
    return out


def corpus():
    rng = random.Random(20261206)
    noise = {t: rng.gauss(0, 8) for t in range(0, DURATION + 1, STEP)}
    flap = {t: rng.gauss(0, 2) for t in range(0, DURATION + 1, STEP)}
    out = []
    for rate in (3, 10, 40):  # MiB/min, from 100 MiB after 10 flat minutes
        out.append(trace(f"linear leak {rate} MiB/min", lambda t, r=rate: 100 + max(0, t - 600) * r / 60, leak_start=600, kind="leak"))
    out.append(trace("slow leak under noise (5 MiB/min, sd 8)", lambda t: 100 + max(0, t - 600) * 5 / 60 + noise[t], leak_start=600, kind="leak"))
    out.append(trace("step +90 MiB, then flat", lambda t: 100 if t < 1800 else 190))
    for period in (60, 600, 1800):
        out.append(trace(f"sawtooth {period} s (80-180 MiB)", lambda t, p=period: 80 + 100 * (t % p) / p))
    out.append(trace("flapping around warning (±15 MiB, 30 s)", lambda t: 200 + (15 if (t // 30) % 2 == 0 else -15) + flap[t], kind="flapping"))
    out.append(trace("cache warm-up, then flat (to 180 MiB)", lambda t: 50 + 130 * (1 - math.exp(-t / 600))))
    out.append(trace("daily cycle in 2 h (60-180 MiB)", lambda t: 120 + 60 * math.sin(2 * math.pi * t / 7200)))
    return out + recorded()


def first_reaching(points, level_mb, after):
    for t, v in points:
        if t >= after and v >= level_mb:
            return t
    return None


def replay_exporter(tr, window, replay=None):
    text = "\n".join(f"{t},{v:.3f}" for t, v in tr["points"]) + "\n"
    args = [replay or REPLAY, "--warning-mb", str(WARNING), "--critical-mb", str(CRITICAL), "--emergency-mb", str(EMERGENCY),
            "--rate-limit", str(RATE_LIMIT), "--prediction-window", str(PREDICTION_WINDOW), "--window", str(window)]
    result = subprocess.run(args, input=text, capture_output=True, text=True, check=True, timeout=120)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [l for l in lines if l.get("sent")], [l for l in lines if "held" in l]


RULES_EXTRA = f"""groups:
  - name: replay.predict_linear
    rules:
      - alert: PredictLinearWarning
        expr: predict_linear(memory_process_resident_bytes[10m], {PREDICTION_WINDOW}) > {int(WARNING * MIB)}
        labels:
          severity: warning
          component: memory_trend
"""

PROBED = ["MemoryProcessWarning", "MemoryProcessCritical", "PredictLinearWarning"]
PROBE_STEP = 30


def go_duration(text):
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(h|ms|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def replay_rules(tr, directory):
    values = " ".join(str(int(v * MIB)) for _, v in tr["points"])
    thresholds = "\n".join(
        f"""      - series: 'memory_threshold_bytes{{job="j",instance="i",component="process_memory",severity="{s}"}}'
        values: '{int(mb * MIB)}x{len(tr["points"])}'""" for s, mb in (("warning", WARNING), ("critical", CRITICAL), ("emergency", EMERGENCY)))
    probes = "\n".join(
        f"      - {{eval_time: {t}s, alertname: {name}, exp_alerts: []}}"
        for t in range(PROBE_STEP, int(tr["points"][-1][0]) + 1, PROBE_STEP) for name in PROBED)
    test = f"""rule_files:
  - {os.path.join(ROOT, "prometheus", "rules", "memory-monitor.alerts.yml")}
  - {os.path.join(directory, "extra.yml")}
evaluation_interval: {tr["step"]}s
tests:
  - interval: {tr["step"]}s
    input_series:
      - series: 'memory_process_resident_bytes{{job="j",instance="i"}}'
        values: '{values}'
{thresholds}
    alert_rule_test:
{probes}
"""
    with open(os.path.join(directory, "extra.yml"), "w") as f:
        f.write(RULES_EXTRA)
    path = os.path.join(directory, "test.yml")
    with open(path, "w") as f:
        f.write(test)
    result = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True, timeout=600)
    firing = {name: [] for name in PROBED}
    for block in re.split(r"\n\s*alertname: ", result.stdout + result.stderr)[1:]:
        head = re.match(r"(\w+), time: ([^,]+),", block)
        if head and "Labels:" in block.split("got:", 1)[-1]:
            firing[head.group(1)].append(go_duration(head.group(2)))
    return {name: sorted(times) for name, times in firing.items()}


def episodes(times, step):
    """Start times of runs of consecutive probe times."""
    starts, last = [], None
    for t in times:
        if last is None or t - last > step:
            starts.append(t)
        last = t
    return starts


def most_in_window(times, window):
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


def exporter_row(tr, window=300):
    sent, held = replay_exporter(tr, window)
    fires = [s for s in sent if s["status"] == "firing"]
    per_level = {lvl: [s["t"] for s in fires if s["severity"] == lvl and s["component"] == "process_memory"] for lvl in ("warning", "critical", "emergency")}
    growth = [s for s in fires if s["component"] in ("memory_leak", "memory_trend")]
    false_growth, false_leaks, errors, within, asked, late = 0, 0, [], [], [], []
    for s in growth:
        if s["component"] == "memory_leak":
            if tr["kind"] != "leak":
                false_growth += 1
                false_leaks += 1
            continue
        if s.get("message", "").startswith("FLAPPING"):
            continue  # a notice without a prediction, in the flapping column
        level = WARNING if not any(t <= s["t"] for t in per_level["warning"]) else CRITICAL
        crossing = first_reaching(tr["points"], level, s["t"])
        if crossing is None or crossing - s["t"] > PREDICTION_WINDOW:
            false_growth += 1
        # The error of every prediction whose crossing came, also one that came past the
        # prediction window (it said "in about 10 min" and the crossing came after 10.5).
        if crossing is not None and crossing > s["t"]:
            actual = crossing - s["t"]
            errors.append(abs(s["value"] - actual) / actual)
            asked.append((s["t"], level, actual))
            if actual <= PREDICTION_WINDOW:
                within.append(errors[-1])
            else:
                late.append((actual - s["value"]) / s["value"])
    flapping_by = collections.Counter(s["component"] for s in sent if s.get("message", "").startswith("FLAPPING"))
    delay = None
    after = [s["t"] for s in growth if tr["leak_start"] is not None and s["t"] >= tr["leak_start"]]
    if after:
        delay = min(after) - tr["leak_start"]
    return {
        "sent": {lvl: len(ts) for lvl, ts in per_level.items()},
        "per_window": max(most_in_window(ts, RATE_LIMIT) for ts in per_level.values()),
        "flapping_notices": sum(flapping_by.values()),
        "flapping_by": flapping_by,
        "leak_resolves": sum(1 for s in sent if s["component"] == "memory_leak" and s["status"] == "resolved"),
        "held": len(held),
        "false": false_growth,
        "false_leaks": false_leaks,
        "delay": delay,
        "error": statistics.median(errors) if errors else None,
        "errors": errors,
        "within": within,
        "late": late,
        "asked": asked,
    }


def rules_row(tr, directory):
    firing = replay_rules(tr, directory)
    per_level = {"warning": episodes(firing["MemoryProcessWarning"], PROBE_STEP), "critical": episodes(firing["MemoryProcessCritical"], PROBE_STEP)}
    predicted = episodes(firing["PredictLinearWarning"], PROBE_STEP)
    false_growth = 0
    for start in predicted:
        crossing = first_reaching(tr["points"], WARNING, start)
        if crossing is None or crossing - start > PREDICTION_WINDOW:
            false_growth += 1
    delay = None
    after = [t for t in predicted if tr["leak_start"] is not None and t >= tr["leak_start"]]
    if after:
        delay = after[0] - tr["leak_start"]
    return {
        "sent": {"warning": len(per_level["warning"]) + len(predicted), "critical": len(per_level["critical"]), "emergency": 0},
        "per_window": max(most_in_window(ts, RATE_LIMIT) for ts in (per_level["warning"] + predicted, per_level["critical"])),
        "flapping_notices": 0,
        "held": 0,
        "false": false_growth,
        "false_leaks": 0,
        "delay": delay,
        "error": None,
    }


def cell(value, suffix=""):
    return "—" if value is None else f"{value:.0f}{suffix}" if isinstance(value, (int, float)) and suffix != "%" else f"{value * 100:.1f}%"


def first_passage(line, sd, t0, level, rng, runs=1000):
    """The median time from t0 to the first sample (every STEP s) of line + normal noise at or above level."""
    times = []
    for _ in range(runs):
        t = t0 + STEP
        while line(t) + rng.gauss(0, sd) < level and t < t0 + 100 * PREDICTION_WINDOW:
            t += STEP
        times.append(t - t0)
    return statistics.median(times)


def median_percent(values):
    return f"{statistics.median(values) * 100:.1f} %" if values else "—"


def seeded(seeds):
    """The noisy traces again with other seeds, so that no figure rests on one draw of noise:
    the slow leak under noise (with the 300 s and the 1800 s leak window), the same noise on a
    flat level, and a gc-heavy-like flat level with spikes. Prints the detection delays, the trend
    alerts' time-to-threshold errors against an oracle's, and the false leak or trend alerts."""
    line = lambda t: 100 + max(0, t - 600) * 5 / 60
    false_flat, false_spiky = 0, 0
    per_window = {w: {"delays": [], "missed": 0, "errors": [], "within": [], "late": [], "oracle": [], "false": 0, "leads": [], "flapping": {}, "leak_resolves": 0} for w in (300, 1800)}
    for seed in range(1, seeds + 1):
        rng = random.Random(seed)
        noise = {t: rng.gauss(0, 8) for t in range(0, DURATION + 1, STEP)}
        spikes = {t: (rng.random() < 0.05) * rng.uniform(20, 60) for t in range(0, DURATION + 1, STEP)}
        for window, acc in per_window.items():
            leak = exporter_row(trace("noisy leak", lambda t: 100 + max(0, t - 600) * 5 / 60 + noise[t], leak_start=600, kind="leak"), window)
            acc["errors"] += leak["errors"]
            acc["within"] += leak["within"]
            acc["late"] += leak["late"]
            acc["false"] += leak["false"]
            acc["leak_resolves"] += leak["leak_resolves"]
            for component, n in leak["flapping_by"].items():
                acc["flapping"][component] = acc["flapping"].get(component, 0) + n
            acc["leads"] += [actual for t, level, actual in leak["asked"] if level == WARNING][:1]
            acc["oracle"] += [abs(first_passage(line, 8, t, level, rng) - actual) / actual for t, level, actual in leak["asked"]]
            if leak["delay"] is None:
                acc["missed"] += 1
            else:
                acc["delays"].append(leak["delay"])
        false_flat += exporter_row(trace("noise", lambda t: 100 + noise[t]))["false"]
        false_spiky += exporter_row(trace("spiky", lambda t: 100 + noise[t] + spikes[t]))["false"]
    for window, acc in per_window.items():
        delays, errors, oracle = sorted(acc["delays"]), acc["errors"], acc["oracle"]
        print(f"{seeds} seeds, leak window {window} s:")
        print(f"- slow leak under noise (5 MiB/min, sd 8): detected in {len(delays)} of {seeds}; delay median "
              f"{statistics.median(delays) if delays else float('nan'):.0f} s, max {max(delays) if delays else float('nan'):.0f} s")
        within, late = acc["within"], acc["late"]
        print(f"- leak alerts resolved while the leak went on (it leaks to the end of the trace): {acc['leak_resolves']}")
        print(f"- its trend alerts whose crossing came: {len(errors)}, time-to-threshold error median "
              f"{median_percent(errors)}, 90th percentile "
              f"{sorted(errors)[int(len(errors) * 0.9)] * 100 if errors else float('nan'):.1f} %; "
              f"of those whose crossing came within the prediction window ({len(within)}): median {median_percent(within)}")
        leads = acc["leads"]
        print(f"- a trend alert before the warning crossing in {len(leads)} of {seeds}; its lead median "
              f"{statistics.median(leads) if leads else float('nan'):.0f} s, least {min(leads) if leads else float('nan'):.0f} s")
        print(f"- {acc['false']} trend alerts whose crossing did not come within the prediction window; "
              f"of them {len(late)} came later, a median {median_percent(late)} (at most "
              f"{max(late) * 100 if late else float('nan'):.1f} %) later than said")
        print(f"- flapping notices: {acc['flapping'].get('process_memory', 0)} on process_memory (the level crossing the warning "
              f"back and forth under the noise), {acc['flapping'].get('memory_trend', 0)} on memory_trend")
        print(f"- an oracle that knows the line and the noise, asked at the same moments for the median time to the first sample "
              f"over the threshold: error median {statistics.median(oracle) * 100 if oracle else float('nan'):.1f} % (what any prediction "
              f"from this trace can hope for: the noise decides which sample crosses first)")
    print(f"Leak window 300 s, flat level under the same noise: {false_flat} false leak or trend alerts")
    print(f"Leak window 300 s, flat level under noise with spikes of 20-60 MiB (5 % of samples): {false_spiky} false leak or trend alerts")


def sweep_traces():
    """Non-leaking shapes beyond the corpus, for the leak rule: warm-ups with time constants from
    2 minutes to 80 minutes under three noise levels and three scales, cycles of 30 minutes to 4
    hours, sawtooths, and a rise that slows throughout (50 + 2√t MiB)."""
    rng = random.Random(11)
    out = {}
    for tau in (120, 300, 600, 1200, 2400, 4800):
        for sd in (0, 2, 8):
            for base, amp in ((50, 130), (100, 60), (20, 150)):
                out[f"warm-up tau {tau} s, sd {sd}, {base}+{amp} MiB"] = [(t, base + amp * (1 - math.exp(-t / tau)) + rng.gauss(0, sd)) for t in range(0, DURATION + 1, STEP)]
    for period in (1800, 3600, 7200, 14400):
        for sd in (0, 2):
            out[f"cycle {period} s, sd {sd}"] = [(t, 120 + 60 * math.sin(2 * math.pi * t / period) + rng.gauss(0, sd)) for t in range(0, DURATION + 1, STEP)]
    for period in (300, 900, 2400):
        out[f"sawtooth {period} s"] = [(t, 80 + 100 * (t % period) / period) for t in range(0, DURATION + 1, STEP)]
    for sd in (0, 2):
        out[f"50 + 2 sqrt(t), sd {sd}"] = [(t, 50 + 2 * math.sqrt(t) + rng.gauss(0, sd)) for t in range(0, DURATION + 1, STEP)]
    return out


def scaled(traces, peak):
    """Each trace scaled so that its highest sample is `peak` MiB."""
    out = {}
    for name, points in traces.items():
        highest = max(v for _, v in points)
        out[name] = [(t, v * peak / highest) for t, v in points]
    return out


def sweep(against):
    """Prints when the leak alerts fire on `sweep_traces` with both leak windows, and with
    --against OTHER (another build of alert-replay) where the two differ; then the trend alerts
    on the same shapes scaled to level off just under the warning threshold, and the first trend
    alert on them scaled to peak a quarter over it."""
    def runs(traces, alerts, describe):
        """Each trace and window's `alerts` (a list from the sent notifications) with the sent
        notifications, printing where --against gives other ones; the count of those that differ."""
        out, differ = [], 0
        for name, points in traces.items():
            for window in (300, 1800):
                sent = replay_exporter({"points": points}, window)[0]
                mine = alerts(sent)
                if against:
                    other = alerts(replay_exporter({"points": points}, window, against)[0])
                    if other != mine:
                        differ += 1
                        print(f"{describe(name, window, mine)}, {other} with {against}")
                out.append((name, window, mine, sent))
        return out, (f"; {differ} differ from {against}" if against else "")

    def leak_alerts(sent):
        return [s["t"] for s in sent if s["component"] == "memory_leak" and s["status"] == "firing"]

    traces = sweep_traces()
    leaks, differ = runs(traces, leak_alerts, lambda name, window, ts: f"{name}, window {window} s: leak alerts at {ts} s")
    if not against:
        for name, window, ts, _ in leaks:
            if ts:
                print(f"{name}, window {window} s: leak alerts at {ts} s")
    print(f"{len(traces)} traces, two windows: {sum(len(ts) for _, _, ts, _ in leaks)} leak alerts" + differ)
    # How long those (all false: none of the shapes leaks) stay open, and how many are still
    # open at the end of the trace.
    open_seconds, still_open = 0, 0
    for name, _, _, sent in leaks:
        since = None
        for s in sent:
            if s["component"] != "memory_leak":
                continue
            if s["status"] == "firing":
                since = s["t"]
            elif since is not None:
                open_seconds, since = open_seconds + s["t"] - since, None
        if since is not None:
            open_seconds, still_open = open_seconds + traces[name][-1][0] - since, still_open + 1
    print(f"Those leak alerts open for {open_seconds:.0f} s in all; {still_open} still open at the end of their trace")

    # The same shapes scaled so that their highest sample is 195 MiB, just under the 200 MiB
    # warning: a service whose steady level sits under its threshold, as thresholds are set. None
    # crosses, so every trend alert toward warning is false.
    def trend_notifications(sent):
        return [(s["t"], s.get("message", "").endswith("(updated)")) for s in sent if s["component"] == "memory_trend"
                and s["status"] == "firing" and not s.get("message", "").startswith("FLAPPING")]

    near = scaled(traces, WARNING - 5)
    trends, differ = runs(near, trend_notifications, lambda name, window, ns:
                          f"{name} under {WARNING - 5:.0f} MiB, window {window} s: trend notifications (time, an update) {ns}")
    started = sum(1 for _, _, ns, _ in trends for _, updated in ns if not updated)
    print(f"The same traces with their highest sample at {WARNING - 5:.0f} MiB (warning {WARNING:.0f}): {started} trend alerts, "
          f"{sum(len(ns) for _, _, ns, _ in trends)} notifications with their updates, all false, on "
          f"{sum(1 for _, _, ns, _ in trends if ns)} of {len(trends)} traces and windows" + differ)

    # Scaled so that the highest sample is a quarter over the warning: every trace crosses it
    # once the shape is high enough, and a trend alert before that crossing is what it is for.
    # Counted: the first trend alert before the first crossing, as warned within the prediction
    # window (its lead) or earlier than that, and the traces with none before the crossing.
    over = scaled(traces, WARNING * 1.25)
    firsts, differ = runs(over, lambda sent: [t for t, updated in trend_notifications(sent) if not updated][:1],
                          lambda name, window, ts: f"{name} up to {WARNING * 1.25:.0f} MiB, window {window} s: first trend alert at {ts}")
    leads, early, missed = [], 0, 0
    for name, window, ts, _ in firsts:
        crossing = first_reaching(over[name], WARNING, 0)
        if not ts or ts[0] >= crossing:
            missed += 1
        elif crossing - ts[0] > PREDICTION_WINDOW:
            early += 1
        else:
            leads.append(crossing - ts[0])
    print(f"The same traces with their highest sample at {WARNING * 1.25:.0f} MiB: a trend alert within the prediction window "
          f"before the warning crossing on {len(leads)} of {len(firsts)} traces and windows (lead median "
          f"{statistics.median(leads) if leads else float('nan'):.0f} s), earlier than that on {early}, none before it on {missed}" + differ)


def main():
    if not os.path.exists(REPLAY):
        sys.exit("build the replay tool first: swift build --product alert-replay")
    if "--sweep" in sys.argv:
        sweep(sys.argv[sys.argv.index("--against") + 1] if "--against" in sys.argv else None)
        return
    if "--seeds" in sys.argv:
        seeded(int(sys.argv[sys.argv.index("--seeds") + 1]))
        return
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for tr in corpus():
            rows.append((tr, "exporter", exporter_row(tr)))
            rows.append((tr, "exporter, leak window 1800 s", exporter_row(tr, 1800)))
            rows.append((tr, "rules + predict_linear", rules_row(tr, directory)))
    print("| trace | path | notifications (rules: firing episodes) w/c/e | most of one level in 300 s | flapping notices | false alerts (of them leak) | leak detected after | time-to-threshold error (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for tr, path, r in rows:
        sent = "/".join(str(r["sent"][lvl]) for lvl in ("warning", "critical", "emergency"))
        delay = "—" if r["delay"] is None else f"{r['delay']:.0f} s"
        error = "—" if r["error"] is None else f"{r['error'] * 100:.1f} %"
        print(f"| {tr['name']} | {path} | {sent} | {r['per_window']} | {r['flapping_notices']} | {r['false']} ({r['false_leaks']}) | {delay} | {error} |")


if __name__ == "__main__":
    main()
