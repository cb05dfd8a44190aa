#!/usr/bin/env python3
"""Console benchmark (domain calls, in process): customer search and the customer page at 100,000 customers.

Issue 15's target is over HTTP: customer search and the customer page at p99 under 150 ms at 20
requests/s while RADIUS auth runs at half its benchmark rate.  This measures what the domain calls
alone take (``billing.console.search`` and ``billing.console.customer_page``, each on a connection
from the pool as a request would take it), so the pages' share of the budget is known before they
exist.

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from ``tests/pg.py``):

1. **load**: bench_billing's bulk load (org ``bench``, N customers each with an e-mail, a phone
   number, a service, a login ``user%06d`` and an open invoice; the org's country GH), then
   ``--open-sessions`` open sessions (each with a Framed-IP-Address) and ``--closed-sessions``
   closed ones of the last days, a payment for every 10th customer; ANALYZE on PostgreSQL.
2. **search**: ``--calls`` searches, cycling through the forms an operator types: a full name
   (``customer 012345``), a part of a name (``12345``), a username, a login name, a phone number in
   national form (``054...``), an e-mail address, an IP of an open session; p50/p99 per form.
3. **customer page**: ``--calls`` pages of random customers; p50/p99.

Prints a table and JSON (``--json-out FILE`` too).  Run:
``.venv/bin/python bench/bench_console.py --customers 2000 --calls 200 --databases sqlite`` to try it;
the issue's figures: ``--customers 100000`` on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_billing as bb  # noqa: E402  (bench/ is on the path: the shared load helpers)

FORMS = ("name", "name_part", "username", "login", "phone", "email", "ip")


def phone_of(i: int) -> str:
    return f"+23354{i:07d}"


def ip_of(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def customer_fields(i: int) -> dict[str, Any]:
    return {"email": f"customer{i:06d}@bench.example", "phone": phone_of(i)}


def load_extra(engine: Any, org_id: int, n: int, open_sessions: int, closed_sessions: int, batch: int,
               now: datetime, seed: int = 1) -> dict[str, Any]:
    """Sessions (open ones with IPs of their own, closed ones of the last week), a payment for
    every 10th customer, the org's phone country GH."""
    import sqlalchemy as sa

    from aaad.schema import logins, nas
    from accounting.schema import sessions
    from billing import settings
    from billing.schema import customers, payments

    rng = random.Random(seed)
    t0 = time.perf_counter()
    with engine.begin() as c:
        settings.update(c, org_id, now, country="GH")
        nas_id = c.execute(sa.select(nas.c.id).where(nas.c.org_id == org_id).limit(1)).scalar_one()
        l0 = int(c.execute(sa.select(sa.func.min(logins.c.id)).where(logins.c.org_id == org_id)).scalar_one())
        c0 = int(c.execute(sa.select(sa.func.min(customers.c.id)).where(customers.c.org_id == org_id)).scalar_one())

        def session(i: int, start: datetime, stop: datetime | None) -> dict[str, Any]:
            return {"session_key": uuid.UUID(int=rng.getrandbits(128)).hex, "org_id": org_id, "nas_id": nas_id,
                    "session_id": uuid.UUID(int=rng.getrandbits(128)).hex[:16], "login_id": l0 + i,
                    "username": f"user{i:06d}", "framed_ip": ip_of(i), "start_time": start,
                    "last_update": stop or now, "stop_time": stop}
        rows = [session(i, now - timedelta(hours=rng.randint(1, 48)), None) for i in range(min(open_sessions, n))]
        for _ in range(closed_sessions):
            i = rng.randrange(n)
            start = now - timedelta(days=rng.randint(1, 7), hours=rng.randint(0, 23))
            rows.append(session(i, start, start + timedelta(hours=rng.randint(1, 10))))
        for lo in range(0, len(rows), batch):
            c.execute(sessions.insert(), rows[lo:lo + batch])
        pays = [{"org_id": org_id, "customer_id": c0 + i, "amount": 1_000, "currency": "USD", "method": "cash",
                 "reference": f"bench-{i}", "receipt_seq": i + 1, "receipt_number": f"RC-{i + 1:06d}", "note": "",
                 "received_at": now - timedelta(days=rng.randint(0, 20)), "created_at": now}
                for i in range(0, n, 10)]
        for lo in range(0, len(pays), batch):
            c.execute(payments.insert(), pays[lo:lo + batch])
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return {"sessions": len(rows), "payments": len(pays), "load_s": round(time.perf_counter() - t0, 2),
            "first_customer_id": c0}


