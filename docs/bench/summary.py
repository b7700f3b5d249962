#!/usr/bin/env python3
"""Markdown tables from the JSON files of docs/bench/matrix.sh (medians of repeated runs)."""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/ljwx-bench")


def load(path):
    with open(path) as f:
        return json.load(f)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def errors(report, kind):
    return sum(e["count"] for e in report.get("errors", []) if e["kind"] == kind)


print("### Raw insert rate (median of 3, rows/s)\n")
print("| database | method | rows/s (runs) | median |")
print("|---|---|---|---|")
raw = {}
for name in ["sqlite", "mariadb", "postgres_multi", "postgres_copy"]:
    path = f"{out}/raw_{name}.jsonl"
    if not os.path.exists(path):
        continue
    runs = [json.loads(line) for line in open(path) if line.strip()]
    rates = [r["rows_per_second"] for r in runs]
    raw[name] = med(rates)
    r0 = runs[0]
    print(f"| {name.split('_')[0]} | {r0['method']}, {r0['chunk']} rows/txn, {r0['connections']} conn | "
          f"{', '.join(fmt(x) for x in rates)} | **{fmt(raw[name])}** |")

print("\n### Seed workload: 5000 users, 100 records/batch, think 1–5 s, 60 s (median of 3)\n")
print("| database | requests | success | 503 (all with Retry-After) | timeouts | P50 ms | P99 ms | acknowledged rec/s | stored rec/s | lost | server peak RSS MiB | server CPU s | load generator CPU s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for db in ["sqlite", "mariadb", "postgres"]:
    runs = [load(p) for p in sorted(glob.glob(f"{out}/seed_{db}_*.json"))]
    if not runs:
        continue
    rep = [r["report"] for r in runs]
    row = {
        "req": med([r["requests"]["total"] for r in rep]),
        "ok": med([r["requests"]["success_rate_pct"] for r in rep]),
        "503": med([errors(r, "HTTP_503") for r in rep]),
        "503_without": sum(r["retry_after"]["http_503"]["without"] for r in rep),
        "timeout": med([errors(r, "timeout") for r in rep]),
        "p50": med([r["latency_ms"]["p50"] for r in rep]),
        "p99": med([r["latency_ms"]["p99"] for r in rep]),
        "ack": med([r["records"]["acknowledged_per_s"] for r in rep]),
        "stored": med([r["verify"]["stored"] / r["elapsed_s"] for r in rep if r.get("verify")]),
        "lost": sum(r["verify"]["lost"] for r in rep if r.get("verify")),
        "rss": med([r["server_peak_rss_mib"] for r in runs]),
        "cpu": med([r["server_cpu_seconds"] for r in runs]),
        "scpu": med([r["stress_cpu_seconds"] for r in runs]),
    }
    print(f"| {db} | {fmt(row['req'])} | {fmt(row['ok'], 1)} % | {fmt(row['503'])} ({row['503_without']} without) | "
          f"{fmt(row['timeout'])} | {fmt(row['p50'], 1)} | {fmt(row['p99'], 1)} | {fmt(row['ack'])} | {fmt(row['stored'])} | "
          f"{row['lost']} | {fmt(row['rss'], 1)} | {fmt(row['cpu'], 1)} | {fmt(row['scpu'], 1)} |")

print("\n### Open loop: fixed request rate, 100 records/request, 20 s (latency from the scheduled send)\n")
print("| database | offered rec/s | acknowledged rec/s | success | P50 ms | P99 ms | errors | lost |")
print("|---|---|---|---|---|---|---|---|")
for db in ["sqlite", "mariadb", "postgres"]:
    paths = glob.glob(f"{out}/open_{db}_*.json")
    for path in sorted(paths, key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0])):
        r = load(path)["report"]
        rate = int(path.rsplit("_", 1)[1].split(".")[0])
        errs = ", ".join(f"{e['kind']} {e['count']}" for e in r.get("errors", [])) or "none"
        lost = r["verify"]["lost"] if r.get("verify") else None
        print(f"| {db} | {fmt(rate * 100)} | {fmt(r['records']['acknowledged_per_s'])} | {fmt(r['requests']['success_rate_pct'], 1)} % | "
              f"{fmt(r['latency_ms']['p50'], 1)} | {fmt(r['latency_ms']['p99'], 1)} | {errs} | {lost} |")

print("\n### Writer sweeps on MariaDB, open loop 40,000 rec/s offered (45,000 for the writer count)\n")
print("| setting | acknowledged rec/s | success | P50 ms | P99 ms |")
print("|---|---|---|---|---|")
for path in sorted(glob.glob(f"{out}/sweep_*.json")):
    r = load(path)["report"]
    name = os.path.basename(path)[6:-5]
    print(f"| {name} | {fmt(r['records']['acknowledged_per_s'])} | {fmt(r['requests']['success_rate_pct'], 1)} % | "
          f"{fmt(r['latency_ms']['p50'], 1)} | {fmt(r['latency_ms']['p99'], 1)} |")
