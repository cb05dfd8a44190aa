#!/usr/bin/env python3
"""Console benchmark over HTTP: customer search and the customer page at 20 requests/s while RADIUS auth
runs at half its benchmark rate, with 100,000 customers.

Issue 15's target: search and the customer page at p99 under 150 ms at 20 requests/s while RADIUS auth
is offered at half its calibrated closed-loop rate.  bench/bench_console.py measures the domain calls
alone; this measures the pages as a browser gets them (session cookie, the console's sign-in, Jinja2).

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from ``tests/pg.py``):

1. **load**: bench_console's data (bench_billing's bulk load: org ``bench``, N customers each with an
   e-mail, a phone number, a service, a login ``user%06d`` and an open invoice; ``--open-sessions``
   open sessions with IPs 10.x.y.z, ``--closed-sessions`` closed ones, a payment for every 10th
   customer) and a console owner ``aaad admin add``.
2. **daemon**: ``aaad serve`` (jobs off) pinned to ``--daemon-cpu``; ``bench/radload.py`` and
   ``bench/httpload.py`` pinned to ``--load-cpu``.
3. **sign in** through ``/admin/login`` as a browser would; the session's cookie goes to httpload.
4. **calibrate**: PAP closed loop; half its ok/s is the offered auth rate.
5. **auth alone**, **console alone** (httpload, open loop, latency from each request's scheduled time:
   searches by name, login, phone, e-mail and IP, and customer pages of random customers, in turn),
   **together**: the console's p99 during, auth's p99 alone and during.

Prints a table and JSON (``--json-out FILE`` too).  Run:
``.venv/bin/python bench/bench_console_http.py --customers 2000 --seconds 5 --databases sqlite`` to try
it; the issue's figures: ``--customers 100000`` on a quiet machine (see bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_billing as bb  # noqa: E402  (bench/ is on the path: the shared load, daemon and load helpers)
import bench_console as bc  # noqa: E402
from bench_portal import form_sign_in  # noqa: E402

EMAIL = "owner@bench.example"
PASSWORD = "bench-console-pass"


def kinds(n: int, n_open: int, c0: int) -> list[str]:
    """What httpload asks for, in turn: the forms an operator types into the search box, and customer
    pages (``c0``: the first customer's id)."""
    return [f"search_name@0:{n - 1}=/admin/customers?q=Customer+{{id:06d}}",
            f"search_login@0:{n - 1}=/admin/customers?q=user{{id:06d}}",
            f"search_phone@0:{n - 1}=/admin/customers?q=054{{id:07d}}",
            f"search_email@0:{n - 1}=/admin/customers?q=customer{{id:06d}}%40bench.example",
            f"search_ip@0:{max(n_open - 1, 0)}=/admin/customers?q={{ip}}",
            f"customer_page@{c0}:{c0 + n - 1}=/admin/customers/{{id}}"]


def prepare(conf: Path, o: argparse.Namespace) -> dict[str, Any]:
    """bench_console's sessions and payments, and the console owner; the first customer's id."""
    from aaad import app
    from aaad.db import sync_engine

    cfg = app.load_config(str(conf))
    engine = sync_engine(app.prepare_storage(cfg, upgrade=False), cfg.database.busy_timeout_ms)
    try:
        extra = bc.load_extra(engine, int(o.org_id), o.customers, o.open_sessions, o.closed_sessions, o.batch,
                              datetime.now(UTC))
    finally:
        engine.dispose()
    subprocess.run(bb.aaad_cmd(conf, "admin", "add", EMAIL, "--org", bb.ORG, "--role", "owner", "--name",
                               "Bench Owner", "--password", PASSWORD), capture_output=True, text=True,
                   cwd=str(ROOT), timeout=120, check=True)
    return extra


def console(o: argparse.Namespace, port: int, cookie: str, todo: list[str], seconds: float) -> dict[str, Any]:
    return bb.http_figures(bb.HttpLoad(o, port, todo, o.rate, seconds, workers=o.workers,
                                       headers=(f"Cookie: {cookie}",)).result())


def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-console-http-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind, "dir": str(d)}
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = bb.start_postgres(o, res)
        conf = bb.write_config(d, db_url)
        print(f"[{kind}] loading {o.customers} customers into {d} ...", flush=True)
        res["load"] = bb.load(conf, o.customers, datetime.now(UTC).date(), o.batch, log=lambda *_: None,
                              customer_fields=bc.customer_fields)
        o.org_id = res["load"]["org_id"]
        res["extra"] = extra = prepare(conf, o)
        todo = kinds(o.customers, min(o.open_sessions, o.customers), extra["first_customer_id"])
        with bb.daemon(conf, d, o.daemon_cpu) as (proc, ports):
            base = f"http://127.0.0.1:{ports['web']}"
            cookie, landed = form_sign_in(f"{base}/admin/login", EMAIL, PASSWORD, "Dashboard")
            print(f"[{kind}] signed in to the console as {EMAIL} ({landed})", flush=True)
            bench_rate = bb.calibrate(o, ports)
            rate = bench_rate / 2
            res["auth_benchmark_rate"], res["auth_offered_rate"] = round(bench_rate), round(rate)
            print(f"[{kind}] auth benchmark rate {bench_rate:,.0f}/s: offering {rate:,.0f}/s", flush=True)
            console(o, ports["web"], cookie, todo, 3.0)                    # warm the caches
            ld = bb.auth_load(o, ports, rate)
            time.sleep(o.seconds)
            res["auth_alone"] = bb.summary(ld.stop())
            print(f"[{kind}] auth alone: p99 {res['auth_alone']['p99_ms']} ms", flush=True)
            res["console_alone"] = a = console(o, ports["web"], cookie, todo, o.seconds)
            print(f"[{kind}] console alone at {o.rate:g}/s: p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
                  f"errors {a['errors']}", flush=True)
            ld = bb.auth_load(o, ports, rate)
            both = console(o, ports["web"], cookie, todo, o.seconds)
            res["together"] = t = {"auth": bb.summary(ld.stop()), "console": both}
            print(f"[{kind}] together: console p99 {both['p99_ms']} ms (errors {both['errors']}), auth p99 "
                  f"{t['auth']['p99_ms']} ms (alone {res['auth_alone']['p99_ms']} ms)", flush=True)
            res["daemon_rss_mib"] = round(bb.proc_kib(proc.pid, "VmRSS") / 1024, 1)
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def verdict(res: dict[str, Any], o: argparse.Namespace) -> str:
    c = res["together"]["console"]
    worst = max(k["p99_ms"] for k in c["by_kind"].values())
    return "ok" if worst < o.target_p99_ms and c["errors"] == 0 else "MISSED"


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "customers", "page", "p50 / p99 ms alone", "p99 ms with auth", "errors", "auth rate/s",
            "auth p99 ms alone -> together", "verdict"]
    rows = []
    for r in results:
        t, a = r["together"], r["console_alone"]
        for k, v in sorted(t["console"]["by_kind"].items()):
            al = a["by_kind"].get(k, {})
            rows.append([bb.db_label(r), o.customers, k, f"{al.get('p50_ms')} / {al.get('p99_ms')}", v["p99_ms"],
                         v["errors"], "", "", ""])
        rows.append([bb.db_label(r), o.customers, "all", f"{a['p50_ms']} / {a['p99_ms']}", t["console"]["p99_ms"],
                     t["console"]["errors"], r["auth_offered_rate"],
                     f"{r['auth_alone']['p99_ms']} -> {t['auth']['p99_ms']}", verdict(r, o)])
    return bb.format_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--rate", type=float, default=20.0, help="console requests per second (open loop)")
    p.add_argument("--auth-rate", type=float, default=0.0,
                   help="offered auth rate per second (default: half the measured closed-loop PAP rate)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each measured phase")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--target-p99-ms", type=float, default=150.0)
    p.add_argument("--open-sessions", type=int, default=20_000)
    p.add_argument("--closed-sessions", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=8, help="httpload's connections")
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    bb.add_generator_arg(p)
    bb.add_pg_cpu_arg(p)
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (database, logs)")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    o = p.parse_args(argv)
    o.acct_rate = 0.0            # bench_billing's Load reads these
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, kind.strip()) for kind in o.databases.split(",")]
    out = {"customers": o.customers, "rate": o.rate, "target_p99_ms": o.target_p99_ms,
           "date": date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
           "results": results}
    print(table(results, o))
    print(json.dumps(out, indent=1))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1))
    return 0 if all(verdict(r, o) == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
