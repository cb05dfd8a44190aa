#!/usr/bin/env python3
"""Accounting benchmarks: durable requests per second, and one aggregation pass.

1. ``server``: the real daemon on a temporary data dir (SQLite, jobs off),
   ``--logins`` logins loaded with ``bench/load_logins.py``, pinned with
   ``taskset -c DAEMON_CPU``; ``bench/radload.py --mode acct`` (an
   independent generator, Start/Interim/Stop per user) pinned to LOAD_CPU.
   Every Accounting-Response is sent only after its record committed, so
   answered/s is durable requests per second.  Prints req/s, p50, p99, lost,
   the writer's batches and ops, and the daemon's CPU per request.
2. ``aggregation``: in process, ``--sessions`` open sessions spread over the
   logins (written through ``store.apply_batch``, timed too), then one full
   5-minute aggregation pass (``store.aggregate_chunk`` in chunks of
   ``--chunk``), timed, with the RSS it adds.

Run: ``.venv/bin/python bench/bench_acct.py`` (about a minute);
``--only server`` or ``--only aggregation`` for one of them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
SECRET = "testing123"


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(d: Path, db_url: str | None = None) -> Path:
    conf = d / "aaad.toml"
    db = f'[database]\nurl = "{db_url}"\n' if db_url else ""
    conf.write_text(db + f"""
