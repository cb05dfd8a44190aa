#!/usr/bin/env python3
"""aaad side by side with FreeRADIUS 3.2 in one run: medians and ratios (``make bench-compare``).

Servers, all pinned to one CPU (``--server-cpu``, default 0) and all running
for the whole run, only one under load at a time:

- aaad, the real daemon as bench/bench_acct.py starts it (its config,
  ``--logins`` logins loaded by bench/load_logins.py, durable accounting on
  SQLite, the default);
- FreeRADIUS "files": the same logins in a flat users file, accounting stores
  nothing (bench/freeradius_conf.py has the config and why);
- FreeRADIUS + SQLite, for the record: rlm_sql with Debian's schema and
  queries, the logins in radcheck, accounting into radacct (``--no-sqlite``
  leaves it out);
- the load generator's null server, for the generator's own ceiling.

The load generator runs on the other CPU (``--load-cpu``, default 1). Every
Access-Request carries a Message-Authenticator; every reply is verified by the
generator (bench/README.md), and a measurement whose ok differs from answered,
with a bad reply or more than 0.1% lost, is flagged in the table, not dropped.

Figures, each measured ``--rounds`` times with the servers interleaved
(A B C N A B C N ...), ``--duration`` seconds per measurement, closed loop
with ``--inflight`` requests outstanding:

- ``pap``, ``chap``, ``mschapv2``: Access-Requests answered correctly per second;
- ``acct``: durable accounting requests per second (Start/Interim/Stop, a
  fresh Acct-Session-Id per session: each measurement has its own run id) and
  their p99;
- ``open``: open loop at 50% of FreeRADIUS files' PAP maximum measured in this
  run (the median of its ``pap`` rounds; ``--open-rate`` to fix it), p50/p99;
- ``ceiling``: the same loads against the null server, in the same rounds.
  The generator's requests per CPU-second there are its ceiling on one core
  (the null server may answer fewer: radload's, in Python, is itself the limit
  near 30k/s); the table gives ceiling ÷ each figure (it should be at least
  3x), and any measurement of a server during which the generator was on CPU
  more than 90% of the time is flagged: its figure may be the generator's.

Progress on stderr, the markdown table on stdout, ``--json`` for every
measurement's raw figures as well. Run: ``make bench-compare`` or
``.venv/bin/python bench/bench_compare.py --rounds 2 --duration 5``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:  # imported (tests), not run: the bench modules import each other by name
    sys.path.insert(0, str(BENCH))

import bench_acct  # noqa: E402
import bench_auth  # noqa: E402
import freeradius_conf as frc  # noqa: E402

from tests.nas_freeradius import free_udp_port  # noqa: E402  (bench_acct put the repository on sys.path)

SECRET = bench_acct.SECRET           # the NAS secret bench_acct.load_logins gives aaad's NAS record
USER_FORMAT, PASSWORD_FORMAT = "user%06d", "pass%06d"   # bench/load_logins.py's logins
ITEMS = ("pap", "chap", "mschapv2", "acct", "open", "ceiling")
CLOSED = ("pap", "chap", "mschapv2", "acct")
DEFAULT_GENERATOR = "radblast"       # bench/radblast.c; "radload" (Python) for a machine without gcc
LOST_LIMIT = 0.001                   # a measurement losing more than this share of what it sent is flagged
GENERATOR_BUSY = 0.9                 # ... and one where the generator was on CPU more than this share of the time
SEND_LAG_MS = 10.0                   # open loop: the generator's latencies include its own delays past this
HEADROOM = 3.0                       # the generator's ceiling should be at least this multiple of a figure


# -- the load generator: one small seam, so switching generators is one line --------------------------

@dataclass(frozen=True)
class Generator:
    """A load generator with radload's client CLI and JSON summary, and its null server."""

    name: str
    client: list[str]                                  # argv before radload's options
    null: Callable[[int, str, int], list[str]]         # (port, secret, users) -> argv of the null server


