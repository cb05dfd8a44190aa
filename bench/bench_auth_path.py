#!/usr/bin/env python3
"""CPU per Access-Request on aaad's auth path, in one process, without sockets.

The real ``AuthProtocol`` (Message-Authenticator check, duplicate cache, the controller's stages,
the reply with its Message-Authenticator, the auth log's buffer) on a real in-memory view of
``--logins`` logins with the bench's two profiles, fed pre-built PAP (or CHAP, MS-CHAPv2)
Access-Requests as radload sends them, replies written to a counting transport.  The socket calls
(``recvfrom``, ``sendto``: several microseconds each in the kernel) are not in the figure: it is
the Python work per request, the part this project's code decides.  ``--profile`` prints
cProfile's top functions instead of timing.

Run: ``.venv/bin/python bench/bench_auth_path.py [--mode pap] [--logins 100000] [--seconds 3]``.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import radload  # noqa: E402  (the bench's own encoders, independent of aaad's)

from aaad.auth.controller import AuthController  # noqa: E402
from aaad.metrics import Stats  # noqa: E402
from aaad.nas import Nas  # noqa: E402
from aaad.radius.dictionary import load_dictionary  # noqa: E402
from aaad.radius.server import AuthProtocol, RadiusConfig, RadiusStats  # noqa: E402
from aaad.view.memory import AAAView  # noqa: E402
from aaad.view.model import Login, Profile  # noqa: E402
from aaad.view.store import Snapshot  # noqa: E402

SECRET = b"testing123"
ADDR = ("127.0.0.1", 40000)


class Clock:
    """The daemon's clock as the reactor gives it: wall time."""
    seconds = staticmethod(time.time)

    def callLater(self, *_a: object, **_k: object) -> None:  # noqa: N802  (no reject delay here)
        raise AssertionError("no delayed rejects in this bench")


class Transport:
    def __init__(self) -> None:
        self.n = 0
        self.last = b""

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.n += 1
        self.last = data


class AuthLogSink:
    """The auth log's buffer without its writer thread (the bench measures the reactor's work)."""
    def __init__(self) -> None:
        self.buf: list[tuple[object, ...]] = []

    def add(self, entry: tuple[object, ...]) -> None:
        self.buf.append(entry)
        if len(self.buf) >= 2000:
            self.buf = []


def build(o: argparse.Namespace) -> tuple[AuthProtocol, Transport]:
    d = load_dictionary()
    profiles = [Profile(1, 1, "bench-10M", rate_limit="10M/10M", interim_interval=300, pool="pppoe-pool"),
                Profile(2, 1, "bench-50M", rate_limit="50M/50M", interim_interval=300, pool="pppoe-pool")]
    logins = [Login(i + 1, 1, o.user_format % i, (o.password_format % i).encode(), profile_id=1 + i % 2)
              for i in range(o.logins)]
    view = AAAView()
    view.load(Snapshot(0, [Nas(1, 1, "bench", "127.0.0.1", SECRET, "mikrotik", 3799, True)], profiles, logins))
    ctl = AuthController(view, d)
    view.listeners.append(ctl.on_view_change)
    ctl.precompile(view.logins.values())      # as the daemon does at start-up
    proto = AuthProtocol(view, ctl, Clock(), RadiusStats(Stats()), AuthLogSink(),  # type: ignore[arg-type]
                         RadiusConfig(reject_delay=0.0), d.vendor_ids)
    tr = Transport()
    proto.transport = tr  # type: ignore[assignment]
    return proto, tr


def requests(o: argparse.Namespace, n: int) -> list[bytes]:
    """``n`` Access-Requests from radload's own Worker (a fresh authenticator and identifier each)."""
    args = radload.parse_args(["--mode", o.mode, "--users", str(o.logins), "--secret", SECRET.decode(),
                               "--user-format", o.user_format, "--password-format", o.password_format])
    w = radload.Worker(args, 0, 1)
    return [w.build(i & 255, i % o.logins)[0] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("pap", "chap", "mschapv2"), default="pap")
    p.add_argument("--logins", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=50_000, help="distinct requests built (replayed)")
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per run")
    p.add_argument("--repeat", type=int, default=5, help="runs; the fastest one is reported")
    p.add_argument("--user-format", default="user%06d")
    p.add_argument("--password-format", default="pass%06d")
    p.add_argument("--profile", action="store_true", help="cProfile's top 30 functions by own time")
    o = p.parse_args(argv)
    proto, tr = build(o)
    reqs = requests(o, o.requests)
    ports = [(ADDR[0], ADDR[1] + k) for k in range(64)]
    receive = proto.datagramReceived

    def run(seconds: float) -> tuple[int, float]:
        n, t0 = 0, time.process_time()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for i in range(0, len(reqs), 1000):
                for k, data in enumerate(reqs[i:i + 1000]):
                    receive(data, ports[k & 63])
                n += 1000
            proto.dedup = type(proto.dedup)(proto.clock, proto.dedup.window)   # replayed: not duplicates
        return n, time.process_time() - t0

    run(0.5)  # warm the caches (compiled replies, NT hashes)
    before = tr.n
    if o.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(o.seconds)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return 0
    best = None
    for _ in range(o.repeat):                 # the least CPU per request of the runs: the others were disturbed
        n, cpu = run(o.seconds)
        if best is None or cpu / n < best[1] / best[0]:
            best = (n, cpu)
    assert best is not None
    n, cpu = best
    answered = (tr.n - before) // o.repeat
    ok = tr.last[0] == radload.ACCESS_ACCEPT
    print(f"{o.mode}: {n} requests, {cpu / n * 1e6:.2f} us CPU per request ({n / cpu:,.0f}/s of one core), "
          f"answered {answered}, last reply {'Access-Accept' if ok else tr.last[:1].hex()}, pid {os.getpid()}")
    return 0 if answered >= n and ok else 1


if __name__ == "__main__":
    sys.exit(main())
