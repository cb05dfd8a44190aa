#!/usr/bin/env python3
"""Bulk-load benchmark logins into an aaad database, fast.

Creates (or reuses) an org, a NAS on 127.0.0.1 with the given secret and a
couple of profiles through the project's own store functions, then inserts
N logins ``user%06d`` / ``pass%06d`` (radload's default ``--user-format``
and ``--password-format``) with one SQLAlchemy Core ``executemany`` per
batch.  Passwords are encrypted with the daemon's own SecretBox
(``aaad.app.secret_box(conf)``), so the daemon decrypts them at start-up
exactly as it does real ones.

The logins get no change-feed rows: this is for a fresh load before the
daemon starts (the daemon loads a snapshot at start).  A daemon that is
already running will not see them until it restarts.

Run: ``.venv/bin/python bench/load_logins.py -c CONF --secret testing123 [-n 100000]``
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from aaad import app, nas, orgs  # noqa: E402
from aaad.crypto import SecretBox  # noqa: E402
from aaad.db import sync_engine  # noqa: E402
from aaad.schema import logins as logins_t  # noqa: E402
from aaad.view import store  # noqa: E402
from aaad.view.write import LoginWriter  # noqa: E402

PROFILES = [
    ("bench-10M", dict(rate_limit="10M/10M", interim_interval=300, pool="pppoe-pool")),
    ("bench-50M", dict(rate_limit="50M/50M", interim_interval=300, pool="pppoe-pool",
                       address_list="premium")),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", "-c", metavar="PATH", help="aaad TOML config (as for the aaad CLI)")
    p.add_argument("--secret", required=True, help="RADIUS shared secret of the NAS on --nas-address")
    p.add_argument("-n", "--count", type=int, default=100_000, help="logins to create")
    p.add_argument("--start", type=int, default=0, help="index of the first login")
    p.add_argument("--org", default="bench", help="org slug (created if missing)")
    p.add_argument("--nas-address", default="127.0.0.1")
    p.add_argument("--user-format", default="user%06d")
    p.add_argument("--password-format", default="pass%06d")
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany")
    p.add_argument("--replace", action="store_true",
                   help="delete the org's existing logins first (otherwise refuse if it has any)")
    p.add_argument("--voucher", action="store_true",
                   help="make them vouchers after their first use: owned by a voucher, active, with a "
                        "validity from first use, a total time limit and a total data limit (the hot "
                        "path's voucher branch: Session-Timeout and Mikrotik-Total-Limit from what is left)")
    p.add_argument("--keep-existing", action="store_true",
                   help="add to the org's logins (other names) instead of refusing")
    return p.parse_args(argv)


def setup(conn: sa.Connection, box: SecretBox, o: argparse.Namespace, now: datetime) -> tuple[int, list[int]]:
    """The org, its NAS and profiles via the project's store functions; returns ids."""
    org = orgs.get_by_slug(conn, o.org)
    if org is None:
        org = orgs.add(conn, o.org, f"Bench {o.org}", now)
        print(f"org {o.org} added (id {org.id})")
    existing = [n for n in nas.list_all(conn, box) if n.address == o.nas_address]
    if not existing:
        n = nas.add(conn, box, org.id, "bench-loopback", o.nas_address, o.secret, now)
        print(f"NAS {n.name} {n.address} added (id {n.id})")
    elif existing[0].org_id != org.id or existing[0].secret != o.secret.encode():
        raise SystemExit(f"load_logins: a NAS on {o.nas_address} already exists in another org or "
                         "with another secret; use a fresh data dir")
    pids = []
    for name, values in PROFILES:
        pr = store.profile_by_name(conn, org.id, name)
        if pr is None:
            pr = LoginWriter(box).create_profile(conn, org.id, name, now, **values)
            print(f"profile {name} added (id {pr.id})")
        pids.append(pr.id)
    return org.id, pids


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    t0 = time.perf_counter()
    conf = app.load_config(o.config)
    url = app.prepare_storage(conf, upgrade=True)
    box = app.secret_box(conf)
    engine = sync_engine(url, conf.database.busy_timeout_ms)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            org_id, pids = setup(conn, box, o, now)
            have = conn.execute(sa.select(sa.func.count()).select_from(logins_t)
                                .where(logins_t.c.org_id == org_id)).scalar_one()
            if have and not o.keep_existing:
                if not o.replace:
                    raise SystemExit(f"load_logins: org {o.org} already has {have} logins "
                                     "(use --replace or a fresh data dir)")
                conn.execute(logins_t.delete().where(logins_t.c.org_id == org_id))
                print(f"deleted {have} existing logins")
        t_setup = time.perf_counter()
        enc = box.encrypt
        ins = logins_t.insert()
        extra: dict[str, object] = {}
        if o.voucher:
            extra = {"owner_type": "voucher", "first_used_at": now, "validity_seconds": 30 * 86400,
                     "time_limit": 24 * 3600, "data_limit": 10 * 10**9, "time_used": 600,
                     "octets_used": 10**6}
        done = 0
        t_enc = 0.0
        with engine.begin() as conn:  # one transaction: one fsync for the whole load
            for lo in range(o.start, o.start + o.count, o.batch):
                hi = min(lo + o.batch, o.start + o.count)
                te = time.perf_counter()
                rows = [{"org_id": org_id, "username": o.user_format % i,
                         "secret_enc": enc((o.password_format % i).encode()),
                         "state": "active", "suspend_mode": "reject",
                         "profile_id": pids[i % len(pids)], "created_at": now, "updated_at": now,
                         **extra, **({"owner_id": i} if o.voucher else {})}
                        for i in range(lo, hi)]
                t_enc += time.perf_counter() - te
                conn.execute(ins, rows)
                done += len(rows)
                if done % 20_000 < o.batch or done == o.count:
                    print(f"  {done:>8} / {o.count} logins  {time.perf_counter() - t_setup:6.2f}s",
                          flush=True)
        total = time.perf_counter() - t0
        print(f"loaded {done} logins into org {o.org} (id {org_id}) in {total:.2f}s "
              f"(setup {t_setup - t0:.2f}s, build+encrypt {t_enc:.2f}s, "
              f"{done / max(1e-9, time.perf_counter() - t_setup):,.0f} logins/s)")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
