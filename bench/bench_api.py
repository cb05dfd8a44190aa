#!/usr/bin/env python3
"""Admin API benchmark: customer listings and detail at 200 requests/s while RADIUS auth runs.

Issue 11's target, with 100,000 customers: the customer list (first page, and a filtered
page: ``status=suspended``) and customer detail, offered together at 200 requests/s while
RADIUS auth is offered at half its benchmark rate: API p99 under 50 ms, and RADIUS auth p99
not more than doubled meanwhile.

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from
``tests/pg.py``):

1. **load**: bench_billing's bulk load (org, NAS, profile, N customers each with a service, a
   login ``user%06d``/``pass%06d`` and an open invoice); every tenth customer suspended; an
   org API token (``aaad token create``).
2. **daemon**: ``aaad serve`` ([api] rate limit off, jobs off) pinned to ``--daemon-cpu``;
   ``bench/radload.py`` and ``bench/httpload.py`` pinned to ``--load-cpu``.
3. **calibrate**: PAP closed loop; half its ok/s is the offered auth rate.
4. **API alone**: ``bench/httpload.py`` at ``--api-rate`` (open loop, latency from the scheduled
   time), cycling first page / filtered page / detail of a random customer.
5. ``--rounds`` times (default 3), each phase ``--seconds`` long: **auth alone** (open loop),
   then **together** (both loads at once): auth p99 before and during, API p99 during.  The
   verdict compares the medians: this machine's speed drifts within a run, and one pair of
   phases gave ratios from 1.3x to 5x on the same code.

Prints a table and JSON (``--json-out FILE`` too).  Run: ``.venv/bin/python bench/bench_api.py
--customers 2000``; the issue's figures: ``--customers 100000`` on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_billing as bb  # noqa: E402  (bench/ is on the path: the shared load and process helpers)

PY = sys.executable
KINDS = ("first=/api/v1/customers?limit=50", "filtered=/api/v1/customers?status=suspended&limit=50",
         "detail=/api/v1/customers/{id}")


def prepare(conf: Path, n: int) -> tuple[str, int, int]:
    """Suspend every tenth customer; an API token; the customers' id range."""
    import sqlalchemy as sa

    from aaad import app
    from aaad.db import sync_engine
    from billing.schema import customers
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.prepare_storage(cfg, upgrade=False))
    try:
        with engine.begin() as c:
            c.execute(customers.update().where(customers.c.id % 10 == 0).values(status="suspended"))
            lo, hi = c.execute(sa.select(sa.func.min(customers.c.id), sa.func.max(customers.c.id))).one()
    finally:
        engine.dispose()
    r = subprocess.run(bb.aaad_cmd(conf, "token", "create", "--org", bb.ORG, "--name", "bench", "--json"),
                       capture_output=True, text=True, cwd=str(ROOT), timeout=120, check=True)
    return json.loads(r.stdout)["token"], int(lo), int(hi)


