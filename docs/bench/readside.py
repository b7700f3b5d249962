#!/usr/bin/env python3
"""Times the read API, one request at a time over one keep-alive connection (readside.sh).

Arguments: base URL, read token, device prefix (BENCH<run>_), first sample time (epoch s),
samples per device, requests per kind, backend, rows. Prints one JSON line per kind.
"""
import http.client, json, random, statistics, sys, time, urllib.parse

base, token, prefix, start, per_device, requests, backend, rows = sys.argv[1:]
start, per_device, requests = int(start), int(per_device), int(requests)
host = urllib.parse.urlparse(base).netloc
conn = http.client.HTTPConnection(host, timeout=60)
headers = {"Authorization": f"Bearer {token}"}
rng = random.Random(20261205)


def get(path):
    began = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    ms = (time.perf_counter() - began) * 1000
    if resp.status != 200:
        raise SystemExit(f"{path}: {resp.status} {body[:200]!r}")
    return ms, body


def when():
    return start + rng.randrange(max(1, per_device - 200))


def device():
    n = rng.randrange(1000)
    return f"{prefix}{n:04d}", n + 1


def device_page():
    sn, _ = device()
    return get(f"/api/devices/{sn}/samples?limit=100&from={when()}")


def device_next_page():
    # A first page shorter than what the device holds from its time on, so that a next page
    # exists even when there are only a few samples per device (a small ROWS).
    sn, _ = device()
    at = when()
    first = max(1, min(50, (start + per_device - at) // 2))
    _, body = get(f"/api/devices/{sn}/samples?limit={first}&from={at}")
    cursor = json.loads(body).get("next_cursor")
    if cursor is None:
        raise SystemExit(f"{sn}: no next page after {first} samples from {at}")
    return get(f"/api/devices/{sn}/samples?limit=100&cursor={cursor}")


def user_page():
    _, user = device()
    return get(f"/api/users/{user}/samples?limit=100&from={when()}")


def latest():
    sn, _ = device()
    return get(f"/api/devices/{sn}/latest")


def summary():
    _, user = device()
    return get(f"/api/users/{user}/summary?from={start}&to={start + per_device}&bucket=hour")


def fhir_search():
    _, user = device()
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when()))
    return get(f"/fhir/Observation?subject=Patient/{user}&_count=50&date=ge{t}")


def omh():
    _, user = device()
    return get(f"/api/users/{user}/omh?schema=heart-rate&limit=100&from={when()}")


for name, call in [("device page", device_page), ("device next page", device_next_page),
                   ("wearer page", user_page), ("latest", latest), ("summary hourly", summary),
                   ("FHIR search", fhir_search), ("Open mHealth", omh)]:
    call()  # warm the connection and the statement cache
    times = sorted(call()[0] for _ in range(requests))
    pct = lambda p: times[min(len(times) - 1, int(len(times) * p))]
    print(json.dumps({"backend": backend, "rows": int(rows), "call": name, "requests": requests,
                      "p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(0.95), 2),
                      "p99_ms": round(pct(0.99), 2), "max_ms": round(times[-1], 2)}))
