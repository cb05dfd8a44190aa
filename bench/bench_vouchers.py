#!/usr/bin/env python3
"""Vouchers benchmark: batch generation, the PDF of cards, and voucher logins on the
auth hot path beside PPPoE logins, each against a reference measured in the same run.

1. ``batch``: ``aaad``'s voucher batch (voucher rows + their logins, no PDF) of
   ``--batch`` vouchers on a fresh SQLite database, through
   ``billing.vouchers.batches.create`` (the CLI's and the API's function).  Reference
   in the same run: the same number of plain logins written through
   ``LoginWriter.create_many`` alone (the part of the work that is the AAA view's).
   Target: 10,000 in under 2 s.
2. ``pdf``: the PDF sheet of ``--cards`` cards (QR codes included) of that batch.
   Target: 1,000 cards in under 30 s.
3. ``auth``: the real daemon (``bench_auth``'s set-up, pinned to ``--daemon-cpu``)
   with ``--logins`` PPPoE logins ``user%06d`` and as many voucher logins ``vch%06d``
   after their first use (validity running, total time and data limits: the reply
   carries Session-Timeout and Mikrotik-Total-Limit from what is left), radload PAP
   closed loop against each, interleaved A B A B A B; medians and the ratio.
   Target: vouchers within 10 % of PPPoE.

Run: ``.venv/bin/python bench/bench_vouchers.py [--parts batch,pdf,auth]`` (about two
minutes).
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_auth  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", default="batch,pdf,auth", help="comma separated: batch, pdf, auth")
    p.add_argument("--batch", type=int, default=10_000, help="vouchers in the generated batch")
    p.add_argument("--cards", type=int, default=1_000, help="cards in the PDF")
    p.add_argument("--logins", type=int, default=100_000, help="PPPoE logins, and as many voucher logins")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per radload run")
    p.add_argument("--rounds", type=int, default=3, help="A B rounds")
    p.add_argument("--inflight", type=int, default=512)
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


# -- batch and PDF ---------------------------------------------------------------------

def _world(d: Path) -> tuple[Any, Any, int, int]:
    """A migrated SQLite database with an org, its billing settings and a profile."""
    from aaad import migrate, orgs
    from aaad.crypto import SecretBox
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    engine = sync_engine(f"sqlite:///{d / 'vouchers.db'}")
    migrate.upgrade(engine)
    box = SecretBox(os.urandom(32))
    now = datetime.now(UTC)
    with engine.begin() as c:
        org = orgs.add(c, "cafe", "Cafe WiFi", now, "Africa/Accra", "GHS")
        prof = LoginWriter(box).create_profile(c, org.id, "hotspot-2M", now, rate_limit="2M/2M")
    return engine, box, org.id, prof.id


def bench_batch(o: argparse.Namespace, d: Path) -> dict:
    from aaad.view.write import LoginWriter
    from billing.vouchers import batches, packages
    engine, box, org_id, profile_id = _world(d)
    w = LoginWriter(box)
    now = datetime.now(UTC)
    with engine.begin() as c:
        pkg = packages.add(c, w, org_id, now, name="1 day", price=500, profile_id=profile_id,
                           time_limit=24 * 3600, data_limit=2 * 10**9, validity_hours=24, shared_users=1)
    t = time.perf_counter()
    with engine.begin() as c:
        w.create_many(c, org_id, [(f"REF{i:06d}", f"REF{i:06d}", i) for i in range(o.batch)], now,
                      owner_type="voucher", state="unused", profile_id=profile_id)
    ref_s = time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as c:
        batches.create(c, w, org_id, pkg.id, o.batch, now)
    batch_s = time.perf_counter() - t
    out = {"vouchers": o.batch, "batch_s": round(batch_s, 3), "create_many_s": round(ref_s, 3),
           "ratio": round(batch_s / ref_s, 2)}
    print(f"batch of {o.batch} vouchers: {batch_s:.2f} s (target < 2 s); the logins alone "
          f"(create_many): {ref_s:.2f} s; ratio {batch_s / ref_s:.2f}x", flush=True)
    bench_batch.ctx = (engine, box, org_id, pkg.id)  # type: ignore[attr-defined]
    return out


def bench_pdf(o: argparse.Namespace, d: Path) -> dict:
    from aaad.view.write import LoginWriter
    from billing.vouchers import batches, cards
    ctx = getattr(bench_batch, "ctx", None)
    if ctx is None:
        bench_batch(argparse.Namespace(**{**vars(o), "batch": 10}), d)
        ctx = bench_batch.ctx  # type: ignore[attr-defined]
    engine, box, org_id, pkg_id = ctx
    with engine.begin() as c:  # a batch of exactly --cards cards
        batch_id = batches.create(c, LoginWriter(box), org_id, pkg_id, o.cards, datetime.now(UTC)).id
    t = time.perf_counter()
    with engine.connect() as c:
        pdf = cards.batch_pdf(c, box, org_id, batch_id)
    s = time.perf_counter() - t
    print(f"PDF of {o.cards} cards: {s:.1f} s (target < 30 s), {len(pdf) / 1e6:.1f} MB", flush=True)
    return {"cards": o.cards, "pdf_s": round(s, 2), "pdf_bytes": len(pdf)}


# -- auth --------------------------------------------------------------------------------

def bench_auth_ratio(o: argparse.Namespace, d: Path) -> dict:
    conf = bench_auth.write_config(d)
    ready = d / "ready.json"
    ready.unlink(missing_ok=True)
    load = [sys.executable, str(BENCH / "load_logins.py"), "-c", str(conf), "--secret", bench_auth.SECRET,
            "-n", str(o.logins)]
    subprocess.run(load + ["--replace"], check=True, timeout=600, stdout=subprocess.DEVNULL)
    subprocess.run(load + ["--voucher", "--keep-existing", "--user-format", "vch%06d"], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    cmd = ["taskset", "-c", o.daemon_cpu, bench_auth.venv_bin("aaad"), "-c", str(conf), "serve"]
    with open(d / "aaad.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(d))
    runs: dict[str, list[float]] = {"pppoe": [], "voucher": []}
    p99: dict[str, list[float]] = {"pppoe": [], "voucher": []}
    try:
        info = bench_auth.wait_ready(ready, proc, 120)
        ns = argparse.Namespace(load_cpu=o.load_cpu, logins=o.logins, duration=o.duration)
        for r in range(o.rounds):
            for kind, fmt in (("pppoe", "user%06d"), ("voucher", "vch%06d")):
                sm = bench_auth.radload(ns, info["auth"], "pap", ["--inflight", str(o.inflight),
                                                                  "--user-format", fmt, "--expect", "accept"])
                if sm["bad"] or sm["ok"] < sm["answered"]:
                    raise SystemExit(f"bench_vouchers: {kind} run had bad or rejected replies: {sm}")
                runs[kind].append(sm["ok_per_s"])
                p99[kind].append(sm["latency_ms"]["p99"])
                print(f"  round {r + 1} {kind:<8} {sm['ok_per_s']:>8.0f} accepts/s  p99 {sm['latency_ms']['p99']} ms",
                      flush=True)
    finally:
        bench_auth.stop(proc)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = med["voucher"] / med["pppoe"]
    print(f"PAP closed loop {o.inflight}, medians of {o.rounds}: PPPoE {med['pppoe']:.0f}/s, vouchers "
          f"{med['voucher']:.0f}/s: {ratio:.3f}x (target >= 0.90x)", flush=True)
    return {"pppoe_req_s": runs["pppoe"], "voucher_req_s": runs["voucher"], "median_pppoe": med["pppoe"],
            "median_voucher": med["voucher"], "ratio": round(ratio, 3),
            "p99_ms": {k: statistics.median(v) for k, v in p99.items()}}


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    d = Path(tempfile.mkdtemp(prefix="aaad-bench-vouchers-"))
    out: dict[str, dict] = {}
    try:
        parts = o.parts.split(",")
        if "batch" in parts:
            out["batch"] = bench_batch(o, d)
        if "pdf" in parts:
            out["pdf"] = bench_pdf(o, d)
        if "auth" in parts:
            out["auth"] = bench_auth_ratio(o, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if o.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
