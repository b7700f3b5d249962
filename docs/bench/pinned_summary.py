#!/usr/bin/env python3
"""The table of docs/bench/pinned.sh: raw rates and open-loop steps, medians of the runs."""
import glob
import json
import os
import re
import statistics
import sys

out, db = sys.argv[1], sys.argv[2]


def med(values):
    return statistics.median(values) if values else None


raws = {}
methods = {}
for name in (f"raw_{db}", f"raw_{db}_copy"):
    path = f"{out}/{name}.jsonl"
    if os.path.exists(path):
        lines = [json.loads(line) for line in open(path) if line.strip()]
        raws[name] = [r["rows_per_second"] for r in lines]
        first = lines[0]
        methods[name] = f"{first['method']}, {first['chunk']} rows/txn, {first['connections']} conn"
print("| | records/s | success | P50 ms | P99 ms (runs) | % of raw (median) | errors |")
print("|---|---|---|---|---|---|---|")
for name, runs in raws.items():
    method = methods[name]
    shown = ", ".join(f"{r:,.0f}" for r in runs)
    print(f"| raw ({method}) | {shown} (median **{med(runs):,.0f}**) | | | | | |")
# The share is of the fastest method's rate (COPY's on PostgreSQL).
raw = max((med(runs) for runs in raws.values()), default=None)
by_run = {}
for path in glob.glob(f"{out}/open_{db}_*_*.json"):
    # open_DB_RATE_I.json, or open_DB_SETTINGS_RATE_I.json (pinned.sh's VARIANTS)
    m = re.search(rf"open_{db}_(?:(.+)_)?(\d+)_\d+\.json$", path)
    key = (m.group(1) or "default", int(m.group(2)))
    by_run.setdefault(key, []).append(json.load(open(path))["report"])
for settings, rate in sorted(by_run):
    reps = [r for r in by_run[(settings, rate)] if "latency_ms" in r]
    if not reps:
        continue
    ack = med([r["records"]["acknowledged_per_s"] for r in reps])
    ok = med([r["requests"]["success_rate_pct"] for r in reps])
    p50 = med([r["latency_ms"]["p50"] for r in reps])
    p99s = [r["latency_ms"]["p99"] for r in reps]
    errors = {}
    for r in reps:
        for e in r.get("errors", []):
            errors[e["kind"]] = errors.get(e["kind"], 0) + e["count"]
    lost = sum(r.get("verify", {}).get("lost", 0) or 0 for r in reps)
    err = ", ".join(f"{k} {v}" for k, v in errors.items()) or "none"
    share = f"{100 * ack / raw:.0f} %" if raw else "–"
    p99 = ", ".join(f"{p:,.0f}" for p in p99s)
    print(
        f"| {settings}: {rate * 100:,} offered | {ack:,.0f} | {ok:.1f} % | {p50:,.0f} | "
        f"{p99} (median **{med(p99s):,.0f}**) | {share} | {err}; lost {lost} |"
    )
