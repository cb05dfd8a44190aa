#!/usr/bin/env python3
"""Enforcement benchmark: commit of a suspension to Disconnect-Request on the wire, and a
mass plan change's CoA throughput under RADIUS load, with FreeRADIUS as the NAS.

Issue 10's figures:

- **latency**: from the commit of a suspension (by another process, as ``aaad user
  suspend`` does: an engine with the CLI's wake-up on commit) to the Disconnect-Request's
  arrival at the NAS (FreeRADIUS's linelog time, microseconds): p50 and p99 over
  ``--suspensions`` suspensions done one after another; target p99 under 200 ms.
- **mass event**: one profile edit (a new rate) for ``--logins`` logins with open
  sessions: every session gets a CoA-Request carrying the new Mikrotik-Rate-Limit; the time
  from the commit to the last CoA arriving at the NAS gives the CoA throughput; meanwhile
  PAP auth offered open-loop at half its calibrated rate (``bench_billing.Load``) keeps its
  p99 (before vs during: at most doubled).  ``--rounds`` events (default 3), each with its own
  baseline just before it; the table gives the medians and each round's ratio.

Per database (``--databases sqlite,postgresql``): load N logins (``user%06d``) each with
an open accounting session (bulk insert before the daemon starts), a private FreeRADIUS
NAS (``tests/nas_freeradius.py``) whose port is the NAS's CoA port, the daemon pinned to
``--daemon-cpu`` and radload to ``--load-cpu``.  Prints a table and JSON (``--json-out``).

    .venv/bin/python bench/bench_enforcement.py --logins 2000 --suspensions 200   # a quick look
    .venv/bin/python bench/bench_enforcement.py                                   # the issue's figures
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_billing as bb  # noqa: E402

SECRET = bb.SECRET
ORG = "bench"


class Tail:
    """Reads FreeRADIUS's received.log incrementally (the fixture's parser, one pass)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.rows: list[dict[str, Any]] = []
        self._partial = ""

    def poll(self) -> int:
        from tests.nas_freeradius import RECORDED_ATTRS, _parse
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                data = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return 0
        text = self._partial + data
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.count("|") == 8 + len(RECORDED_ATTRS):
                self.rows.append(_parse(line))
        return len(self.rows)

    def wait(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.poll() < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)   # the times are FreeRADIUS's own: polling finer only takes CPU
        return True