def generator(name: str) -> Generator:
    py = sys.executable
    if name == "radblast":
        radblast = importlib.import_module("radblast")   # bench/radblast.py: builds and drives bench/radblast.c
        radblast.ensure_built()
        wrapper = str(BENCH / "radblast.py")

        def null(port: int, secret: str, users: int) -> list[str]:
            # the MS-CHAPv2 table (challenges and expected MS-CHAP2-Success per user) is the one the client
            # picks for the same users: table_for caches it by users and formats
            table = radblast.table_for(users, 0, USER_FORMAT, PASSWORD_FORMAT)
            return [py, wrapper, "null", "--port", str(port), "--secret", secret, "--max-seconds", str(7 * 86400),
                    "--table", str(table)]
        return Generator("radblast", [py, wrapper, "client"], null)
    if name == "radload":
        return Generator("radload", [py, str(BENCH / "radload.py")],
                         lambda port, secret, users: [py, str(BENCH / "nullserver.py"), "--port", str(port),
                                                      "--secret", secret, "--mschap-users", str(users),
                                                      "--max-seconds", str(7 * 86400)])
    raise SystemExit(f"bench_compare: unknown generator {name!r} (radblast or radload)")


# -- servers ---------------------------------------------------------------------------------------

@dataclass
class Server:
    key: str                 # aaad, fr_files, fr_sqlite, null
    label: str
    auth_port: int
    acct_port: int
    pid: int
    running: Callable[[], bool]
    log_path: Path | None = None     # its log, quoted in a flagged measurement's note


def log_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0


