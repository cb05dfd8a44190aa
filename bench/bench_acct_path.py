#!/usr/bin/env python3
"""CPU per durable Accounting-Request on aaad's accounting path, in one process, without sockets.

The real ``AcctProtocol`` (Request Authenticator and Message-Authenticator checks, the duplicate
cache, ``parse_record``, the answer built after commit) on the real view of ``--logins`` logins
(loaded by ``bench/load_logins.py`` into a fresh SQLite database), its items committed by the real
``accounting.store.apply_batch`` in one writer transaction per ``--batch`` requests (what the
writer thread's group commit does with that many requests in flight), fed radload's own
Start / Interim / Stop requests.  Prints the CPU per request of each half: the reactor's (decode,
checks, parse, reply) and the writer's (the transaction), and their sum.  Sockets and the
thread hops are not in it.  ``--profile`` prints cProfile's top functions of the run instead.

Run: ``.venv/bin/python bench/bench_acct_path.py [--logins 20000] [--requests 60000] [--batch 64]``.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import radload  # noqa: E402  (the bench's own encoders, independent of aaad's)
import sqlalchemy as sa  # noqa: E402
from bench_acct import SECRET, load_logins, write_config  # noqa: E402
from bench_auth_path import Clock, Transport  # noqa: E402  (the same wall clock and counting transport)
from twisted.internet import defer  # noqa: E402

from aaad import app  # noqa: E402
from aaad.db import begin_tx, make_engine  # noqa: E402
from aaad.metrics import Stats  # noqa: E402
from aaad.nas import Nas  # noqa: E402
from aaad.schema import logins as logins_t  # noqa: E402
from aaad.schema import nas as nas_t  # noqa: E402
from aaad.view.memory import AAAView  # noqa: E402
from aaad.view.model import Login  # noqa: E402
from aaad.view.store import Snapshot  # noqa: E402
from accounting.server import AcctProtocol, AcctStats  # noqa: E402
from accounting.store import apply_batch  # noqa: E402

ADDR = ("127.0.0.1", 41000)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logins", type=int, default=20_000)
    p.add_argument("--requests", type=int, default=60_000)
    p.add_argument("--batch", type=int, default=64, help="requests per writer transaction")
    p.add_argument("--mix", default="start,interim,interim,stop")
    p.add_argument("--profile", action="store_true")
    o = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="aaad-acct-path-"))
    try:
        conf_path = write_config(tmp)
        load_logins(conf_path, o.logins)
        conf = app.load_config(str(conf_path))
        url = app.prepare_storage(conf)
        engine = make_engine(url, write=True)
        with engine.connect() as conn:
            (nas_id, org_id) = conn.execute(sa.select(nas_t.c.id, nas_t.c.org_id)).one()
            ids = conn.execute(sa.select(logins_t.c.id, logins_t.c.username, logins_t.c.profile_id)).all()
        view = AAAView()
        view.load(Snapshot(0, [Nas(nas_id, org_id, "bench", "127.0.0.1", SECRET.encode(), "mikrotik", 3799, False)],
                           [], [Login(i, org_id, u, b"", profile_id=None) for i, u, _ in ids]))
        queue: list[tuple[Any, defer.Deferred[Any]]] = []

        def submit(item: Any) -> defer.Deferred[Any]:
            d: defer.Deferred[Any] = defer.Deferred()
            queue.append((item, d))
            return d

        proto = AcctProtocol(view, submit, Clock(), AcctStats(Stats()), None)
        tr = Transport()
        proto.transport = tr  # type: ignore[assignment]
        args = radload.parse_args(["--mode", "acct", "--users", str(o.logins), "--secret", SECRET,
                                   "--acct-mix", o.mix, "--run-id", f"b{int(time.time())}"])
        w = radload.Worker(args, 0, 1)
        reqs = [w.build(i & 255, i % o.logins)[0] for i in range(o.requests)]
        ports = [(ADDR[0], ADDR[1] + k) for k in range(256)]
        reactor_cpu = writer_cpu = 0.0

        def run() -> None:
            nonlocal reactor_cpu, writer_cpu
            for i in range(0, len(reqs), o.batch):
                t0 = time.process_time()
                for k, data in enumerate(reqs[i:i + o.batch]):
                    proto.datagramReceived(data, ports[(i + k) // 256 % 256])
                t1 = time.process_time()
                items = [it for it, _ in queue]
                with engine.begin() as conn:
                    begin_tx(conn)
                    outcomes = apply_batch(conn, items)
                t2 = time.process_time()
                batch, queue[:] = list(queue), []
                for (_, d), out in zip(batch, outcomes, strict=True):
                    d.callback(out)
                t3 = time.process_time()
                reactor_cpu += (t1 - t0) + (t3 - t2)
                writer_cpu += t2 - t1

        if o.profile:
            prof = cProfile.Profile()
            prof.enable()
            run()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(35)
            return 0
        run()
        n = len(reqs)
        print(f"accounting ({o.mix}, {o.logins} logins, {o.batch} per commit): {n} requests, answered {tr.n}; "
              f"CPU per request: reactor {reactor_cpu / n * 1e6:.1f} us + writer {writer_cpu / n * 1e6:.1f} us "
              f"= {(reactor_cpu + writer_cpu) / n * 1e6:.1f} us ({n / (reactor_cpu + writer_cpu):,.0f}/s of one core)")
        engine.dispose()
        return 0 if tr.n == n else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
