"""In-process timing of one dunning chunk (billing.dunning.dunning_chunk) on SQLite:
N overdue customers (bench_billing.py's loader), suspended set-wise
(services.suspend_many) and, on a copy of the same database, service by service
(services.suspend in turn, as before issue 9's b9e).  Not a test; prints both times.

    .venv/bin/python bench/time_dunning_chunk.py --customers 2000
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_billing  # noqa: E402


def one_by_one(conn, writer, org_id, items, now):
    from billing import services
    return [services.suspend(conn, writer, org_id, sid, now, reason=reason, invoice_id=inv)
            for sid, reason, inv in items]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    o = ap.parse_args()
    from aaad import app
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    from billing import dunning, services, settings

    d = Path(tempfile.mkdtemp(prefix="dunning-"))
    conf = bench_billing.write_config(d, None)
    run_date = datetime.now(UTC).date()
    out = bench_billing.load(conf, o.customers, run_date, 5000, log=lambda *_: None)
    cfg = app.load_config(str(conf))
    url = app.database_url(cfg)
    path = Path(url.split("///", 1)[1])
    shutil.copy(path, path.with_suffix(".copy"))
    writer = LoginWriter(app.secret_box(cfg))
    now = datetime.combine(run_date, datetime.min.time(), UTC) + timedelta(hours=2)
    times = {}
    for label, db, fn in (("set-wise", path, None), ("one by one", path.with_suffix(".copy"), one_by_one)):
        engine = sync_engine(f"sqlite:///{db}")
        saved = services.suspend_many
        if fn is not None:
            services.suspend_many = fn
        try:
            with engine.begin() as conn:
                today = settings.get(conn, out["org_id"]).today(now)
                t0 = time.perf_counter()
                chunk = dunning.dunning_chunk(conn, writer, out["org_id"], today, 0, o.customers, now)
                times[label] = time.perf_counter() - t0
        finally:
            services.suspend_many = saved
            engine.dispose()
        print(f"{label}: {len(chunk.suspended)} services suspended in {times[label]:.2f} s "
              f"({1000 * times[label] / max(1, len(chunk.suspended)):.2f} ms each)")
    print(f"ratio: {times['one by one'] / times['set-wise']:.1f}x")
    shutil.rmtree(d)


if __name__ == "__main__":
    main()