[server]
data_dir = "{d / 'data'}"
ready_file = "{d / 'ready.json'}"
log_level = "warn"
[web]
port = 0
[radius]
auth_port = 0
address = "127.0.0.1"
[jobs]
enabled = false
[accounting]
port = 0
address = "127.0.0.1"
rrd_enabled = false
""")
    return conf


def load_logins(conf: Path, n: int) -> None:
    subprocess.run([PY, str(ROOT / "bench" / "load_logins.py"), "-c", str(conf), "--secret", SECRET,
                    "-n", str(n)], check=True, capture_output=True, text=True)


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[k] = float(v)
        return out


def bench_server(args: argparse.Namespace, tmp: Path) -> dict:
    pg = None
    if args.postgres:
        sys.path.insert(0, str(ROOT))
        from tests.pg import start_cluster
        pg = start_cluster(fsync=True)
        args.db_url = pg.new_database()
    conf = write_config(tmp, getattr(args, "db_url", None))
    load_logins(conf, args.logins)
    ready = tmp / "ready.json"
    proc = subprocess.Popen(["taskset", "-c", str(args.daemon_cpu), PY, "-m", "aaad", "-c", str(conf), "serve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=str(ROOT))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # the daemon's readiness file
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("daemon did not start")
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        rss0 = rss_kib(proc.pid)
        cmd = [PY, str(ROOT / "bench" / "radload.py"), "--mode", "acct", "--port", str(ports["acct"]),
               "--secret", SECRET, "--users", str(args.logins), "--duration", str(args.duration),
               "--inflight", str(args.inflight), "--acct-mix", args.mix, "--json", "--quiet"]
        cpu0 = cpu_seconds(proc.pid)
        r = subprocess.run(["taskset", "-c", str(args.load_cpu), *cmd], capture_output=True, text=True, check=True)
        cpu1 = cpu_seconds(proc.pid)
        s = json.loads(r.stdout)
        m = metrics(ports["web"])
        answered = s["answered"]
        return {
            "mix": args.mix, "logins": args.logins, "inflight": args.inflight,
            "sent": s["sent"], "answered": answered, "lost": s["lost"], "bad": s["bad"],
            "req_per_s": s["throughput_per_s"], "p50_ms": s["latency_ms"]["p50"],
            "p99_ms": s["latency_ms"]["p99"],
            "writer_batches": m.get("aaad_db_write_batches"), "writer_ops": m.get("aaad_db_write_ops"),
            "ops_per_batch": round(m.get("aaad_db_write_ops", 0) / max(1, m.get("aaad_db_write_batches", 1)), 1),
            "daemon_cpu_us_per_req": round((cpu1 - cpu0) / max(1, answered) * 1e6, 1),
            "daemon_rss_mib": round(rss_kib(proc.pid) / 1024, 1), "daemon_rss_start_mib": round(rss0 / 1024, 1),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if pg is not None:
            pg.stop()


def bench_aggregation(args: argparse.Namespace, tmp: Path) -> dict:
    import sqlalchemy as sa

    from aaad import app
    from aaad.db import sync_engine
    from aaad.schema import logins as logins_t
    from aaad.schema import nas as nas_t
    from accounting import sessions as sm
    from accounting import store

    conf_path = write_config(tmp)
    load_logins(conf_path, args.logins)
    conf = app.load_config(str(conf_path))
    engine = sync_engine(app.prepare_storage(conf))
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(logins_t.c.id, logins_t.c.org_id))]
        nas_id, org_id = conn.execute(sa.select(nas_t.c.id, nas_t.c.org_id)).one()
    t0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    n = args.sessions
    began = time.perf_counter()
    for base in range(0, n, 1000):  # Starts, as the writer would batch them
        items = [store.AcctItem(sm.AcctRecord(sm.STATUS_START, nas_id, f"s{i}", f"user{i % len(ids):06d}", t0),
                                org_id, ids[i % len(ids)]) for i in range(base, min(n, base + 1000))]
        with engine.begin() as conn:
            store.apply_batch(conn, items)
    starts = time.perf_counter() - began
    began = time.perf_counter()
    for base in range(0, n, 1000):  # one Interim each: new counters for every session
        items = [store.AcctItem(sm.AcctRecord(sm.STATUS_INTERIM, nas_id, f"s{i}", f"user{i % len(ids):06d}",
                                              t0 + timedelta(seconds=300), session_time=300,
                                              input_octets=1000 + i, output_octets=5000 + i),
                                org_id, ids[i % len(ids)]) for i in range(base, min(n, base + 1000))]
        with engine.begin() as conn:
            store.apply_batch(conn, items)
    interims = time.perf_counter() - began
    rss0 = rss_kib()
    slot = t0 + timedelta(seconds=300)
    began = time.perf_counter()
    after, chunks, total, longest = 0, 0, 0, 0.0
    while True:
        c0 = time.perf_counter()
        with engine.begin() as conn:
            c = store.aggregate_chunk(conn, after, args.chunk, slot, slot)
        longest = max(longest, time.perf_counter() - c0)
        if c.sessions == 0:
            break
        chunks += 1
        total += c.sessions
        after = c.last_id
    agg = time.perf_counter() - began
    rss1 = rss_kib()
    engine.dispose()
    return {"sessions": total, "logins": len(ids), "chunks": chunks, "chunk": args.chunk,
            "aggregation_s": round(agg, 2), "longest_chunk_s": round(longest, 3),
            "rss_added_mib": round((rss1 - rss0) / 1024, 1),
            "apply_batch_starts_per_s": round(n / starts), "apply_batch_interims_per_s": round(n / interims)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["server", "aggregation"])
    p.add_argument("--logins", type=int, default=10_000)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--inflight", type=int, default=512)
    p.add_argument("--mix", default="start,interim,interim,stop")
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=5000)
    p.add_argument("--daemon-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--postgres", action="store_true",
                   help="run the server bench on a private PostgreSQL cluster (fsync on) instead of SQLite")
    args = p.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed")
    out = {}
    if args.only in (None, "server"):
        with tempfile.TemporaryDirectory(prefix="aaad-bench-acct-") as d:
            out["server"] = bench_server(args, Path(d))
            s = out["server"]
            print(f"accounting server on {'PostgreSQL' if args.postgres else 'SQLite'} ({s['mix']}, {s['logins']} "
                  f"logins, inflight {s['inflight']}): "
                  f"{s['req_per_s']:.0f} durable req/s  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  "
                  f"lost {s['lost']}  bad {s['bad']}  {s['ops_per_batch']} ops/commit  "
                  f"daemon {s['daemon_cpu_us_per_req']} us CPU/req  RSS {s['daemon_rss_mib']} MiB", flush=True)
    if args.only in (None, "aggregation"):
        with tempfile.TemporaryDirectory(prefix="aaad-bench-agg-") as d:
            out["aggregation"] = a = bench_aggregation(args, Path(d))
            print(f"aggregation: {a['sessions']} sessions of {a['logins']} logins in {a['chunks']} chunks: "
                  f"{a['aggregation_s']} s (longest chunk {a['longest_chunk_s']} s), RSS +{a['rss_added_mib']} MiB; "
                  f"apply_batch {a['apply_batch_starts_per_s']} Starts/s, {a['apply_batch_interims_per_s']} Interims/s")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
