"""In-process timing of the billing run's chunks (billing.run.run_chunk), or the dunning pass's
(billing.dunning.dunning_chunk, then resume_chunk), old code against new,
in the same run: N customers loaded once (bench_billing.py's loader), then each variant bills a
fresh copy of that database, alternating (A B A B ...) so both see the same machine.  A variant
is a git ref (exported with ``git archive``) or ``.`` (this working tree); each runs in its own
subprocess with that tree first on sys.path.  Not a test; prints per-variant times and the ratio.

    .venv/bin/python bench/time_billing_run.py --customers 10000 --base 624e041
    .venv/bin/python bench/time_billing_run.py --database postgresql --customers 10000 --base 624e041
    .venv/bin/python bench/time_billing_run.py --only . --profile 40     # cProfile of this tree
    .venv/bin/python bench/time_billing_run.py --job dunning --customers 10000 --base 624e041

Each chunk is one transaction (commit included), as the job's ``checkpoint_after`` runs it;
``max chunk`` is the longest of them: how long the chunk holds SQLite's write lock.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from datetime import date, datetime
import sqlalchemy as sa
from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from aaad import app
from billing import run
url, org_id, run_date, chunk, prof = sys.argv[2], int(sys.argv[3]), date.fromisoformat(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6])
assert run.__file__.startswith(sys.argv[1]), run.__file__
engine = sync_engine(url)
writer = LoginWriter(app.secret_box(app.load_config(sys.argv[8])))
now = datetime.fromisoformat(sys.argv[7])
if prof:
    import cProfile
    pr = cProfile.Profile()
    pr.enable()
job = sys.argv[9]
chunks, after, n, t0, cpu0 = [], 0, 0, time.perf_counter(), time.process_time()
if job == "run":
    while True:
        c0 = time.perf_counter()
        with engine.begin() as conn:
            r = run.run_chunk(conn, writer, org_id, run_date, after, chunk, now)
        chunks.append(time.perf_counter() - c0)
        after, n = r.last_customer_id, n + r.invoices
        if r.customers < chunk:
            break
else:
    from billing import dunning, settings
    with engine.connect() as conn:
        today = settings.get(conn, org_id).today(now)
    while True:
        c0 = time.perf_counter()
        with engine.begin() as conn:
            d = dunning.dunning_chunk(conn, writer, org_id, today, after, chunk, now)
        chunks.append(time.perf_counter() - c0)
        after, n = d.last_customer_id, n + len(d.suspended)
        if d.scanned < chunk:
            break
    after = 0
    while True:
        c0 = time.perf_counter()
        with engine.begin() as conn:
            rc = dunning.resume_chunk(conn, writer, org_id, after, chunk, now)
        chunks.append(time.perf_counter() - c0)
        after = rc.last_customer_id
        if rc.scanned < chunk:
            break
total = time.perf_counter() - t0
cpu = time.process_time() - cpu0
if prof:
    import pstats
    pr.disable()
    pstats.Stats(pr, stream=sys.stderr).sort_stats("cumulative").print_stats(prof)
print(json.dumps({"total": total, "cpu": cpu, "invoices": n, "chunks": len(chunks), "max_chunk": max(chunks),
                  "median_chunk": sorted(chunks)[len(chunks) // 2]}))
"""