def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-api-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind, "dir": str(d)}
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = bb.start_postgres(o, res)
        conf = bb.write_config(d, db_url)
        with open(conf, "a") as f:
            f.write("[api]\nrate = 0.0\n")
        print(f"[{kind}] loading {o.customers} customers into {d} ...", flush=True)
        res["load"] = bb.load(conf, o.customers, datetime.now(UTC).date(), o.batch)
        token, lo, hi = prepare(conf, o.customers)
        with bb.daemon(conf, d, o.daemon_cpu) as (proc, ports):
            bench_rate = bb.calibrate(o, ports)
            rate = bench_rate / 2
            res["auth_benchmark_rate"], res["auth_offered_rate"] = round(bench_rate), round(rate)
            print(f"[{kind}] auth benchmark rate {bench_rate:,.0f}/s: offering {rate:,.0f}/s", flush=True)
            # warm the API (first queries load pages into the caches)
            bb.HttpLoad(o, ports["web"], KINDS, o.api_rate, 2.0, token=token, ids=(lo, hi)).result()
            cpu = bb.CpuMeter(proc.pid)
            res["api_alone"] = a = bb.http_figures(
                bb.HttpLoad(o, ports["web"], KINDS, o.api_rate, o.seconds, token=token, ids=(lo, hi)).result())
            cpu.stop()
            a["daemon_busy"], a["daemon_cpu_ms_per_request"] = cpu.busy, cpu.per(a["requests"])
            print(f"[{kind}] API alone at {o.api_rate:g}/s: p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
                  f"daemon CPU {a['daemon_cpu_ms_per_request']} ms a request", flush=True)
            res["rounds"] = []
            for i in range(o.rounds):
                alone = bb.auth_alone(o, ports, rate, proc.pid, f"{kind} round {i + 1}")
                cpu = bb.CpuMeter(proc.pid)
                ld = bb.auth_load(o, ports, rate)
                api_res = bb.HttpLoad(o, ports["web"], KINDS, o.api_rate, o.seconds, token=token,
                                      ids=(lo, hi)).result()
                t: dict[str, Any] = {"auth": bb.summary(ld.stop()), "api": bb.http_figures(api_res)}
                t["daemon_busy"] = cpu.stop().busy
                t["steal_ms"] = cpu.steal_ms
                res["rounds"].append({"auth_alone": alone, "together": t})
                print(f"[{kind} round {i + 1}] together: API p99 {t['api']['p99_ms']} ms, auth p99 "
                      f"{t['auth']['p99_ms']} ms (alone {alone['p99_ms']} ms: "
                      f"{t['auth']['p99_ms'] / max(alone['p99_ms'], 1e-9):.2f}x), daemon CPU {t['daemon_busy']:.0%}, "
                      f"steal {cpu.steal_ms} ms",
                      flush=True)
            res.update(medians(res["rounds"]))
            res["daemon_rss_mib"] = round(bb.proc_kib(proc.pid, "VmRSS") / 1024, 1)
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds' medians: auth p99 alone and together, their ratio per round, API p99 together (overall
    and per kind), the daemon's share of its core together; API errors summed."""
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)
    tg = [r["together"] for r in rounds]
    kinds = tg[0]["api"]["by_kind"]
    return {"auth_alone_p99_ms": med([r["auth_alone"]["p99_ms"] for r in rounds]),
            "auth_together_p99_ms": med([t["auth"]["p99_ms"] for t in tg]),
            "ratios": [round(r["together"]["auth"]["p99_ms"] / max(r["auth_alone"]["p99_ms"], 1e-9), 2)
                       for r in rounds],
            "api_p99_ms": med([t["api"]["p99_ms"] for t in tg]),
            "api_p99_by_kind_ms": {k: med([t["api"]["by_kind"][k]["p99_ms"] for t in tg]) for k in kinds},
            "api_errors": sum(t["api"]["errors"] for t in tg),
            "daemon_busy_together": med([t["daemon_busy"] for t in tg])}


def ratio(res: dict[str, Any]) -> float:
    """Median auth p99 together over median auth p99 alone."""
    return res["auth_together_p99_ms"] / max(res["auth_alone_p99_ms"], 1e-9)


def verdict(res: dict[str, Any], o: argparse.Namespace) -> str:
    ok = res["api_p99_ms"] < o.target_p99_ms and res["api_errors"] == 0 and ratio(res) <= 2
    return "ok" if ok else "MISSED"


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "customers", "API rate/s", "API p50 / p99 ms alone", "API p99 ms together (first/filtered/detail)",
            "API errors", "auth rate/s", "auth p99 ms alone -> together (medians)", "ratio (rounds)", "verdict"]
    rows = []
    for r in results:
        a, k = r["api_alone"], r["api_p99_by_kind_ms"]
        rows.append([bb.db_label(r), o.customers, f"{o.api_rate:g}", f"{a['p50_ms']} / {a['p99_ms']}",
                     f"{r['api_p99_ms']} ({k['first']}/{k['filtered']}/{k['detail']})",
                     r["api_errors"], r["auth_offered_rate"],
                     f"{r['auth_alone_p99_ms']} -> {r['auth_together_p99_ms']}",
                     f"{ratio(r):.2f}x ({', '.join(f'{x:.2f}' for x in r['ratios'])})", verdict(r, o)])
    return bb.format_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--api-rate", type=float, default=200.0, help="API requests per second (open loop)")
    p.add_argument("--auth-rate", type=float, default=0.0,
                   help="offered auth rate per second (default: half the measured closed-loop PAP rate)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of auth alone then auth with the API; the verdict takes the medians (this "
                        "machine's speed drifts during a run: a ratio of two phases minutes apart moved 1.3x-5x)")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--target-p99-ms", type=float, default=50.0)
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    bb.add_pg_cpu_arg(p)
    bb.add_generator_arg(p)
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (database, logs)")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    o = p.parse_args(argv)
    o.acct_rate = 0.0            # bench_billing's Load reads these
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, kind.strip()) for kind in o.databases.split(",")]
    out = {"customers": o.customers, "api_rate": o.api_rate, "target_p99_ms": o.target_p99_ms,
           "date": date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
           "results": results}
    print(table(results, o))
    print(json.dumps(out, indent=1))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1))
    return 0 if all(verdict(r, o) == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
