#!/usr/bin/env python3
"""Memory per connection: open N keep-alive connections to a local server, send one request
on each (`none`: nothing, `get`: GET /api/health, `post`: one 100-record upload), keep them
open for a few seconds. Pair with docs/bench/connections.sh, which samples the server's RSS.

    connections.py N none|get|post PORT [HOLD_SECONDS]
"""
import asyncio
import json
import sys
import time

N, MODE, PORT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
HOLD = float(sys.argv[4]) if len(sys.argv) > 4 else 6.0


def body(i):
    t = int(time.time()) - 100000
    records = [{"deviceSn": "TEST_%04d" % (i % 1000 + 1), "heartRate": 70 + j % 20,
                "bloodOxygen": 97, "temperature": 36.5, "timestamp": t - i * 200 - j,
                "step": 100, "latitude": 22.5, "longitude": 114.0} for j in range(100)]
    return json.dumps({"data": records}).encode()


async def one(i, conns):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    if MODE == "none":
        conns.append((reader, writer, b"none"))
        return
    if MODE == "get":
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    else:
        b = body(i)
        writer.write(b"POST /upload_health_data_batch HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
    if length:
        await reader.readexactly(length[0])
    conns.append((reader, writer, head.split(b" ")[1]))


async def main():
    conns, gate = [], asyncio.Semaphore(200)

    async def guarded(i):
        async with gate:
            for _ in range(20):
                try:
                    return await one(i, conns)
                except OSError:
                    await asyncio.sleep(0.2)

    await asyncio.gather(*[guarded(i) for i in range(N)])
    codes = {}
    for c in conns:
        codes[c[2].decode()] = codes.get(c[2].decode(), 0) + 1
    print("open", len(conns), codes, flush=True)
    await asyncio.sleep(HOLD)

asyncio.run(main())