def log_errors(path: Path | None, offset: int, limit: int = 3) -> list[str]:
    """The most frequent error lines a server logged after ``offset`` (request numbers and times left out)."""
    if path is None:
        return []
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read(8 << 20).decode(errors="replace")
    except OSError:
        return []
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if re.search(r"\b(error|ERROR|Error)\b", line):
            msg = re.sub(r"^.*?: (ERROR|Error|error): ", "", line)
            msg = re.sub(r"^\(\d+\) ", "", msg).strip()[:160]
            counts[msg] = counts.get(msg, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [f"{n} x '{msg}'" for msg, n in top]


SERVER_LABELS = {"aaad": "aaad", "fr_files": "FreeRADIUS files", "fr_sqlite": "FreeRADIUS + SQLite",
                 "null": "null server"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextmanager
def popen(cmd: list[str], logfile: Path, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in ``logfile``; stopped (TERM, then KILL) on the way out."""
    with logfile.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)
    try:
        yield proc
    finally:
        bench_auth.stop(proc)


def wait_udp_bound(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    """Wait until something has bound UDP ``port`` on this host (/proc/net/udp), or ``proc`` exits."""
    want = f":{port:04X}"      # local_address is hex IP:port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_compare: {what} exited with {proc.returncode} before listening")
        with open("/proc/net/udp") as f:
            if any(line.split()[1].endswith(want) for line in f.readlines()[1:]):
                return
        time.sleep(0.02)
    raise SystemExit(f"bench_compare: {what} not listening on UDP {port} after {timeout} s")


def start_aaad(stack: ExitStack, d: Path, o: argparse.Namespace) -> Server:
    d.mkdir(parents=True, exist_ok=True)
    conf = bench_acct.write_config(d)
    t = time.monotonic()
    bench_acct.load_logins(conf, o.logins)
    log(f"aaad: {o.logins:,} logins loaded in {time.monotonic() - t:.1f} s")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    t = time.monotonic()
    proc = stack.enter_context(popen(["taskset", "-c", o.server_cpu, sys.executable, "-m", "aaad", "-c", str(conf),
                                      "serve"], d / "aaad.log", cwd=str(ROOT), env=env))
    ports = bench_auth.wait_ready(d / "ready.json", proc, o.ready_timeout)
    log(f"aaad: ready in {time.monotonic() - t:.1f} s, auth {ports['auth']} acct {ports['acct']}, pid {proc.pid}")
    return Server("aaad", SERVER_LABELS["aaad"], ports["auth"], ports["acct"], proc.pid,
                  lambda: proc.poll() is None, d / "aaad.log")


def start_freeradius(stack: ExitStack, d: Path, backend: str, pairs: list[tuple[str, str]],
                     o: argparse.Namespace) -> Server:
    key = f"fr_{backend}"
    auth_port, acct_port = free_udp_port(), free_udp_port()
    t = time.monotonic()
    frc.write_raddb(d, backend=backend, pairs=pairs, auth_port=auth_port, acct_port=acct_port, secret=SECRET)
    written = time.monotonic() - t
    fr = stack.enter_context(frc.FreeRadiusServer(d, auth_port=auth_port, acct_port=acct_port, cpu=o.server_cpu,
                                                  name=key))
    log(f"{SERVER_LABELS[key]}: config written in {written:.1f} s, ready in {time.monotonic() - t - written:.1f} s, "
        f"auth {auth_port} acct {acct_port}, pid {fr.pid}")
    return Server(key, SERVER_LABELS[key], auth_port, acct_port, fr.pid, lambda: fr.running, d / "radiusd.log")


def start_null(stack: ExitStack, d: Path, gen: Generator, o: argparse.Namespace) -> Server:
    port = free_udp_port()
    proc = stack.enter_context(popen(["taskset", "-c", o.server_cpu, *gen.null(port, SECRET, o.logins)],
                                     d / "null.log"))
    wait_udp_bound(port, proc, f"the null server ({gen.name})")
    log(f"null server ({gen.name}): port {port}, pid {proc.pid}")
    return Server("null", SERVER_LABELS["null"], port, port, proc.pid, lambda: proc.poll() is None)


# -- measurements ------------------------------------------------------------------------------------

@dataclass
class Measurement:
    figure: str              # pap, chap, mschapv2, acct, open
    server: str              # Server.key
    round: int
    summary: dict[str, Any]
    server_cpu_s: float
    run_id: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok_per_s(self) -> float:
        return float(self.summary["ok_per_s"])

    def latency(self, p: str) -> float:
        return float(self.summary["latency_ms"][p])


def generator_busy(sm: dict[str, Any]) -> float:
    """The share of the measurement the generator spent on CPU (1.0: it was the bottleneck, or close)."""
    return float(sm["generator_cpu_seconds"]) / max(1e-9, float(sm["elapsed_seconds"]))


def problems(sm: dict[str, Any], generator_bound: bool = True, rate: float | None = None) -> list[str]:
    """What is wrong with a measurement: ok != answered, bad replies, more than LOST_LIMIT lost,
    a generator busy more than GENERATOR_BUSY of the time (its figure may be the generator's; checked
    unless ``generator_bound`` is False: against the null server it is meant to be); in open loop at
    ``rate``, a server answering less than 97% of it, a generator more than SEND_LAG_MS behind."""
    out = []
    if sm["bad"]:
        out.append(f"{sm['bad']} bad ({', '.join(f'{k} {v}' for k, v in sm['bad_reasons'].items())})")
    elif sm["ok"] != sm["answered"]:
        out.append(f"ok {sm['ok']} of {sm['answered']} answered")
    if sm["lost"] > LOST_LIMIT * max(1, sm["sent"]):
        out.append(f"{sm['lost']} lost of {sm['sent']} ({100 * sm['lost'] / max(1, sm['sent']):.1f}%)")
    if sm["sent"] == 0 or sm["ok"] == 0:
        out.append("nothing answered correctly")
    if rate and sm["ok_per_s"] < 0.97 * rate:
        out.append(f"answered {sm['ok_per_s']:,.0f}/s of {rate:,.0f}/s offered: it fell behind")
    if rate and sm["max_send_lag_ms"] > SEND_LAG_MS:
        out.append(f"the generator fell {sm['max_send_lag_ms']:.0f} ms behind its schedule")
    if generator_bound and generator_busy(sm) > GENERATOR_BUSY:
        out.append(f"the generator was on CPU {100 * generator_busy(sm):.0f}% of the time: "
                   "the figure may be its limit")
    return out


def run_load(gen: Generator, o: argparse.Namespace, port: int, mode: str, *, rate: float | None = None,
             run_id: str = "") -> dict[str, Any]:
    """One run of the generator (pinned to --load-cpu) against 127.0.0.1:port; its JSON summary."""
    cmd = ["taskset", "-c", o.load_cpu, *gen.client, "--server", "127.0.0.1", "--port", str(port),
           "--secret", SECRET, "--mode", mode, "--users", str(o.logins), "--user-format", USER_FORMAT,
           "--password-format", PASSWORD_FORMAT, "--duration", str(o.duration), "--timeout", str(o.timeout),
           "--json"]
    cmd += ["--rate", f"{rate:.0f}"] if rate else ["--inflight", str(o.inflight)]
    if mode == "acct":
        cmd += ["--acct-mix", o.acct_mix, "--run-id", run_id]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=o.duration + 180)
    try:
        sm: dict[str, Any] = json.loads(r.stdout)
    except ValueError:
        raise SystemExit(f"bench_compare: {gen.name} failed ({r.returncode}): {' '.join(cmd)}\n"
                         f"{r.stdout[-1000:]}\n{r.stderr[-2000:]}") from None
    sm["command"] = " ".join(cmd)
    return sm


def measure(gen: Generator, o: argparse.Namespace, srv: Server, figure: str, rnd: int,
            rate: float | None = None) -> Measurement:
    if not srv.running():
        raise SystemExit(f"bench_compare: {srv.label} is no longer running")
    mode = "pap" if figure == "open" else figure
    port = srv.acct_port if mode == "acct" else srv.auth_port
    run_id = f"{srv.key[:4]}{rnd}{os.urandom(3).hex()}" if mode == "acct" else ""
    c0, logged = bench_auth.cpu_seconds(srv.pid), log_size(srv.log_path)
    sm = run_load(gen, o, port, mode, rate=rate, run_id=run_id)
    cpu = bench_auth.cpu_seconds(srv.pid) - c0
    m = Measurement(figure, srv.key, rnd, sm, round(cpu, 3), run_id, problems(sm, srv.key != "null", rate))
    if m.problems:
        m.problems += [f"its log: {e}" for e in log_errors(srv.log_path, logged)]
    lat = sm["latency_ms"]
    us = cpu / max(1, sm["answered"]) * 1e6
    log(f"  [{figure} round {rnd}] {srv.label:<20} {sm['ok_per_s']:>9,.0f} ok/s  p50 {lat['p50']:.2f} ms  "
        f"p99 {lat['p99']:.2f} ms  lost {sm['lost']}  bad {sm['bad']}  server CPU {us:.0f} us/req  "
        f"generator {sm['requests_per_generator_cpu_second']:,.0f} req/CPU-s, busy {100 * generator_busy(sm):.0f}%"
        + (f"  PROBLEM: {'; '.join(m.problems)}" if m.problems else ""))
    return m


def median(ms: list[Measurement], value: Callable[[Measurement], float]) -> float | None:
    return statistics.median(value(m) for m in ms) if ms else None


def half_max(results: list[Measurement], server: str) -> float:
    """The open-loop rate: half the median PAP ok/s of ``server``'s closed-loop rounds."""
    fr_max = median([m for m in results if m.figure == "pap" and m.server == server], lambda m: m.ok_per_s)
    if not fr_max:
        raise SystemExit(f"bench_compare: no PAP figure of {SERVER_LABELS[server]} for the open-loop rate")
    return fr_max / 2


def cpu_per_request(m: Measurement) -> float:
    """The server's CPU time (all its threads) per request answered during the measurement, in µs."""
    return m.server_cpu_s / max(1, m.summary["answered"]) * 1e6


def latency(p: str) -> Callable[[Measurement], float]:
    """The latency percentile ``p`` (p50, p99, ...) of a measurement, in ms."""
    return lambda m: m.latency(p)


# -- the table ---------------------------------------------------------------------------------------

FIGURE_ROWS = {"pap": "PAP Access-Requests/s", "chap": "CHAP Access-Requests/s",
               "mschapv2": "MS-CHAPv2 Access-Requests/s",
               "acct": "durable accounting requests/s (Start/Interim/Stop)"}
COLUMNS = ("aaad", "fr_files", "fr_sqlite")
MODE_NAMES = {"pap": "PAP", "chap": "CHAP", "mschapv2": "MS-CHAPv2", "acct": "accounting"}


def render(results: list[Measurement], o: argparse.Namespace, open_rate: float | None,
           skipped: dict[str, str]) -> str:
    """The markdown table (with its footnotes) from every measurement."""
    notes: list[str] = []
    after: list[str] = []

    def of(figure: str, server: str) -> list[Measurement]:
        return [m for m in results if m.figure == figure and m.server == server]

    def flag(ms: list[Measurement]) -> str:
        """A footnote mark for the measurements behind a cell that had problems (the note says which)."""
        bad = [m for m in ms if m.problems]
        if not bad:
            return ""
        note = "; ".join(f"{SERVER_LABELS[m.server]}, {m.figure} round {m.round}: {', '.join(m.problems)}"
                         for m in bad)
        if note not in notes:
            notes.append(note)
        return f" [{notes.index(note) + 1}]"

    def cell(figure: str, server: str, value: Callable[[Measurement], float], fmt: str) -> tuple[str, float | None]:
        ms = of(figure, server)
        if not ms:
            return skipped.get(f"{figure}:{server}", "—"), None
        v = median(ms, value)
        assert v is not None
        return format(v, fmt) + flag(ms), v

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a is not None and b else "—"

    rows = []
    for figure, label in FIGURE_ROWS.items():
        if figure in o.items:
            cells = [cell(figure, s, lambda m: m.ok_per_s, ",.0f") for s in COLUMNS]
            rows.append([label, *(c for c, _ in cells), ratio(cells[0][1], cells[1][1])])
    if "acct" in o.items:
        cells = [cell("acct", s, latency("p99"), ".2f") for s in COLUMNS]
        rows.append([f"durable accounting p99, ms (closed loop, {o.inflight} in flight)",
                     *(c for c, _ in cells), ratio(cells[0][1], cells[1][1])])
    rate_note = "--open-rate" if o.open_rate else "50% of FR files' PAP max"
    if "open" in o.items and open_rate:
        for p in ("p99", "p50"):
            cells = [cell("open", s, latency(p), ".2f") for s in COLUMNS]
            rows.append([f"open-loop PAP {p}, ms, at {open_rate:,.0f}/s ({rate_note})",
                         *(c for c, _ in cells), ratio(cells[0][1], cells[1][1])])
    if "ceiling" in o.items:
        for figure in (f for f in (*CLOSED, "open") if f in o.items):
            null = of(figure, "null")
            if not null:
                continue
            if figure == "open":
                after.append(f"The generator alone (null server), open loop at {open_rate:,.0f}/s: "
                             f"p50 {median(null, latency('p50')):.2f} ms, p99 {median(null, latency('p99')):.2f} ms"
                             f"{flag(null)} (the latency the generator adds).")
                continue
            answered = median(null, lambda m: m.ok_per_s)
            ceiling = median(null, lambda m: float(m.summary["requests_per_generator_cpu_second"]))
            assert answered is not None and ceiling is not None
            heads = []
            for s in COLUMNS:
                v = median(of(figure, s), lambda m: m.ok_per_s)
                if not v:
                    heads.append("—")
                    continue
                h = ceiling / v
                heads.append(f"{h:.1f}x" + (f" (<{HEADROOM:g}x)" if h < HEADROOM else ""))
            rows.append([f"generator ceiling vs null server, {MODE_NAMES[figure]} (cells: ceiling ÷ that figure)",
                         *heads, f"ceiling {ceiling:,.0f}/s per generator CPU-s (null server: "
                                 f"{answered:,.0f}/s){flag(null)}"])
    cpu = []
    for figure in (f for f in (*CLOSED, "open") if f in o.items):
        per = [(SERVER_LABELS[s], median(of(figure, s), cpu_per_request)) for s in COLUMNS]
        cpu.append(f"{'open loop' if figure == 'open' else MODE_NAMES[figure]} "
                   + " / ".join(f"{label} {v:.0f}" for label, v in per if v is not None))
    if cpu:
        after.append("Server CPU per request, µs (medians; less sensitive to other load than the rates): "
                     + "; ".join(cpu) + ".")
    head = ["figure", "aaad", "FreeRADIUS files", "FreeRADIUS + SQLite", "ratio aaad / FR files"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if notes or after:
        lines.append("")
    lines += [f"[{i}] {n}" for i, n in enumerate(notes, 1)] + after
    return "\n".join(lines)


def describe(o: argparse.Namespace, gen: Generator, started: datetime) -> str:
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or "?"
    fr = subprocess.run([frc.freeradius_binary() or "freeradius", "-v"], capture_output=True,
                        text=True).stdout.splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    return (f"aaad {rev} vs {fr[0].split(': ', 1)[-1] if fr else 'FreeRADIUS'}; generator {gen.name}; "
            f"{o.logins:,} logins; {o.inflight} in flight (closed loop); {o.rounds} rounds of "
            f"{o.duration:g} s per server and figure, interleaved; medians. Servers on CPU {o.server_cpu}, "
            f"generator on CPU {o.load_cpu}; {os.cpu_count()} CPUs ({cpu}); started "
            f"{started:%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}.")


# -- the run -------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="measurements per server and figure (medians of these)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--logins", type=int, default=100_000, help="the same logins in every server")
    p.add_argument("--inflight", type=int, default=64, help="closed loop: requests outstanding")
    p.add_argument("--only", default=",".join(ITEMS), help=f"comma separated, of: {','.join(ITEMS)}")
    p.add_argument("--no-sqlite", action="store_true", help="leave FreeRADIUS + SQLite out")
    p.add_argument("--generator", default=DEFAULT_GENERATOR, choices=("radblast", "radload"))
    p.add_argument("--open-rate", type=float, default=0.0,
                   help="open-loop rate (default: 50%% of FreeRADIUS files' PAP maximum, measured in this run)")
    p.add_argument("--acct-mix", default="start,interim,stop", help="accounting session sequence per user")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as lost")
    p.add_argument("--server-cpu", default="0", help="CPU every server is pinned to")
    p.add_argument("--load-cpu", default="1", help="CPU the generator is pinned to")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--json", action="store_true", help="print every measurement's figures as JSON after the table")
    p.add_argument("--keep", action="store_true", help="keep the working directory (configs, logs, databases)")
    o = p.parse_args(argv)
    o.items = [i.strip() for i in o.only.split(",") if i.strip()]
    unknown = set(o.items) - set(ITEMS)
    if unknown or not o.items:
        p.error(f"--only: {', '.join(sorted(unknown)) or 'nothing'}; choose from {','.join(ITEMS)}")
    if o.items == ["ceiling"]:
        o.items = list(ITEMS)
    if o.rounds < 1 or o.duration <= 0 or o.logins < o.inflight:
        p.error("--rounds >= 1, --duration > 0 and --logins >= --inflight (one accounting session per user at a time)")
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    for tool in ("taskset",):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_compare: {tool} (util-linux) is needed")
    if frc.freeradius_binary() is None:
        raise SystemExit("bench_compare: freeradius is not installed: `make bench-compare` installs it")
    started = datetime.now(UTC)
    t_start = time.monotonic()
    gen = generator(o.generator)
    work = Path(tempfile.mkdtemp(prefix="aaad-bench-compare-"))
    log(f"bench_compare: working directory {work}")
    results: list[Measurement] = []
    skipped: dict[str, str] = {}
    open_rate: float | None = o.open_rate or None
    try:
        with ExitStack() as stack:
            pairs = frc.logins(o.logins, USER_FORMAT, PASSWORD_FORMAT)
            servers = [start_aaad(stack, work / "aaad", o),
                       start_freeradius(stack, work / "fr-files", "files", pairs, o)]
            if not o.no_sqlite:
                servers.append(start_freeradius(stack, work / "fr-sqlite", "sqlite", pairs, o))
            null = start_null(stack, work, gen, o) if "ceiling" in o.items else None
            header = describe(o, gen, started)
            log(header)
            closed = [f for f in CLOSED if f in o.items]
            if "open" in o.items and not open_rate and "pap" not in closed:
                closed.insert(0, "pap")      # the open-loop rate is half of FR files' PAP maximum
                o.items.insert(0, "pap")
            for figure in closed:
                for rnd in range(1, o.rounds + 1):
                    for srv in [*servers, *([null] if null else [])]:
                        results.append(measure(gen, o, srv, figure, rnd))
            if "open" in o.items:
                open_rate = open_rate or half_max(results, "fr_files")
                log(f"open loop at {open_rate:,.0f}/s")
                targets = list(servers)
                sql_max = median([m for m in results if m.figure == "pap" and m.server == "fr_sqlite"],
                                  lambda m: m.ok_per_s)
                if sql_max is not None and sql_max < open_rate:
                    # overloaded, it would still be working off its backlog while the next server is measured
                    targets = [s for s in targets if s.key != "fr_sqlite"]
                    skipped["open:fr_sqlite"] = f"not run: its PAP max {sql_max:,.0f}/s is below the rate"
                for rnd in range(1, o.rounds + 1):
                    for srv in [*targets, *([null] if null else [])]:
                        results.append(measure(gen, o, srv, "open", rnd, rate=open_rate))
    finally:
        if o.keep:
            log(f"bench_compare: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = render(results, o, open_rate, skipped)
    print(header)
    print()
    print(table)
    print()
    print(f"({len(results)} measurements in {time.monotonic() - t_start:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f}. Ratios above 1 mean aaad is faster for rates, slower for latencies.)")
    if o.json:
        print(json.dumps({"header": header, "generator": gen.name, "open_rate": open_rate,
                          "options": {k: v for k, v in vars(o).items()},
                          "measurements": [{"figure": m.figure, "server": m.server, "round": m.round,
                                            "run_id": m.run_id, "server_cpu_s": m.server_cpu_s,
                                            "problems": m.problems, "summary": m.summary} for m in results]},
                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
