#!/usr/bin/env python3
"""The load generators' own ceiling: radblast (C) against ``radblast null``, and radload.py
against nullserver.py, each null server pinned to one CPU and its generator to another.

    .venv/bin/python bench/radblast_ceiling.py                     # 5 s per run, inflight 64
    .venv/bin/python bench/radblast_ceiling.py --modes pap --duration 10 --json

Per run it prints ok/s, bad and lost, latency p50/p99, and the CPU seconds used by the
generator and by the null server over the run: whichever is near the run's length is the
limit.  A figure means something only next to the others of the same run: the machine is
shared, so repeat it and compare within one invocation.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import radblast  # noqa: E402

SECRET = "testing123"
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def start_python_null(o: argparse.Namespace, mode: str) -> tuple[subprocess.Popen[str], int]:
    """bench/nullserver.py pinned to the server CPU; returns it and its port."""
    cmd = ["taskset", "-c", str(o.server_cpu), sys.executable, str(BENCH / "nullserver.py"), "--port", "0",
           "--secret", SECRET, "--max-seconds", str(int(o.duration) + 120)]
    if mode == "mschapv2":
        cmd += ["--mschap-users", str(o.users)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    line = p.stderr.readline()
    if "listening on" not in line:
        p.kill()
        raise RuntimeError(f"nullserver.py did not start: {line}")
    return p, int(line.rsplit(":", 1)[1])


def run_radload(o: argparse.Namespace, mode: str, port: int) -> dict[str, Any]:
    """radload.py pinned to the client CPU, its JSON summary."""
    cmd = [sys.executable, str(BENCH / "radload.py"), "--port", str(port), "--secret", SECRET, "--mode", mode,
           "--users", str(o.users), "--duration", str(o.duration), "--inflight", str(o.inflight),
           "--cpu", str(o.client_cpu), "--json", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=o.duration + 300)
    if not r.stdout.strip():
        raise RuntimeError(f"radload failed: {r.stderr}")
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def row(generator: str, mode: str, s: dict[str, Any], server_cpu: float) -> dict[str, Any]:
    """The figures of one run."""
    return {"generator": generator, "mode": mode, "ok_per_s": s["ok_per_s"], "sent": s["sent"], "ok": s["ok"],
            "bad": s["bad"], "lost": s["lost"], "p50_ms": s["latency_ms"]["p50"], "p99_ms": s["latency_ms"]["p99"],
            "generator_cpu_s": s["generator_cpu_seconds"], "null_server_cpu_s": round(server_cpu, 2),
            "elapsed_s": s["elapsed_seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--modes", default="pap,chap,mschapv2,acct")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--inflight", type=int, default=64)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--only", choices=("radblast", "radload"), default=None)
    p.add_argument("--json", action="store_true")
    o = p.parse_args(argv)
    modes = [m for m in o.modes.split(",") if m]
    radblast.ensure_built()
    rows = []
    for mode in modes:
        if o.only != "radload":
            table = radblast.table_for(o.users) if mode == "mschapv2" else None
            null = radblast.NullServer(secret=SECRET, table=table, cpu=o.server_cpu,
                                       max_seconds=int(o.duration) + 120)
            try:
                c0 = proc_cpu(null.proc.pid)
                s = radblast.run(port=null.port, mode=mode, secret=SECRET, users=o.users, duration=o.duration,
                                 inflight=o.inflight, cpu=o.client_cpu)
                c1 = proc_cpu(null.proc.pid)
            finally:
                null.stop()
            rows.append(row("radblast", mode, s, c1 - c0))
        if o.only != "radblast":
            proc, port = start_python_null(o, mode)
            try:
                time.sleep(0.2)
                c0 = proc_cpu(proc.pid)
                s = run_radload(o, mode, port)
                c1 = proc_cpu(proc.pid)
            finally:
                proc.terminate()
                proc.communicate(timeout=10)
            rows.append(row("radload.py", mode, s, c1 - c0))
        if not o.json:
            for r in rows[-2:] if o.only is None else rows[-1:]:
                print(f"{r['generator']:<11} {r['mode']:<9} ok/s {r['ok_per_s']:>10,.0f}  bad {r['bad']}  lost "
                      f"{r['lost']}  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  generator CPU "
                      f"{r['generator_cpu_s']:.2f} s  null server CPU {r['null_server_cpu_s']:.2f} s  of "
                      f"{r['elapsed_s']:.2f} s", flush=True)
    if o.json:
        print(json.dumps(rows, indent=2))
    return 0 if all(r["bad"] == 0 and r["lost"] == 0 and r["ok"] > 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
