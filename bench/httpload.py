#!/usr/bin/env python3
"""Open-loop HTTP load for the admin API: requests at a fixed rate, latency from the scheduled time.

Each request is scheduled at ``start + i / rate``; its latency is measured from that
time, not from when a worker got to it, so a stalled server shows up in the figures
instead of slowing the load down (no coordinated omission).  Requests cycle through
the kinds given with ``--kind NAME=PATH`` (``{id}`` in a path is replaced by a random
id from ``--ids LO:HI``, or from the kind's own range with ``--kind NAME@LO:HI=PATH``; ``{id:06d}``
formats it, ``{ip}`` is the id as an address of 10.0.0.0/8); keep-alive connections, one per worker
thread.  ``--token`` sends an API bearer token, ``--header`` any other header (a portal session's
``Cookie``).  Stops after
``--duration`` seconds or on SIGUSR1; prints a JSON summary per kind and overall.

    bench/httpload.py --url http://127.0.0.1:8080 --token T --rate 200 --duration 20 \\
        --kind first=/api/v1/customers --kind detail=/api/v1/customers/{id} --ids 1:100000
"""
from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from typing import Any

#: ``{id}`` or ``{id:06d}`` in a path
ID = re.compile(r"\{id(?::([0-9a-z]+))?\}")


def with_id(path: str, n: int) -> str:
    """``path`` with its ``{id}`` / ``{id:FORMAT}`` replaced by ``n`` and ``{ip}`` by 10.x.y.z of ``n``."""
    return ID.sub(lambda m: format(n, m.group(1) or ""), path).replace(
        "{ip}", f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def summarise(lat: list[float], errors: int, statuses: dict[int, int]) -> dict[str, Any]:
    s = sorted(lat)
    return {"requests": len(lat) + errors, "ok": len(lat), "errors": errors,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "p50_ms": round(percentile(s, 0.50) * 1000, 2), "p99_ms": round(percentile(s, 0.99) * 1000, 2),
            "max_ms": round((s[-1] if s else 0.0) * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--token", default="", help="an API bearer token (sent as Authorization)")
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                   help="another request header, e.g. a portal session's Cookie (repeatable)")
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--kind", action="append", required=True,
                   help="NAME=PATH or NAME@LO:HI=PATH ({id} or {id:06d}: a random id)")
    p.add_argument("--ids", default="1:1", help="LO:HI for {id}")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    o = p.parse_args(argv)
    lo, hi = (int(x) for x in o.ids.split(":"))
    kinds: list[tuple[str, str, int, int]] = []
    for k in o.kind:
        head, path = k.split("=", 1)
        name, _, span = head.partition("@")
        klo, khi = (int(x) for x in span.split(":")) if span else (lo, hi)
        kinds.append((name, path, klo, khi))
    rng = random.Random(o.seed)
    target = urllib.parse.urlsplit(o.url)
    headers = {"Authorization": f"Bearer {o.token}", "Accept": "application/json"} if o.token else {}
    for h in o.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    todo: queue.Queue[tuple[float, str, str] | None] = queue.Queue()
    lock = threading.Lock()
    results: dict[str, tuple[list[float], list[int], dict[int, int]]] = {
        name: ([], [0], {}) for name, *_ in kinds}

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while True:
            item = todo.get()
            if item is None:
                return
            due, name, path = item
            status = 0
            try:
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            took = time.perf_counter() - due
            with lock:
                lat, err, st = results[name]
                st[status] = st.get(status, 0) + 1
                if 200 <= status < 300:
                    lat.append(took)
                else:
                    err[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(o.workers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    i = 0
    max_lag = 0.0
    while not stop.is_set():
        due = t0 + i / o.rate
        if due - t0 > o.duration:
            break
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            max_lag = max(max_lag, now - due)
        name, path, klo, khi = kinds[i % len(kinds)]
        todo.put((due, name, with_id(path, rng.randint(klo, khi))))
        i += 1
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"sent": i, "seconds": round(elapsed, 2), "offered_per_s": round(i / elapsed, 1),
                           "max_send_lag_ms": round(max_lag * 1000, 2), "kinds": {}}
    every: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    for name, (lat, err, st) in results.items():
        out["kinds"][name] = summarise(lat, err[0], st)
        every += lat
        errors += err[0]
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
    out["all"] = summarise(every, errors, statuses)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
