#!/usr/bin/env python3
"""Where the auth p99 goes while a billing job runs: phases under the same auth + accounting load.

The daemon (pinned to CPU 0) runs with a reactor-lag probe (a 5 ms LoopingCall whose lateness is
logged); radload on CPU 1.  Phases, each under the loads (``--phases``, comma separated):

- ``baseline``: nothing else;
- ``hog1`` / ``hog0``: a CPU burner pinned to CPU 1 (beside radload) / CPU 0 (beside the daemon);
- ``job``: ``aaad jobs run billing.run`` of this tree pinned to ``--job-cpu`` (each job phase bills
  the next month, so several can run);
- ``basejob``: the same with the tree at ``--base-tree`` (a ``git archive`` of another commit).

Per phase: radload's auth p50/p99/max, its send lag and losses, accounting p99 and losses, the
daemon's reactor lag (p50/p99/max) and each daemon thread's CPU per second.  Not a test.

    .venv/bin/python bench/probe_job_p99.py --customers 10000 --rate 5000 --phases baseline,hog1,job,baseline
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))
PY = sys.executable

LAG_WRAPPER = """
import os, sys, time
sys.path.insert(0, os.getcwd())
from twisted.internet import task
path, buf, last = os.environ["AAAD_LAGFILE"], [], [time.perf_counter()]
def tick():
    now = time.perf_counter()
    buf.append(f"{time.time():.4f} {(now - last[0] - 0.005) * 1000:.3f}\\n")
    last[0] = now
    if len(buf) >= 200:
        with open(path, "a") as f:
            f.writelines(buf)
        buf.clear()
task.LoopingCall(tick).start(0.005, now=False)
sys.argv = ["aaad"] + sys.argv[1:]
from aaad.cli import main
sys.exit(main())
"""


def threads_cpu(pid: int) -> dict[str, float]:
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        x = stat[stat.rindex(")") + 2:].split()
        out[t] = (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")
    return out


def main() -> None:
    import bench_billing as bb

    from billing import money
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=4000, help="auth requests per second (accounting: 1,000/s)")
    ap.add_argument("--seconds", type=float, default=8, help="length of the baseline and burner phases")
    ap.add_argument("--phases", default="baseline,hog1,hog0,job,baseline")
    ap.add_argument("--job-cpu", default="1")
    ap.add_argument("--base-tree", help="another tree for basejob phases")
    o = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="probe-"))
    daemon = None
    try:
        conf = bb.write_config(d, None)
        rd = datetime.now(UTC).date()
        bb.load(conf, o.customers, rd, 5000, log=lambda *_: None)
        lag = d / "lag.txt"
        wrapper = d / "lagwrap.py"
        wrapper.write_text(LAG_WRAPPER)
        ready = d / "ready.json"
        with open(d / "aaad.log", "w") as dlog:
            daemon = subprocess.Popen(["taskset", "-c", "0", PY, str(wrapper), "-c", str(conf), "serve"],
                                      stdout=dlog, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                      env=dict(os.environ, AAAD_LAGFILE=str(lag)))
        deadline = time.monotonic() + 120
        while not ready.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon did not start; see {d / 'aaad.log'}")
            time.sleep(0.1)
        ports = json.loads(ready.read_text())
        ns = argparse.Namespace(load_cpu="1", customers=o.customers, acct_rate=1000.0)
        months = [0]
        results: list[tuple[str, float, float, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        pid = daemon.pid

        def phase(name: str, during: Callable[[], dict[str, Any]]) -> None:
            auth, acct = bb.loads(ns, ports, o.rate, "accept")
            assert acct is not None      # acct_rate > 0
            c0, ts = threads_cpu(pid), time.time()
            extra = during()
            te, c1 = time.time(), threads_cpu(pid)
            a, c = auth.stop(), acct.stop()
            extra["daemon_cpu_per_s"] = {k: round((v - c0.get(k, 0)) / (te - ts), 2) for k, v in c1.items()
                                         if v - c0.get(k, 0) > 0.01 * (te - ts)}
            results.append((name, ts, te, bb.summary(a), bb.summary(c), extra))

        def sleep() -> dict[str, Any]:
            time.sleep(o.seconds)
            return {}

        def hog(cpu: str) -> Callable[[], dict[str, Any]]:
            def run() -> dict[str, Any]:
                h = subprocess.Popen(["taskset", "-c", cpu, PY, "-c", "while True: pass"])
                time.sleep(o.seconds)
                h.kill()
                h.wait()
                return {}
            return run

        def job(tree: Path) -> Callable[[], dict[str, Any]]:
            def run() -> dict[str, Any]:
                on = money.add_months(rd, months[0], bb.billing_day_of(rd))
                months[0] += 1
                t = time.perf_counter()
                r = subprocess.run(["taskset", "-c", o.job_cpu, PY, "-m", "aaad", "-c", str(conf), "jobs", "run",
                                    "billing.run", "--org", bb.ORG, "--date", on.isoformat()],
                                   cwd=str(tree), capture_output=True, text=True)
                return {"job_s": round(time.perf_counter() - t, 2), "exit": r.returncode}
            return run

        for p in o.phases.split(","):
            fn = {"baseline": sleep, "hog1": hog("1"), "hog0": hog("0"), "job": job(ROOT),
                  "basejob": job(Path(o.base_tree or ROOT))}[p]
            phase(p, fn)
            time.sleep(1)
        daemon.terminate()
        daemon.wait(30)
        samples = [tuple(map(float, line.split())) for line in lag.read_text().splitlines()]
        print(f"{'phase':9} {'auth p50':>8} {'p99':>7} {'max':>7} {'sendlag':>7} {'lost':>5} | "
              f"{'acct p99':>8} {'lost':>5} | reactor lag ms p50/p99/max | extra")
        for name, ts, te, a, c, extra in results:
            lags = sorted(v for t, v in samples if ts <= t <= te) or [float("nan")]

            def q(x: float, lags: list[float] = lags) -> float:
                return lags[min(len(lags) - 1, int(x * len(lags)))]
            print(f"{name:9} {a['p50_ms']:8.1f} {a['p99_ms']:7.1f} {a['max_ms']:7.1f} "
                  f"{a['max_send_lag_ms'] or 0:7.1f} {a['lost']:5d} | {c['p99_ms']:8.1f} {c['lost']:5d} | "
                  f"{q(.5):6.1f} {q(.99):6.1f} {lags[-1]:7.1f} | {extra}")
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