def export(ref: str, into: Path) -> Path:
    """The tree at ``ref`` (or this working tree for ``.``), importable."""
    if ref == ".":
        return ROOT
    dest = into / ref.replace("/", "_")
    dest.mkdir()
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
    archive.unlink()
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=300)
    ap.add_argument("--base", default="main", help="git ref of the old code (default: main)")
    ap.add_argument("--only", help="time only this variant (a ref, or . for this tree)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per variant, alternating")
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--job", choices=("run", "dunning"), default="run",
                    help="the billing run's chunks, or the dunning pass's (suspend, then resume)")
    ap.add_argument("--profile", type=int, default=0, help="print the top N cProfile lines (stderr)")
    ap.add_argument("--chunk-check", action="store_true", help="check the two variants' invoices agree")
    o = ap.parse_args()

    import bench_billing
    import sqlalchemy as sa

    from aaad import app

    variants = [o.only] if o.only else [o.base, "."]
    d = Path(tempfile.mkdtemp(prefix="billtime-"))
    pg = None
    try:
        trees = {v: export(v, d) for v in variants}
        run_date = datetime.now(UTC).date()
        if o.database == "postgresql":
            from tests.pg import start_cluster
            pg = start_cluster(fsync=True)
            db_url = pg.new_database()
        else:
            db_url = None
        conf = bench_billing.write_config(d, db_url)
        out = bench_billing.load(conf, o.customers, run_date, 5000, log=lambda *_: None)
        url = app.database_url(app.load_config(str(conf)))
        template = url.rsplit("/", 1)[1]
        # The run bills as of now; dunning runs two hours into the run date, when last month's
        # invoices are past due date and grace (as bench_billing.py loads them).
        now = (datetime.now(UTC) if o.job == "run" else
               datetime.combine(run_date, datetime.min.time(), UTC) + timedelta(hours=2)).isoformat()
        results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        summaries: dict[str, list[Any]] = {}
        for i in range(o.repeat):
            for v in variants:
                if pg is not None:
                    name = f"bt_{i}_{len(results[v])}_{abs(hash(v)) % 10_000}"
                    pg.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
                    run_url = url.rsplit("/", 1)[0] + "/" + name
                else:
                    src = Path(url.split("///", 1)[1])
                    copy = src.with_name(f"run-{i}-{abs(hash(v)) % 10_000}.db")
                    shutil.copy(src, copy)
                    run_url = f"sqlite:///{copy}"
                p = subprocess.run([sys.executable, "-c", CHILD, str(trees[v]), run_url, str(out["org_id"]),
                                    run_date.isoformat(), str(o.chunk), str(o.profile), now, str(conf), o.job],
                                   capture_output=True, text=True, cwd=str(trees[v]))
                if p.returncode:
                    raise SystemExit(f"{v}: {p.stderr[-3000:]}")
                if o.profile:
                    print(p.stderr)
                r = json.loads(p.stdout.strip().splitlines()[-1])
                results[v].append(r)
                what = "invoices" if o.job == "run" else "services suspended"
                print(f"{v:>12}: {r['invoices']} {what} in {r['total']:.2f} s, CPU {r['cpu']:.2f} s "
                      f"({1000 * r['total'] / max(r['invoices'], 1):.3f} ms each), {r['chunks']} chunks, "
                      f"median {1000 * r['median_chunk']:.0f} ms, max {1000 * r['max_chunk']:.0f} ms",
                      flush=True)
                if o.chunk_check:
                    summaries[v] = invoice_summary(run_url, sa)
                if pg is not None:
                    pg.psql(f"DROP DATABASE {name}")
                else:
                    copy.unlink()
        if len(variants) == 2:
            old, new = (statistics.median(r["total"] for r in results[v]) for v in variants)
            cold, cnew = (statistics.median(r["cpu"] for r in results[v]) for v in variants)
            print(f"ratio (median {o.base} / median .): {old / new:.2f}x wall, {cold / cnew:.2f}x CPU")
            if o.chunk_check:
                print("invoices agree:", summaries[variants[0]] == summaries[variants[1]])
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(d, ignore_errors=True)


def invoice_summary(url: str, sa: Any) -> list[Any]:
    """Every row the jobs write (whole tables, in id order), comparable across variants:
    both start from copies of one database and bill with the same ``now``."""
    from aaad.db import sync_engine
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return [[tuple(map(str, r)) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1"))]
                    for t in ("invoices", "invoice_lines", "journal_entries", "postings", "allocations", "events",
                              "services", "logins", "suspensions", "service_log", "aaa_changes", "customers",
                              "billing_settings")]
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