def load(conf: Path, n: int, coa_port: int) -> dict[str, Any]:
    """N logins on bench-10M, each with one open session on the loopback NAS."""
    import load_logins
    import sqlalchemy as sa

    from aaad import app
    from aaad import nas as nas_store
    from aaad.db import sync_engine
    from aaad.schema import logins
    from accounting.schema import sessions

    t0 = time.perf_counter()
    cfg = app.load_config(str(conf))
    url = app.prepare_storage(cfg, upgrade=True)
    box = app.secret_box(cfg)
    engine = sync_engine(url, cfg.database.busy_timeout_ms)
    now = datetime.now(UTC)
    ns = argparse.Namespace(org=ORG, nas_address="127.0.0.1", secret=SECRET)
    try:
        with engine.begin() as c:
            org_id, pids = load_logins.setup(c, box, ns, now)
            nas_store.update(c, box, org_id, "bench-loopback", now, coa_port=coa_port)
            nas_id = nas_store.list_all(c, box, org_id)[0].id
        enc = box.encrypt
        with engine.begin() as c:
            for lo in range(0, n, 5000):
                ix = range(lo, min(lo + 5000, n))
                c.execute(logins.insert(), [
                    {"id": i + 1, "org_id": org_id, "username": f"user{i:06d}",
                     "secret_enc": enc(f"pass{i:06d}".encode()), "state": "active", "suspend_mode": "reject",
                     "profile_id": pids[0], "created_at": now, "updated_at": now} for i in ix])
                c.execute(sessions.insert(), [
                    {"session_key": f"bench-{i:06d}", "org_id": org_id, "nas_id": nas_id,
                     "session_id": f"bs-{i:06d}", "login_id": i + 1, "username": f"user{i:06d}",
                     "framed_ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                     "start_time": now, "last_update": now, "interim_interval": 3600} for i in ix])
            if engine.dialect.name == "postgresql":
                c.execute(sa.text("SELECT setval(pg_get_serial_sequence('logins', 'id'), "
                                  "(SELECT max(id) FROM logins))"))
    finally:
        engine.dispose()
    return {"org_id": org_id, "profile_id": pids[0], "load_s": round(time.perf_counter() - t0, 2)}


#: The rate limits the mass events set, in turn (each edit changes the profile, so every round's
#: CoAs carry a rate the previous round's did not).
RATES = ("20M/20M", "30M/30M")


def mass_event(o: argparse.Namespace, conf: Path, ports: dict, tail: Tail, org_id: int, profile_id: int,
               auth_rate: float, pid: int, rate: str = RATES[0]) -> dict[str, Any]:
    """One profile edit (to ``rate``) for every login: time to the last CoA, under auth load; the
    daemon's (``pid``) share of its core meanwhile."""
    from aaad import app, wake
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.database_url(cfg), cfg.database.busy_timeout_ms)
    wake.notify_on_commit(engine, cfg.server.data_dir)
    before = tail.poll()
    auth, _acct = bb.loads(o, ports, auth_rate, "accept")
    time.sleep(1.0)                         # the load settles before the event
    cpu = bb.CpuMeter(pid)
    t0 = time.time()
    with engine.begin() as c:
        LoginWriter(app.secret_box(cfg)).update_profile(c, org_id, profile_id, datetime.now(UTC),
                                                        rate_limit=rate)
    committed = time.time()
    ok = tail.wait(before + o.logins, o.timeout)
    got = tail.rows[before:]
    last = max((r["time"] for r in got), default=committed)
    first = min((r["time"] for r in got), default=committed)
    time.sleep(0.5)
    during = bb.summary(auth.stop())
    cpu.stop()
    engine.dispose()
    coas = [r for r in got if r["code"] == "CoA-Request" and r["Mikrotik-Rate-Limit"] == rate]
    span = last - committed
    return {"coa_received": len(coas), "complete": ok and len(coas) >= o.logins,
            "commit_s": round(committed - t0, 3), "first_coa_after_commit_ms": round((first - committed) * 1000, 1),
            "last_coa_after_commit_s": round(span, 3),
            "coa_per_s": round(len(coas) / span, 1) if span > 0 else None, "auth_during": during,
            "daemon_busy": cpu.busy, "steal_ms": cpu.steal_ms}


def latency(o: argparse.Namespace, conf: Path, tail: Tail, org_id: int) -> dict[str, Any]:
    """Suspend logins one by one from this process; commit → Disconnect at the NAS."""
    from aaad import app, wake
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.database_url(cfg), cfg.database.busy_timeout_ms)
    wake.notify_on_commit(engine, cfg.server.data_dir)
    w = LoginWriter(app.secret_box(cfg))
    lat: list[float] = []
    missing = 0
    for i in range(o.suspensions):
        before = tail.poll()
        with engine.begin() as c:
            w.set_state(c, org_id, i + 1, "suspended", datetime.now(UTC), reason="bench")
        committed = time.time()
        name = f"user{i:06d}"
        deadline = time.monotonic() + 5.0
        found = None
        while found is None and time.monotonic() < deadline:
            tail.poll()
            found = next((r for r in tail.rows[before:] if r["User-Name"] == name
                          and r["code"] == "Disconnect-Request"), None)
            if found is None:
                time.sleep(0.002)
        if found is None:
            missing += 1
            continue
        lat.append((found["time"] - committed) * 1000)
        if lat[-1] > 100 and o.verbose:
            print(f"  suspension {i}: {lat[-1]:.1f} ms")
    engine.dispose()
    lat.sort()

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2) if lat else None
    return {"suspensions": o.suspensions, "received": len(lat), "missing": missing, "p50_ms": pct(50),
            "p99_ms": pct(99), "max_ms": round(lat[-1], 2) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None}


def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    from tests.nas_freeradius import FreeRadiusNas
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-enforcement-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind}
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = bb.start_postgres(o, res)
        # This process (polling the NAS's log) and the FreeRADIUS NAS run beside the load generator,
        # off the daemon's CPU: unpinned, they land on it and their CPU shows up as the daemon's latency.
        bb.pin_self(o.load_cpu)
        conf = bb.write_config(d, db_url)
        # Events must be dispatched (the leader does it): jobs on, billing's off (no billing data here).
        conf.write_text(conf.read_text().replace("[jobs]\nenabled = false\n",
                                                 '[jobs]\nskip = ["billing.run", "billing.dunning"]\n'))
        with FreeRadiusNas(d / "nas", SECRET) as nas:       # started by `with`
            print(f"[{kind}] FreeRADIUS NAS on 127.0.0.1:{nas.port}; loading {o.logins} logins with open sessions")
            info = load(conf, o.logins, nas.port)
            tail = Tail(nas.received_path)
            with bb.daemon(conf, d, o.daemon_cpu) as (proc, ports):
                auth_rate = bb.calibrate(o, ports) / 2
                print(f"[{kind}] auth offered at {auth_rate:.0f}/s; baseline {o.baseline_seconds:g} s")
                rounds = []
                for i in range(0 if o.skip_mass else o.rounds):
                    cpu = bb.CpuMeter(proc.pid)
                    base = bb.baseline(o, ports, auth_rate)
                    base["daemon_busy"] = cpu.stop().busy
                    base["steal_ms"] = cpu.steal_ms
                    rate = RATES[i % len(RATES)]
                    print(f"[{kind} round {i + 1}] auth alone p99 {base['auth']['p99_ms']} ms; mass event: one "
                          f"profile edit ({rate}) for {o.logins} logins", flush=True)
                    mass = mass_event(o, conf, ports, tail, info["org_id"], info["profile_id"], auth_rate, proc.pid,
                                      rate)
                    rounds.append({"auth_before": base["auth"], "daemon_busy_before": base["daemon_busy"],
                                   "steal_ms_before": base["steal_ms"], "mass": mass})
                    print(f"[{kind} round {i + 1}] {mass['coa_received']} CoA in {mass['last_coa_after_commit_s']} s "
                          f"({mass['coa_per_s']}/s); auth p99 {base['auth']['p99_ms']} -> "
                          f"{mass['auth_during']['p99_ms']} ms ({ratio_of(rounds[-1]):.2f}x); daemon's core "
                          f"{base['daemon_busy']:.0%} before, {mass['daemon_busy']:.0%} during; steal "
                          f"{base['steal_ms']} ms before, {mass['steal_ms']} ms during", flush=True)
                print(f"[{kind}] latency: {o.suspensions} suspensions one by one")
                lat = latency(o, conf, tail, info["org_id"])
        res.update(logins=o.logins, load=info, auth_rate=round(auth_rate), rounds=rounds, latency=lat,
                   **medians(rounds))
        return res
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)


