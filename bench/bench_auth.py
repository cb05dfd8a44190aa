#!/usr/bin/env python3
"""End-to-end auth server benchmark: the real daemon against radload.

Creates a temporary data dir and config (web port 0, auth_port 0 on
127.0.0.1, reject_delay 0, a ready file), loads N logins with
``bench/load_logins.py``, starts ``taskset -c DAEMON_CPU aaad -c CONF
serve``, waits for the ready file, records start-up time (process start to
ready file) and VmRSS, then runs ``bench/radload.py`` pinned with
``taskset -c LOAD_CPU``:

- pap      closed loop (``--inflight``), the throughput ceiling;
- mschapv2 closed loop;
- pap      open loop at ``--rate`` req/s, for the latency at that load.

Each run lasts ``--duration`` seconds.  Prints a table (mode, req/s, p50,
p99, lost, bad, daemon CPU per request) and the RSS and start-up figures,
then stops the daemon with SIGTERM (SIGKILL after a bound).

Run: ``.venv/bin/python bench/bench_auth.py`` (about a minute).
``--py-spy DIR`` also records a py-spy flame graph of the daemon during each
run (needs ``py-spy`` in the venv and ptrace permission).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SECRET = "bench-secret-123"


_SPY_EXT = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}


def venv_bin(name: str) -> str:
    p = Path(sys.executable).parent / name
    return str(p) if p.exists() else name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--logins", type=int, default=100_000)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per radload run")
    p.add_argument("--inflight", type=int, default=512, help="closed-loop outstanding requests")
    p.add_argument("--rate", type=float, default=10_000, help="open-loop requests per second")
    p.add_argument("--modes", default="pap,mschapv2,open",
                   help="comma separated runs: pap, chap, mschapv2 (closed loop), open (PAP at --rate)")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    p.add_argument("--dir", help="data/config dir to use (default: a temp dir, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (printed)")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--py-spy", metavar="DIR", help="record a py-spy flame graph per run into DIR")
    p.add_argument("--py-spy-format", choices=("flamegraph", "raw", "speedscope"), default="flamegraph",
                   help="py-spy's output: an SVG flame graph, or raw collapsed stacks (one line per stack, "
                        "for grep and sort)")
    p.add_argument("--json", action="store_true", help="print the results as JSON too")
    return p.parse_args(argv)


def write_config(d: Path) -> Path:
    conf = d / "aaad.toml"
    conf.write_text(f"""\
[server]
data_dir = "{d / 'data'}"
ready_file = "{d / 'ready.json'}"
log_level = "info"

[web]
address = "127.0.0.1"
port = 0

