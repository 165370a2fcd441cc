#!/usr/bin/env bash
# Runs Tests/Peers/handwritten_service.py (the hand-written SIGUSR1 handler and hook; leaking 20 MiB/s up to 300 MiB) with memory-monitor as its
# sidecar on this machine, for DURATION seconds (default 40), and prints what each action did and
# reclaimed. Thresholds are scaled down (warning 60, critical 100, emergency 250 MiB) so every
# level is reached in seconds. Both processes are stopped by pid at the end.
#
#   scripts/auto-response-demo.sh [DURATION]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
duration="${1:-40}"
# The newer of the release and debug builds.
binary="$(ls -t "$root/.build/release/memory-monitor" "$root/.build/debug/memory-monitor" 2>/dev/null | head -1)"
[ -n "$binary" ] || { echo "build first: swift build -c release" >&2; exit 1; }
echo "binary: $binary"
work="$(mktemp -d)"
app_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
health_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.json" <<JSON
{"monitoring": {"check_interval": 0.5, "listen_address": "127.0.0.1", "health_port": $health_port, "prometheus_port": $health_port,
                "leak_detection": {"enabled": false}},
 "experimental": {"predictive_alerting": false},
 "thresholds": {"memory_warning_mb": 60, "memory_critical_mb": 100, "memory_emergency_mb": 250},
 "alerting": {"alert_levels": {"warning": {"channels": ["log"]}, "critical": {"channels": ["log"]}, "emergency": {"channels": ["log"]}}},
 "auto_response": {"cooldown_seconds": 10, "settle_seconds": 1,
   "warning_actions": {"signal": "SIGUSR1"},
   "critical_actions": {"http_hook": "http://127.0.0.1:$app_port/admin/memory"},
   "emergency_actions": {"signal": "SIGUSR1", "restart": {"signal": "SIGTERM", "max_per_hour": 3}}}}
JSON
PORT=$app_port LEAK_MB_PER_SECOND=20 LEAK_LIMIT_MB=300 EVENTS_FILE="$work/events.jsonl" \
    python3 "$root/Tests/Peers/handwritten_service.py" > "$work/app.log" 2>&1 &
app=$!
monitor=""
cleanup() { kill "$app" ${monitor:+"$monitor"} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sleep 1
"$binary" --config "$work/config.json" --pid "$app" > "$work/monitor.log" 2>&1 &
monitor=$!
sleep "$duration"
curl -s "http://127.0.0.1:$health_port/health/actions?hours=1" > "$work/actions.json"
[ -s "$work/actions.json" ] || { echo "no answer from the monitor:"; tail -20 "$work/monitor.log"; exit 1; }
python3 - "$work/actions.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mib = lambda v: "-" if v is None else "%.1f MiB" % (v / 1048576)
print("%-8s %-9s %-10s %-7s %11s %10s %10s" % ("time", "level", "action", "result", "rss before", "rss after", "reclaimed"))
for a in reversed(d["actions"]):
    print("%-8s %-9s %-10s %-7s %11s %10s %10s" % (a["timestamp"][11:19], a["level"], a["action"], a["result"],
          mib(a["rss_before_bytes"]), mib(a["rss_after_bytes"]), mib(a["reclaimed_bytes"])))
print("actions: %d, by result: %s, reclaimed in total: %.1f MiB" % (d["total_actions"], d["by_result"], d["reclaimed_bytes"] / 1048576))
PY
echo "clean-ups the service saw:"
cat "$work/events.jsonl" 2>/dev/null || true
