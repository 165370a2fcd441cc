#!/usr/bin/env python3
"""Loads grafana/dashboards/memory-monitor.json with grafana-foundation-sdk (PyPI), writes it back
out and loads that again: the round trip must keep every panel's title, type, grid position,
unit and query. Prints what it compared; exits 1 on any difference.

    .venv/bin/python scripts/check-dashboard.py
"""
import json
import os
import sys

from grafana_foundation_sdk.models.dashboard import Dashboard

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
original = json.load(open(os.path.join(root, "grafana/dashboards/memory-monitor.json")))


def plain(value):
    """to_json() returns nested SDK objects; make them JSON."""
    return json.loads(json.dumps(value, default=lambda o: o.to_json() if hasattr(o, "to_json") else str(o)))


def summary(dashboard_json):
    panels = []
    for p in dashboard_json.get("panels", []):
        panels.append({
            "title": p.get("title"), "type": p.get("type"), "gridPos": p.get("gridPos"),
            "unit": ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit"),
            "exprs": [t.get("expr") for t in p.get("targets") or []],
        })
    return {"title": dashboard_json.get("title"), "uid": dashboard_json.get("uid"),
            "schemaVersion": dashboard_json.get("schemaVersion"), "panels": panels}


first = plain(Dashboard.from_json(original).to_json())
second = plain(Dashboard.from_json(first).to_json())
expected = summary(original)
problems = []
for name, got in [("loaded", summary(first)), ("round trip", summary(second))]:
    if got != expected:
        problems.append(f"{name} differs:\n  expected {json.dumps(expected)[:2000]}\n  got      {json.dumps(got)[:2000]}")
rows = [p["title"] for p in expected["panels"] if p["type"] == "row"]
print(f"grafana-foundation-sdk: {len(expected['panels'])} panels ({len(rows)} rows: {', '.join(rows)}), "
      f"{sum(len(p['exprs']) for p in expected['panels'])} queries kept through load and round trip")
if problems:
    print("\n".join(problems))
    sys.exit(1)