[radius]
address = "127.0.0.1"
auth_port = 0
reject_delay = 0.0
""")
    return conf


def proc_status(pid: int, key: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(ready: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_auth: daemon exited with {proc.returncode} before ready")
        try:
            return json.loads(ready.read_text())
        except (OSError, ValueError):
            time.sleep(0.005)
    raise SystemExit(f"bench_auth: daemon not ready after {timeout}s")


def radload(o: argparse.Namespace, port: int, mode: str, extra: list[str]) -> dict:
    cmd = ["taskset", "-c", o.load_cpu, sys.executable, str(BENCH / "radload.py"),
           "--server", "127.0.0.1", "--port", str(port), "--secret", SECRET, "--mode", mode,
           "--users", str(o.logins), "--duration", str(o.duration), "--json", "--quiet"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=o.duration + 60)
    if not r.stdout.strip():
        raise SystemExit(f"bench_auth: radload failed ({r.returncode}): {r.stderr[-2000:]}")
    sm = json.loads(r.stdout)
    sm["command"] = " ".join(cmd)
    return sm


def stop(proc: subprocess.Popen, bound: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(bound)
    except subprocess.TimeoutExpired:
        print(f"bench_auth: daemon did not stop within {bound}s of SIGTERM; killing", file=sys.stderr)
        proc.kill()
        proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    d = Path(o.dir) if o.dir else Path(tempfile.mkdtemp(prefix="aaad-bench-"))
    d.mkdir(parents=True, exist_ok=True)
    conf = write_config(d)
    ready = d / "ready.json"
    ready.unlink(missing_ok=True)
    print(f"dir {d}")
    t = time.perf_counter()
    subprocess.run([sys.executable, str(BENCH / "load_logins.py"), "-c", str(conf), "--secret", SECRET,
                    "-n", str(o.logins), "--replace"], check=True, timeout=600)
    load_s = time.perf_counter() - t
    cmd = ["taskset", "-c", o.daemon_cpu, venv_bin("aaad"), "-c", str(conf), "serve"]
    t0 = time.monotonic()
    with open(d / "aaad.log", "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(d))
    rows = []
    try:
        info = wait_ready(ready, proc, o.ready_timeout)
        startup = time.monotonic() - t0
        pid = proc.pid
        time.sleep(0.2)
        rss_ready = proc_status(pid, "VmRSS") / 1024
        print(f"daemon pid {pid} ready in {startup:.2f}s, auth port {info['auth']}, RSS {rss_ready:.1f} MB")
        print(f"daemon: {' '.join(cmd)}")
        runs = {
            "pap": ("pap", ["--inflight", str(o.inflight)]),
            "chap": ("chap", ["--inflight", str(o.inflight)]),
            "mschapv2": ("mschapv2", ["--inflight", str(o.inflight)]),
            "open": ("pap", ["--rate", str(o.rate)]),
        }
        for name in o.modes.split(","):
            mode, extra = runs[name]
            spy = None
            if o.py_spy:
                Path(o.py_spy).mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen([venv_bin("py-spy"), "record", "--pid", str(pid), "--rate", "250",
                                        "--duration", str(int(o.duration)), "--nonblocking",
                                        "--format", o.py_spy_format,
                                        "-o", str(Path(o.py_spy) / f"{name}.{_SPY_EXT[o.py_spy_format]}")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            c0 = cpu_seconds(pid)
            sm = radload(o, info["auth"], mode, extra)
            c1 = cpu_seconds(pid)
            if spy is not None:
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.kill()
            label = f"{mode} open {o.rate:g}/s" if name == "open" else f"{mode} closed {o.inflight}"
            answered = max(1, sm["answered"])
            rows.append({"run": label, "req_s": sm["ok_per_s"], "p50": sm["latency_ms"]["p50"],
                         "p99": sm["latency_ms"]["p99"], "p999": sm["latency_ms"]["p999"],
                         "lost": sm["lost"], "bad": sm["bad"], "sent": sm["sent"], "ok": sm["ok"],
                         "daemon_cpu_us": round((c1 - c0) / answered * 1e6, 1),
                         "daemon_cpu_pct": round((c1 - c0) / max(1e-9, sm["elapsed_seconds"]) * 100),
                         "command": sm["command"]})
            print(f"  {label}: {sm['ok_per_s']:.0f} ok/s p50 {sm['latency_ms']['p50']} ms "
                  f"p99 {sm['latency_ms']['p99']} ms lost {sm['lost']} bad {sm['bad']}", flush=True)
        rss_end = proc_status(pid, "VmRSS") / 1024
        hwm = proc_status(pid, "VmHWM") / 1024
    finally:
        stop(proc)
    print()
    print(f"logins {o.logins}, bulk load {load_s:.1f}s; daemon on CPU {o.daemon_cpu}, radload on CPU {o.load_cpu}; "
          f"{o.duration:g}s per run")
    print(f"start-up (process start -> ready file): {startup:.2f} s")
    print(f"RSS after load: {rss_ready:.1f} MB; after the runs: {rss_end:.1f} MB (peak {hwm:.1f} MB)")
    print()
    hdr = f"{'run':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9':>8} {'lost':>6} {'bad':>5} {'cpu us/req':>10}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['run']:<24} {r['req_s']:>8.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} {r['p999']:>8.3f} "
              f"{r['lost']:>6} {r['bad']:>5} {r['daemon_cpu_us']:>10.1f}")
    if o.json:
        print(json.dumps({"startup_s": round(startup, 3), "rss_mb": round(rss_ready, 1),
                          "rss_end_mb": round(rss_end, 1), "rss_peak_mb": round(hwm, 1),
                          "logins": o.logins, "runs": rows}, indent=1))
    if not o.dir and not o.keep:
        shutil.rmtree(d, ignore_errors=True)
    elif o.keep:
        print(f"kept {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