def query_of(form: str, i: int) -> str:
    return {"name": f"customer {i:06d}", "name_part": f"{i:06d}"[1:], "username": f"cust-{i:06d}",
            "login": f"user{i:06d}", "phone": "0" + phone_of(i)[4:], "email": f"customer{i:06d}@bench.example",
            "ip": ip_of(i)}[form]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1000, 2)


def stats(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "p50_ms": pct(xs, 0.50), "p99_ms": pct(xs, 0.99), "max_ms": round(max(xs) * 1000, 2),
            "mean_ms": round(statistics.fmean(xs) * 1000, 2)}


def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    from aaad import app
    from aaad.db import sync_engine
    from billing import console

    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-console-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind}
    try:
        db_url = None
        if kind == "postgresql":
            from tests.pg import start_cluster
            pg = start_cluster()
            db_url = pg.new_database()
        conf = bb.write_config(d, db_url)
        print(f"[{kind}] loading {o.customers} customers ...", flush=True)
        res["load"] = bb.load(conf, o.customers, datetime.now(UTC).date(), o.batch, log=lambda *_: None,
                              customer_fields=customer_fields)
        org_id = res["load"]["org_id"]
        cfg = app.load_config(str(conf))
        box = app.secret_box(cfg)
        engine = sync_engine(app.prepare_storage(cfg, upgrade=False), cfg.database.busy_timeout_ms)
        now = datetime.now(UTC)
        try:
            res["extra"] = extra = load_extra(engine, org_id, o.customers, o.open_sessions, o.closed_sessions,
                                              o.batch, now)
            rng = random.Random(7)
            n_open = min(o.open_sessions, o.customers)
            times: dict[str, list[float]] = {f: [] for f in FORMS}
            misses: dict[str, int] = {f: 0 for f in FORMS}
            for k in range(o.warmup + o.calls):
                form = FORMS[k % len(FORMS)]
                i = rng.randrange(n_open if form == "ip" else o.customers)
                q = query_of(form, i)
                t = time.perf_counter()
                with engine.connect() as c:
                    hits = console.search(c, org_id, q, now=now)
                dt = time.perf_counter() - t
                if k >= o.warmup:
                    times[form].append(dt)
                    if not any(h.username == f"cust-{i:06d}" for h in hits):
                        misses[form] += 1
            res["search"] = {f: {**stats(v), "not_found": misses[f]} for f, v in times.items() if v}
            res["search"]["all"] = stats([x for v in times.values() for x in v])
            page: list[float] = []
            c0 = extra["first_customer_id"]
            for k in range(o.warmup + o.calls):
                cid = c0 + rng.randrange(o.customers)
                t = time.perf_counter()
                with engine.connect() as c:
                    console.customer_page(c, box, org_id, cid, now)
                if k >= o.warmup:
                    page.append(time.perf_counter() - t)
            res["customer_page"] = stats(page)
            t = time.perf_counter()
            with engine.connect() as c:
                console.figures(c, org_id, now)
            res["figures_ms"] = round((time.perf_counter() - t) * 1000, 2)
        finally:
            engine.dispose()
        s, p = res["search"]["all"], res["customer_page"]
        print(f"[{kind}] search p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms; customer page p50 {p['p50_ms']} ms "
              f"p99 {p['p99_ms']} ms; figures {res['figures_ms']} ms", flush=True)
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "customers", "what", "p50 ms", "p99 ms", "max ms", "not found"]
    rows = []
    for r in results:
        for f in (*FORMS, "all"):
            s = r["search"].get(f)
            if s:
                rows.append([r["database"], o.customers, f"search {f}", s["p50_ms"], s["p99_ms"], s["max_ms"],
                             s.get("not_found", "")])
        p = r["customer_page"]
        rows.append([r["database"], o.customers, "customer page", p["p50_ms"], p["p99_ms"], p["max_ms"], ""])
        rows.append([r["database"], o.customers, "figures (once)", r["figures_ms"], "", "", ""])
    return bb.format_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--calls", type=int, default=2_000, help="measured searches and pages (each)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--open-sessions", type=int, default=20_000)
    p.add_argument("--closed-sessions", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, kind.strip()) for kind in o.databases.split(",")]
    out = {"customers": o.customers, "calls": o.calls, "date": date.today().isoformat(),
           "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()}, "results": results}
    print(table(results, o))
    print(json.dumps(out, indent=1))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