def ratio_of(rnd: dict[str, Any]) -> float:
    """A round's auth p99 during its mass event over the p99 just before it."""
    return float(rnd["mass"]["auth_during"]["p99_ms"]) / max(float(rnd["auth_before"]["p99_ms"]), 1e-9)


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds' medians (auth p99 before and during, CoA/s, seconds to the last CoA) and each
    round's ratio; ``{}`` without rounds (``--skip-mass``)."""
    if not rounds:
        return {}

    def med(values: list[Any]) -> float | None:
        vals = [float(v) for v in values if v is not None]
        return round(statistics.median(vals), 3) if vals else None
    return {"auth_before_p99_ms": med([r["auth_before"]["p99_ms"] for r in rounds]),
            "auth_during_p99_ms": med([r["mass"]["auth_during"]["p99_ms"] for r in rounds]),
            "ratios": [round(ratio_of(r), 2) for r in rounds],
            "coa_per_s": med([r["mass"]["coa_per_s"] for r in rounds]),
            "last_coa_after_commit_s": med([r["mass"]["last_coa_after_commit_s"] for r in rounds]),
            "coa_complete": all(r["mass"]["complete"] for r in rounds)}


def table(results: list[dict[str, Any]]) -> str:
    out = ["| database | suspension → Disconnect p50 / p99 / max (ms) | mass CoA: logins, to last (s), CoA/s "
           "(medians) | auth p99 before → during (ms, medians) | ratio (rounds) |", "|---|---|---|---|---|"]
    for r in results:
        lat = r["latency"]
        mass = "-" if not r.get("rounds") else (
            f"{r['logins']}{'' if r['coa_complete'] else ' (incomplete)'}, {r['last_coa_after_commit_s']}, "
            f"{r['coa_per_s']}")
        auth = "-" if not r.get("rounds") else f"{r['auth_before_p99_ms']} → {r['auth_during_p99_ms']}"
        ratios = "-" if not r.get("rounds") else (
            f"{r['auth_during_p99_ms'] / max(r['auth_before_p99_ms'], 1e-9):.2f}x "
            f"({', '.join(f'{x:.2f}' for x in r['ratios'])})")
        out.append(f"| {bb.db_label(r)} | {lat['p50_ms']} / {lat['p99_ms']} / {lat['max_ms']} "
                   f"({lat['received']}/{lat['suspensions']}) | {mass} | {auth} | {ratios} |")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--logins", type=int, default=10_000, help="logins with an open session (the mass event)")
    p.add_argument("--suspensions", type=int, default=1000)
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--auth-rate", type=float, default=0.0, help="auth offered per second (default: half the "
                                                                   "calibrated closed-loop rate)")
    p.add_argument("--acct-rate", type=float, default=0.0, help="accounting requests per second during loads")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0, help="auth alone before each mass event")
    p.add_argument("--rounds", type=int, default=3,
                   help="mass events (each one profile edit, alternating the rate), each after its own auth "
                        "baseline; the table gives medians (this machine's speed drifts within a run)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the mass event's CoAs")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    bb.add_generator_arg(p)
    bb.add_pg_cpu_arg(p)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--verbose", action="store_true", help="print each suspension slower than 100 ms")
    p.add_argument("--skip-mass", action="store_true", help="only the latency phase")
    p.add_argument("--json-out", metavar="FILE")
    o = p.parse_args(argv)
    o.customers = o.logins          # radload's --users (bench_billing.Load reads it)
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, k.strip()) for k in o.databases.split(",") if k.strip()]
    print(table(results))
    text = json.dumps(results, indent=1)
    print(text)
    if o.json_out:
        Path(o.json_out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
