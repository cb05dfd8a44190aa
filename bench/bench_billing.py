#!/usr/bin/env python3
"""Billing benchmark: the monthly billing run and the daily dunning pass, as the daemon's jobs,
under RADIUS load.

Issue 9's target: a monthly billing run for 100,000 customers with one internet service each,
run as the daemon's job (``aaad jobs run billing.run``), invoices without PDFs, at most 30 s on
SQLite and on PostgreSQL with memory bounded (RSS reported); meanwhile RADIUS auth offered at
half its benchmark rate keeps its p99 at most doubled, and accounting acknowledgements keep
flowing (their p99 during the run).  Also the daily dunning pass over 100,000 customers.

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from
``tests/pg.py``):

1. **load** (in process, bulk Core ``executemany``): an org with billing settings, a NAS on
   127.0.0.1 and profiles (``bench/load_logins.py``'s ``setup``), a monthly internet product,
   N customers, N active services billed through the run date (so the run bills exactly one
   period each), each with its login ``user%06d``/``pass%06d`` owned by the service (encrypted
   with the daemon's SecretBox), and each with last month's invoice still open past due date +
   grace (with its journal entry), which the dunning pass finds.
2. **daemon**: ``aaad serve`` (jobs off: the jobs run from the CLI below) pinned to
   ``--daemon-cpu``; ``bench/radload.py`` pinned to ``--load-cpu``.
3. **calibrate**: PAP closed loop (``--calibrate-seconds``), its ok/s is the benchmark rate;
   the auth load is offered open-loop at half of it (or ``--auth-rate``).
4. **baseline**: auth (open loop at that rate) and accounting (``--acct-rate``, open loop,
   Start/Interim/Stop) together for ``--baseline-seconds``, in three windows: p99 before (the
   window with the median auth p99).
5. **billing run**: the same two loads started, then ``aaad jobs run billing.run --org SLUG
   --date RUN_DATE`` in a subprocess, timed, its RSS sampled from /proc (and its peak from
   ``wait4``'s ``ru_maxrss``); the loads are stopped (SIGUSR1) when it exits: p99 during.
   Checked afterwards: one invoice per customer issued on the run date.
6. **dunning**: the same with ``billing.dunning``; counted afterwards: services suspended.

A job that is not registered (``aaad jobs list``) is skipped with a message; ``--run-job`` /
``--dunning-job`` name another job to try the harness.  Prints a table and JSON
(``--json-out FILE`` too).  Run: ``.venv/bin/python bench/bench_billing.py --customers 2000``;
the figures of the issue: ``--customers 100000`` on a quiet machine (see bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
PY = sys.executable
SECRET = "bench-secret-123"
ORG = "bench"
PRICE = 2_500              # minor units per month (25.00)
VAT_BP = 1_500
TERMS, GRACE = 14, 3


# -- processes ---------------------------------------------------------------------------------

def steal_ticks() -> int:
    """Time the hypervisor gave this machine's CPUs to someone else (all CPUs, clock ticks: the
    ``steal`` column of /proc/stat's first line); 0 where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


def steal_ms_since(ticks: int) -> int:
    """Milliseconds of steal since :func:`steal_ticks` gave ``ticks``."""
    return round((steal_ticks() - ticks) * 1000 / os.sysconf("SC_CLK_TCK"))


class CpuMeter:
    """The daemon's CPU over a phase: ``busy`` (CPU seconds a wall second: 1.0 is its whole core)
    and ``per(n)``, milliseconds of CPU per one of ``n`` requests served meanwhile; ``steal_ms``, the
    machine's CPU time taken by the hypervisor meanwhile (a stall with steal is the host's)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.cpu0, self.t0, self.steal0 = proc_cpu_s(pid), time.monotonic(), steal_ticks()
        self.cpu = self.wall = 0.0
        self.steal_ms = 0

    def stop(self) -> CpuMeter:
        self.cpu, self.wall = proc_cpu_s(self.pid) - self.cpu0, time.monotonic() - self.t0
        self.steal_ms = steal_ms_since(self.steal0)
        return self

    @property
    def busy(self) -> float:
        return round(self.cpu / self.wall, 3) if self.wall else 0.0

    def per(self, n: int) -> float:
        return round(1000 * self.cpu / n, 3) if n else 0.0


def auth_alone(o: argparse.Namespace, ports: dict, rate: float, pid: int, kind: str) -> dict[str, Any]:
    """Auth alone at ``rate`` for ``o.seconds`` (the benches beside auth: their "before"), with the
    daemon's share of its core and CPU per request; printed as it ends."""
    cpu = CpuMeter(pid)
    ld = auth_load(o, ports, rate)
    time.sleep(o.seconds)
    al = summary(ld.stop())
    cpu.stop()
    al["daemon_busy"], al["daemon_cpu_us_per_request"] = cpu.busy, round(1000 * cpu.per(al["answered"]), 1)
    al["steal_ms"] = cpu.steal_ms
    print(f"[{kind}] auth alone: p99 {al['p99_ms']} ms, daemon CPU {cpu.busy:.0%} of its core, "
          f"{al['daemon_cpu_us_per_request']} us a request, steal {cpu.steal_ms} ms", flush=True)
    return al


def proc_kib(pid: int, key: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def catches_sigusr1(pid: int) -> bool:
    """Has the process installed its SIGUSR1 handler yet (radload's early stop)?"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGUSR1 - 1)))
    except OSError:
        pass
    return False


def pinned(cpu: str | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if cpu and shutil.which("taskset") else cmd


def aaad_cmd(conf: Path, *args: str) -> list[str]:
    return [PY, "-m", "aaad", "-c", str(conf), *args]


# -- configuration and data -------------------------------------------------------------------------

def write_config(d: Path, db_url: str | None, jobs: str = "enabled = false", extra: str = "") -> Path:
    """The daemon's config in ``d``: loopback ports chosen by the kernel, jobs off unless ``jobs``
    (the ``[jobs]`` table's body) says otherwise; ``extra`` is appended (more tables)."""
    conf = d / "aaad.toml"
    db = f'[database]\nurl = "{db_url}"\n' if db_url else ""
    conf.write_text(db + f"""
[server]
data_dir = "{d / 'data'}"
ready_file = "{d / 'ready.json'}"
log_level = "warn"
[web]
address = "127.0.0.1"
port = 0
[radius]
address = "127.0.0.1"
auth_port = 0
reject_delay = 0.0
[accounting]
address = "127.0.0.1"
port = 0
rrd_enabled = false
[jobs]
{jobs}
""" + extra)
    return conf


def default_run_date(today: date) -> date:
    return today


def billing_day_of(run_date: date) -> int:
    return min(run_date.day, 28)


def load(conf: Path, n: int, run_date: date, batch: int, log: Any = print,
         customer_fields: Callable[[int], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Bulk-load the org, settings, product, N customers, services, logins and last month's
    open invoices (see the module docstring); the figures of the load.  ``customer_fields(i)``
    adds columns to customer ``i``'s row (e.g. an email and phone)."""
    import load_logins  # bench/load_logins.py: the org, NAS and profiles through store functions
    import sqlalchemy as sa

    from aaad import app
    from aaad.db import sync_engine
    from aaad.schema import logins
    from billing import money, settings
    from billing.schema import (
        billing_settings,
        customers,
        invoice_lines,
        invoices,
        journal_entries,
        postings,
        products,
        services,
    )

    t0 = time.perf_counter()
    cfg = app.load_config(str(conf))
    url = app.prepare_storage(cfg, upgrade=True)
    box = app.secret_box(cfg)
    engine = sync_engine(url, cfg.database.busy_timeout_ms)
    now = datetime.now(UTC)
    bday = billing_day_of(run_date)
    billed_through = date(run_date.year, run_date.month, bday)     # the run bills [this, next month)
    start = money.add_months(billed_through, -1, bday)              # last month: already invoiced, unpaid
    due = start + timedelta(days=TERMS)
    vat = PRICE * VAT_BP // 10_000
    ns = argparse.Namespace(org=ORG, nas_address="127.0.0.1", secret=SECRET)
    try:
        with engine.begin() as conn:
            org_id, pids = load_logins.setup(conn, box, ns, now)
            settings.update(conn, org_id, now, billing_day=bday, vat_bp=VAT_BP, payment_terms_days=TERMS,
                            grace_days=GRACE, brand_name="Bench Fibre", locale="en_US")
            key = conn.execute(products.insert().values(
                org_id=org_id, name="Fibre 10M", type="internet", price=PRICE, taxable=True, period="monthly",
                profile_id=pids[0], created_at=now, updated_at=now)).inserted_primary_key
            assert key is not None
            product_id = int(key[0])

            def base(table: sa.Table) -> int:
                return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one())
            c0, s0, l0, i0 = base(customers), base(services), base(logins), base(invoices)
            e0 = base(journal_entries)
            seq0 = int(conn.execute(sa.select(billing_settings.c.next_invoice_no)
                                    .where(billing_settings.c.org_id == org_id)).scalar_one())
        t_setup = time.perf_counter()
        enc = box.encrypt
        with engine.begin() as conn:   # one transaction: one commit for the whole load
            for lo in range(0, n, batch):
                hi = min(lo + batch, n)
                ix = range(lo, hi)
                conn.execute(customers.insert(), [
                    {"id": c0 + 1 + i, "org_id": org_id, "username": f"cust-{i:06d}", "name": f"Customer {i:06d}",
                     "address": f"{i} Bench Road", "status": "active", "custom_fields": "{}",
                     "created_at": now, "updated_at": now,
                     **(customer_fields(i) if customer_fields else {})} for i in ix])
                conn.execute(logins.insert(), [
                    {"id": l0 + 1 + i, "org_id": org_id, "username": f"user{i:06d}",
                     "secret_enc": enc(f"pass{i:06d}".encode()), "state": "active", "suspend_mode": "reject",
                     "profile_id": pids[0], "owner_type": "service", "owner_id": s0 + 1 + i,
                     "created_at": now, "updated_at": now} for i in ix])
                conn.execute(services.insert(), [
                    {"id": s0 + 1 + i, "org_id": org_id, "customer_id": c0 + 1 + i, "product_id": product_id,
                     "state": "active", "start_date": start, "billed_through": billed_through,
                     "periods_billed": 1, "login_id": l0 + 1 + i, "username": f"user{i:06d}",
                     "created_at": now, "updated_at": now} for i in ix])
                conn.execute(invoices.insert(), [
                    {"id": i0 + 1 + i, "org_id": org_id, "customer_id": c0 + 1 + i, "seq": seq0 + i,
                     "number": f"INV-{seq0 + i:06d}", "state": "open", "issue_date": start, "due_date": due,
                     "currency": "USD", "subtotal": PRICE, "discount": 0, "vat": vat, "total": PRICE + vat,
                     "paid": 0, "run": None, "created_at": now} for i in ix])
                conn.execute(invoice_lines.insert(), [
                    {"org_id": org_id, "invoice_id": i0 + 1 + i, "service_id": s0 + 1 + i, "kind": "recurring",
                     "period_start": start, "period_end": billed_through, "description": "Fibre 10M",
                     "quantity": 1, "unit_price": PRICE, "discount": 0, "net": PRICE, "vat_bp": VAT_BP,
                     "vat": vat, "total": PRICE + vat} for i in ix])
                conn.execute(journal_entries.insert(), [
                    {"id": e0 + 1 + i, "org_id": org_id, "kind": "invoice", "ref_type": "invoice",
                     "ref_id": i0 + 1 + i, "customer_id": c0 + 1 + i, "memo": f"invoice INV-{seq0 + i:06d}",
                     "posted_on": start, "created_at": now} for i in ix])
                conn.execute(postings.insert(), [
                    p for i in ix for p in (
                        {"org_id": org_id, "entry_id": e0 + 1 + i, "account": "receivable",
                         "customer_id": c0 + 1 + i, "amount": PRICE + vat},
                        {"org_id": org_id, "entry_id": e0 + 1 + i, "account": "revenue", "customer_id": None,
                         "amount": -PRICE},
                        {"org_id": org_id, "entry_id": e0 + 1 + i, "account": "vat_payable", "customer_id": None,
                         "amount": -vat})])
                if hi % 20_000 < batch or hi == n:
                    log(f"  {hi:>8} / {n} customers  {time.perf_counter() - t_setup:6.2f}s")
            conn.execute(billing_settings.update().where(billing_settings.c.org_id == org_id)
                         .values(next_invoice_no=seq0 + n))
            if engine.dialect.name == "postgresql":   # explicit ids: move the sequences past them
                for t in (customers, logins, services, invoices, journal_entries):
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                                         f"(SELECT max(id) FROM {t.name}))"))
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        total = time.perf_counter() - t0
    finally:
        engine.dispose()
    return {"customers": n, "org_id": org_id, "run_date": run_date.isoformat(),
            "billed_through": billed_through.isoformat(), "open_invoice_due": due.isoformat(),
            "load_s": round(total, 2), "setup_s": round(t_setup - t0, 2)}


def count_after(conf: Path, run_date: date, job: str) -> dict[str, Any]:
    """What the jobs did: invoices issued on the run date, services still billed through it,
    services suspended, open dunning suspensions; and the job's own time in ``job_runs``
    (started to finished: the work without the CLI's start-up)."""
    import sqlalchemy as sa

    from aaad import app
    from aaad.db import sync_engine
    from aaad.schema import job_runs
    from billing.schema import invoices, services, suspensions
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.database_url(cfg), cfg.database.busy_timeout_ms)
    try:
        with engine.connect() as conn:
            def one(q: Any) -> int:
                return int(conn.execute(q).scalar_one())
            jr = conn.execute(sa.select(job_runs.c.started_at, job_runs.c.finished_at, job_runs.c.status)
                              .where(job_runs.c.job == job).order_by(job_runs.c.id.desc()).limit(1)).first()
            return {
                "job_status": jr.status if jr else None,
                "job_work_s": round((jr.finished_at - jr.started_at).total_seconds(), 2)
                if jr and jr.finished_at else None,
                "invoices_on_run_date": one(sa.select(sa.func.count()).select_from(invoices)
                                            .where(invoices.c.issue_date == run_date)),
                "services_not_yet_billed": one(sa.select(sa.func.count()).select_from(services)
                                               .where(services.c.billed_through <= run_date,
                                                      services.c.state.in_(("active", "suspended")))),
                "services_suspended": one(sa.select(sa.func.count()).select_from(services)
                                          .where(services.c.state == "suspended")),
                "suspensions_open": one(sa.select(sa.func.count()).select_from(suspensions)
                                        .where(suspensions.c.resumed_at.is_(None))),
            }
    finally:
        engine.dispose()


# -- the daemon and the load -------------------------------------------------------------------------

@contextmanager
def daemon(conf: Path, d: Path, cpu: str | None, timeout: float = 180) -> Iterator[tuple[subprocess.Popen, dict]]:
    ready = d / "ready.json"
    ready.unlink(missing_ok=True)
    with open(d / "aaad.log", "w") as log:
        proc = subprocess.Popen(pinned(cpu, aaad_cmd(conf, "serve")), stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(ROOT))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench_billing: daemon exited ({proc.returncode}); see {d / 'aaad.log'}")
            try:
                ports = json.loads(ready.read_text())
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise SystemExit("bench_billing: daemon not ready in time") from None
                time.sleep(0.05)
        yield proc, ports
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def pin_self(cpus: str | None) -> None:
    """Pin every thread of this process (the bench's own polling, an in-process fake such as the SMS
    gateway) to ``cpus``, the load generator's: off the daemon's core, whose p99 is being measured.
    Threads started later inherit it; processes started later with :func:`pinned` get their own."""
    if cpus and hasattr(os, "sched_setaffinity"):
        for tid in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(tid), {int(c) for c in cpus.split(",")})


def pin_cluster(datadir: Path, cpus: str) -> None:
    """Pin a running PostgreSQL cluster to ``cpus``: the postmaster and the processes it has forked
    (the backends forked later inherit its affinity)."""
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    for pid in [str(postmaster), *children]:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, pid], check=True, capture_output=True)


def start_postgres(o: argparse.Namespace, res: dict[str, Any], fsync: bool = False) -> tuple[Any, str]:
    """A private PostgreSQL cluster (``tests/pg.py``) for one bench and a new database in it: the
    cluster, pinned as ``--pg-cpu`` says (noted in ``res``), and the database's URL."""
    from tests.pg import start_cluster
    pg = start_cluster(fsync=fsync)
    cpus = pg_cpus(o)
    res["pg_cpu"] = cpus or "unpinned"
    if cpus:
        pin_cluster(pg.datadir, cpus)
    return pg, pg.new_database()


def pg_cpus(o: argparse.Namespace) -> str:
    """The CPUs ``--pg-cpu`` pins the cluster to: ``load`` (the default) is ``--load-cpu``'s; ``none``
    (or empty) leaves it unpinned."""
    v = str(getattr(o, "pg_cpu", "load") or "none")
    if v == "load":
        return str(getattr(o, "load_cpu", "1"))
    return "" if v == "none" else v


def db_label(res: dict[str, Any]) -> str:
    """The database of a result as the tables print it, with where its PostgreSQL cluster ran."""
    cpus = res.get("pg_cpu")
    if not cpus:
        return str(res["database"])
    return f"{res['database']} ({'unpinned' if cpus == 'unpinned' else 'cluster on CPU ' + cpus})"


def add_pg_cpu_arg(p: argparse.ArgumentParser, default: str = "load") -> None:
    """``--pg-cpu``: where the benches beside auth pin their PostgreSQL cluster (:func:`pin_cluster`).
    ``load`` for the benches whose queries come from the daemon; ``none`` for those whose work is a job
    in its own process pinned to the load's CPU (billing, notify): pinned there too, the cluster would
    share one core with the job and the load while the daemon's core has room."""
    p.add_argument("--pg-cpu", default=default,
                   help="pin the PostgreSQL cluster to these CPUs: 'load' is --load-cpu's, off the daemon's core, "
                        "as the README tells operators who pin the daemon to do; 'none' leaves it unpinned, so "
                        "the kernel wakes its backends next to the thread that sent them a query, the daemon's "
                        "on the pinned daemon's core")


GENERATORS = ("radblast", "radload")


#: How often an open-loop radblast under SCHED_FIFO wakes at most (``--tick-us``): what came due
#: meanwhile leaves together (4 requests at 20,000/s), so it takes a quarter of the wake-ups.
RT_TICK_US = 200


def add_generator_arg(p: argparse.ArgumentParser) -> None:
    """``--generator``: the RADIUS load generator every bench beside auth shares (:class:`Load`);
    ``--load-priority``: its scheduling policy in open loop."""
    p.add_argument("--generator", choices=GENERATORS, default="radblast",
                   help="RADIUS load generator: radblast (C, bench/radblast.c: about 240,000 requests per "
                        "CPU-second, so its core stays free for the HTTP load and its p99 is the server's) or "
                        "radload (Python, bench/radload.py: saturates its core near 20,000/s; the figures "
                        "before 2026-12-01 were taken with it)")
    p.add_argument("--load-priority", choices=("rt", "normal"), default="rt",
                   help="rt: an open-loop radblast runs under SCHED_FIFO (chrt -f 10; needs root, else normal), "
                        f"waking at most every {RT_TICK_US} us, so whatever else runs on its CPU (a job, the "
                        "PostgreSQL cluster, the NAS) cannot delay its sends: delayed, they leave in bursts, and "
                        "the daemon's queue behind a burst shows up as auth's p99 (with a CPU burner beside it: "
                        "auth p50 0.31-0.35 ms and sends up to 5.4 ms late; under SCHED_FIFO p50 0.05 ms, at most "
                        "0.5 ms late). The tick keeps its CPU low (at 20,000/s 22%% of a core, against 65%% "
                        "waking for each request, which took a billing job sharing that core from 19 s to 35 s). "
                        "normal: the default policy, a wake-up per request, as before 2026-12-02 08:05 UTC")


def realtime(o: argparse.Namespace, cmd: list[str]) -> list[str]:
    """``cmd`` (an open-loop radblast) under SCHED_FIFO, waking at most every :data:`RT_TICK_US`,
    when ``--load-priority rt`` can have it (radblast, root, chrt)."""
    if (getattr(o, "load_priority", "rt") == "rt" and getattr(o, "generator", "radblast") == "radblast"
            and os.geteuid() == 0 and shutil.which("chrt")):
        return ["chrt", "-f", "10", *cmd, "--tick-us", str(RT_TICK_US)]
    return cmd


def generator_cmd(o: argparse.Namespace) -> list[str]:
    """The generator's command up to its options (both take the same options and print the same JSON)."""
    if getattr(o, "generator", "radblast") == "radload":
        return [PY, str(BENCH / "radload.py")]
    import radblast
    return [str(radblast.ensure_built()), "client"]


class Load:
    """One generator process (auth or acct; ``--generator``); ``stop()`` ends it early (SIGUSR1) and
    returns its summary."""

    def __init__(self, o: argparse.Namespace, port: int, mode: str, extra: list[str], duration: float = 3600):
        cmd = pinned(o.load_cpu, [*generator_cmd(o), "--server", "127.0.0.1", "--port",
                                  str(port), "--secret", SECRET, "--mode", mode, "--users",
                                  str(o.customers), "--duration", str(duration), "--json", "--quiet",
                                  *extra])
        # open loop only: a closed loop sends when answered, so its pace is the server's anyway
        self.cmd = realtime(o, cmd) if "--rate" in extra else cmd
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not catches_sigusr1(self.proc.pid):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench_billing: the load generator did not start: {self.proc.stderr.read()[-2000:]}"
                                 if self.proc.stderr else "bench_billing: the load generator did not start")
            time.sleep(0.01)

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
        out, err = self.proc.communicate(timeout=60)
        if not out.strip():
            raise SystemExit(f"bench_billing: the load generator failed ({self.proc.returncode}): {err[-2000:]}")
        sm: dict[str, Any] = json.loads(out)
        return sm


def auth_load(o: argparse.Namespace, ports: dict, rate: float) -> Load:
    """PAP at ``rate`` per second (open loop), every answer expected an Accept; started."""
    ld = Load(o, ports["auth"], "pap", ["--rate", f"{rate:.0f}", "--expect", "accept"])
    ld.wait_started()
    return ld


class HttpLoad:
    """One bench/httpload.py process (open loop, pinned to ``o.load_cpu``) cycling through ``kinds``
    (``NAME=PATH``, see httpload's docs); ``result()`` waits for its JSON summary."""

    def __init__(self, o: argparse.Namespace, port: int, kinds: Sequence[str], rate: float, seconds: float, *,
                 token: str = "", headers: tuple[str, ...] = (), ids: tuple[int, int] | None = None,
                 workers: int | None = None):
        cmd = pinned(o.load_cpu, [PY, str(BENCH / "httpload.py"), "--url", f"http://127.0.0.1:{port}",
                                  "--rate", str(rate), "--duration", str(seconds),
                                  *(["--token", token] if token else []),
                                  *[a for h in headers for a in ("--header", h)],
                                  *(["--ids", f"{ids[0]}:{ids[1]}"] if ids else []),
                                  *(["--workers", str(workers)] if workers else []),
                                  *[a for k in kinds for a in ("--kind", k)]])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=600)
        if not out.strip():
            raise SystemExit(f"bench: httpload failed: {err[-2000:]}")
        res: dict[str, Any] = json.loads(out)
        return res


def http_figures(r: dict[str, Any]) -> dict[str, Any]:
    """An httpload summary in the tables' form: overall figures and each kind's p50, p99, errors."""
    return {"offered_per_s": r["offered_per_s"], "max_send_lag_ms": r["max_send_lag_ms"], **r["all"],
            "by_kind": {k: {"p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"], "errors": v["errors"]}
                        for k, v in r["kinds"].items()}}


def summary(sm: dict[str, Any]) -> dict[str, Any]:
    lat = sm["latency_ms"]
    return {"sent": sm["sent"], "ok": sm["ok"], "answered": sm["answered"], "lost": sm["lost"], "bad": sm["bad"],
            "rejects": sm.get("rejects", 0), "offered_per_s": sm.get("offered_per_s"),
            "answered_per_s": sm.get("throughput_per_s"), "p50_ms": lat["p50"], "p99_ms": lat["p99"],
            "max_ms": lat["max"], "seconds": sm.get("elapsed_seconds"),
            "max_send_lag_ms": sm.get("max_send_lag_ms")}


def calibrate(o: argparse.Namespace, ports: dict) -> float:
    if o.auth_rate:
        return float(o.auth_rate) * 2
    # radblast keeps 64 in flight, as bench_compare does (its ids are per socket: at most 256)
    inflight = "512" if getattr(o, "generator", "radblast") == "radload" else "64"
    ld = Load(o, ports["auth"], "pap", ["--inflight", inflight], duration=o.calibrate_seconds)
    out, err = ld.proc.communicate(timeout=o.calibrate_seconds + 60)
    sm = json.loads(out)
    drained(ports)
    rate = float(sm["ok_per_s"])
    settle(o, ports, rate / 2)
    return rate


#: Seconds of the offered auth load, unmeasured, between the calibration and the first measured phase.
SETTLE_SECONDS = 10.0


def settle(o: argparse.Namespace, ports: dict, rate: float, seconds: float = SETTLE_SECONDS) -> None:
    """The open-loop auth load at ``rate`` for ``seconds``, not measured: the closed-loop calibration
    leaves the daemon 5 s of requests at twice that rate to forget (the duplicate cache's 200,000
    entries expiring, its tables shrinking, the collector walking them), and a "before" measured
    straight after it read 5.3-9.8 ms where the same daemon gave 0.97 ms ten seconds later."""
    ld = auth_load(o, ports, rate)
    time.sleep(seconds)
    ld.stop()


def drained(ports: dict, timeout: float = 120.0) -> float:
    """Wait until the daemon's writer has nothing queued (``aaad_db_write_pending`` 0 twice in a
    row); the seconds it took.  A closed-loop calibration overloads the daemon on purpose, and
    the writer, at background priority for the auth log, catches up afterwards: a baseline taken
    meanwhile measures that backlog (auth p99 31 ms and accounting p99 1.9 s against 3 ms and
    19 ms once drained, in one billing run)."""
    import urllib.request
    t0 = time.monotonic()
    zero = 0
    while zero < 2:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/metrics", timeout=10) as r:
            text = r.read().decode()
        pending = next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("aaad_db_write_pending ")), 0.0)
        zero = zero + 1 if pending == 0 else 0
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"bench: the daemon's writer did not drain in {timeout:.0f} s ({pending:.0f} pending)")
        time.sleep(0.2)
    return time.monotonic() - t0


def loads(o: argparse.Namespace, ports: dict, auth_rate: float, expect: str) -> tuple[Load, Load | None]:
    auth = Load(o, ports["auth"], "pap", ["--rate", f"{auth_rate:.0f}", "--expect", expect])
    acct = Load(o, ports["acct"], "acct", ["--rate", f"{o.acct_rate:.0f}", "--acct-mix", "start,interim,stop"]) \
        if o.acct_rate > 0 else None
    auth.wait_started()
    if acct:
        acct.wait_started()
    return auth, acct


def baseline(o: argparse.Namespace, ports: dict, auth_rate: float, seconds: float | None = None) -> dict[str, Any]:
    auth, acct = loads(o, ports, auth_rate, "accept")
    time.sleep(o.baseline_seconds if seconds is None else seconds)
    return {"auth": summary(auth.stop()), "acct": summary(acct.stop()) if acct else None}


def baseline_windows(o: argparse.Namespace, ports: dict, auth_rate: float, n: int = 3) -> dict[str, Any]:
    """The baseline as ``n`` windows of ``--baseline-seconds``/n, each its own load: the window with the
    median auth p99 stands for all (with ``windows``: each window's auth and acct p99).  One window's p99
    moved 1.1-6.4 ms between runs of the same code, so a single one made any ratio."""
    runs = [baseline(o, ports, auth_rate, o.baseline_seconds / n) for _ in range(n)]
    mid = sorted(runs, key=lambda r: r["auth"]["p99_ms"])[n // 2]
    return {**mid, "windows": [{"auth_p99_ms": r["auth"]["p99_ms"],
                                "acct_p99_ms": r["acct"]["p99_ms"] if r["acct"] else None} for r in runs]}


def run_job(o: argparse.Namespace, conf: Path, job: str, job_args: list[str], run_date: date, ports: dict,
            auth_rate: float, expect: str) -> dict[str, Any]:
    """The job in a subprocess under the auth and acct loads: time, RSS, exit, and the loads' figures."""
    auth, acct = loads(o, ports, auth_rate, expect)
    args = [run_date.isoformat() if a == "DATE" else a for a in job_args]
    cmd = pinned(o.job_cpu, aaad_cmd(conf, "jobs", "run", job, *args))
    t0, steal0 = time.perf_counter(), steal_ticks()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            kib = proc_kib(proc.pid, "VmRSS")
            if kib:
                samples.append(kib)
            done.wait(0.05)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    assert proc.stdout is not None
    output = proc.stdout.read()              # until the job exits (its output is small)
    _pid, status, ru = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    th.join()
    a, c = auth.stop(), (acct.stop() if acct else None)
    return {"job": job, "command": " ".join(cmd), "exit": proc.returncode, "output": output.strip()[-2000:],
            "seconds": round(elapsed, 2), "rss_peak_mib": round(ru.ru_maxrss / 1024, 1),
            "rss_sampled_max_mib": round(max(samples, default=0) / 1024, 1),
            "rss_samples": len(samples), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "steal_ms": steal_ms_since(steal0),
            "auth": summary(a), "acct": summary(c) if c else None}


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def control(o: argparse.Namespace, ports: dict, auth_rate: float) -> dict[str, Any]:
    """The loads with a pure CPU burner where the job runs (pinned like it) instead of the job: how
    much of the p99 "during" is the load generator sharing its CPU, not the daemon."""
    auth, acct = loads(o, ports, auth_rate, "accept")
    hog = subprocess.Popen(pinned(o.job_cpu, [PY, "-c", "while True: pass"]))
    try:
        time.sleep(o.control_seconds)
    finally:
        hog.kill()
        hog.wait()
    return {"auth": summary(auth.stop()), "acct": summary(acct.stop()) if acct else None}


def registered_jobs(conf: Path) -> dict[str, list[str]]:
    """Each registered job and the ``jobs run`` arguments it takes: ``--org`` for a per-org job,
    ``--date`` for a calendar one (so another job can stand in with ``--run-job``)."""
    r = subprocess.run(aaad_cmd(conf, "jobs", "list", "--json"), capture_output=True, text=True, cwd=str(ROOT),
                       timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"bench_billing: aaad jobs list failed: {r.stderr[-2000:]}")
    out: dict[str, list[str]] = {}
    for row in json.loads(r.stdout):
        out[row["job"]] = ((["--org", ORG] if row["org"] not in ("-", None) else [])
                           + (["--date", "DATE"] if not str(row["schedule"]).startswith("every") else []))
    return out


# -- one database ------------------------------------------------------------------------------------

def bench_database(o: argparse.Namespace, kind: str, run_date: date) -> dict[str, Any]:
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-billing-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind, "dir": str(d)}
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = start_postgres(o, res, fsync=not o.pg_fsync_off)
        conf = write_config(d, db_url)
        print(f"[{kind}] loading {o.customers} customers into {d} ...", flush=True)
        res["load"] = load(conf, o.customers, run_date, o.batch)
        print(f"[{kind}] loaded in {res['load']['load_s']} s", flush=True)
        jobs = registered_jobs(conf)
        with daemon(conf, d, o.daemon_cpu) as (proc, ports):
            res["daemon_rss_ready_mib"] = round(proc_kib(proc.pid, "VmRSS") / 1024, 1)
            bench_rate = calibrate(o, ports)
            auth_rate = bench_rate / 2
            res["auth_benchmark_rate"] = round(bench_rate)
            res["auth_offered_rate"] = round(auth_rate)
            print(f"[{kind}] auth benchmark rate {bench_rate:,.0f}/s: offering {auth_rate:,.0f}/s, "
                  f"acct {o.acct_rate:,.0f}/s", flush=True)
            res["baseline"] = baseline_windows(o, ports, auth_rate)
            print(f"[{kind}] baseline (median of {[w['auth_p99_ms'] for w in res['baseline']['windows']]}): "
                  f"auth p99 {res['baseline']['auth']['p99_ms']} ms"
                  + (f", acct p99 {res['baseline']['acct']['p99_ms']} ms" if res["baseline"]["acct"] else ""),
                  flush=True)
            if o.control_seconds > 0:
                res["control"] = control(o, ports, auth_rate)
                print(f"[{kind}] control (CPU burner pinned like the job, no job): auth p99 "
                      f"{res['control']['auth']['p99_ms']} ms"
                      + (f", acct p99 {res['control']['acct']['p99_ms']} ms" if res["control"]["acct"] else ""),
                      flush=True)
            for phase, job, expect in (("run", o.run_job, "accept"), ("dunning", o.dunning_job, "any")):
                if job not in jobs:
                    res[phase] = {"job": job, "skipped": f"job {job} is not registered (aaad jobs list): "
                                                         "its part of issue 9 is not merged yet"}
                    print(f"[{kind}] SKIP {phase}: {res[phase]['skipped']}", flush=True)
                    continue
                print(f"[{kind}] {phase}: aaad jobs run {job} {' '.join(jobs[job])} ({run_date}) ...", flush=True)
                cpu0 = proc_cpu_s(proc.pid)
                r = run_job(o, conf, job, jobs[job], run_date, ports, auth_rate, expect)
                r["daemon_cpu_s"] = round(proc_cpu_s(proc.pid) - cpu0, 2)
                r["after"] = count_after(conf, run_date, job)
                res[phase] = r
                print(f"[{kind}] {phase}: exit {r['exit']} in {r['seconds']} s, peak RSS {r['rss_peak_mib']} MiB, "
                      f"steal {r['steal_ms']} ms, auth p99 {r['auth']['p99_ms']} ms"
                      + (f", acct p99 {r['acct']['p99_ms']} ms" if r["acct"] else "")
                      + f"; {r['after']}", flush=True)
                if r["exit"] != 0:
                    print(f"[{kind}] {phase} output:\n{r['output']}", flush=True)
            res["daemon_rss_end_mib"] = round(proc_kib(proc.pid, "VmRSS") / 1024, 1)
            res["daemon_rss_peak_mib"] = round(proc_kib(proc.pid, "VmHWM") / 1024, 1)
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def verdict(res: dict[str, Any], phase: str, o: argparse.Namespace) -> str:
    r = res.get(phase)
    if not r or "skipped" in r:
        return "skipped"
    if r["exit"] != 0:
        return "FAILED"
    ok = []
    if phase == "run":
        ok.append(r["seconds"] <= o.target_seconds)
        ok.append(r["after"]["invoices_on_run_date"] == o.customers)
    p99b = res["baseline"]["auth"]["p99_ms"]
    ok.append(r["auth"]["p99_ms"] <= 2 * p99b)
    if r["acct"]:
        ok.append(r["acct"]["lost"] == 0)
    return "ok" if all(ok) else "MISSED"


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "phase", "customers", "seconds (job work)", "peak RSS MiB", "auth p99 ms (before)", "auth lost",
            "acct p99 ms (before)", "acct ack/s", "acct lost", "result", "verdict"]
    rows = []
    for res in results:
        b = res["baseline"]
        for phase in ("run", "dunning"):
            r = res.get(phase, {})
            if "skipped" in r or not r:
                rows.append([db_label(res), phase, o.customers, "-", "-", "-", "-", "-", "-", "-",
                             "job not registered", "skipped"])
                continue
            after = r["after"]
            what = (f"{after['invoices_on_run_date']} invoices" if phase == "run"
                    else f"{after['services_suspended']} suspended")
            acct = r["acct"]
            rows.append([db_label(res), phase, o.customers, f"{r['seconds']} ({after['job_work_s']})",
                         r["rss_peak_mib"],
                         f"{r['auth']['p99_ms']} ({b['auth']['p99_ms']})", r["auth"]["lost"],
                         f"{acct['p99_ms']} ({b['acct']['p99_ms']})" if acct else "-",
                         f"{acct['answered_per_s']:.0f}" if acct else "-", acct["lost"] if acct else "-",
                         what if r["exit"] == 0 else f"exit {r['exit']}", verdict(res, phase, o)])
        c = res.get("control")
        if c:
            rows.append([db_label(res), "control", "-", f"{o.control_seconds:g} (CPU burner, no job)", "-",
                         f"{c['auth']['p99_ms']} ({b['auth']['p99_ms']})", c["auth"]["lost"],
                         f"{c['acct']['p99_ms']} ({b['acct']['p99_ms']})" if c["acct"] else "-",
                         f"{c['acct']['answered_per_s']:.0f}" if c["acct"] else "-",
                         c["acct"]["lost"] if c["acct"] else "-", "-", "-"])
    return format_table(head, rows)


def format_table(head: list[str], rows: list[list[Any]]) -> str:
    """Rows under a header, columns padded to their widest cell."""
    cells = [head] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in cells)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--run-date", help="the billing run's local date (default: today, UTC)")
    p.add_argument("--run-job", default="billing.run", help="the billing run job's name")
    p.add_argument("--dunning-job", default="billing.dunning", help="the dunning job's name")
    p.add_argument("--auth-rate", type=float, default=0.0,
                   help="offered auth rate per second (default: half the measured closed-loop PAP rate)")
    p.add_argument("--acct-rate", type=float, default=1000.0, help="accounting requests per second (0: none)")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--target-seconds", type=float, default=30.0)
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    p.add_argument("--job-cpu", default="", help="pin the job process (default: not pinned)")
    add_generator_arg(p)
    add_pg_cpu_arg(p, default="none")   # the job runs on the load's CPU (--job-cpu)
    p.add_argument("--pg-fsync-off", action="store_true", help="PostgreSQL with fsync off (default: on)")
    p.add_argument("--control-seconds", type=float, default=10.0,
                   help="the loads with a CPU burner in the job's place (pinned like it) first; 0: skip")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (SQLite database, logs)")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    o = p.parse_args(argv)
    o.job_cpu = o.job_cpu or None
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    run_date = date.fromisoformat(o.run_date) if o.run_date else default_run_date(datetime.now(UTC).date())
    results = []
    for kind in o.databases.split(","):
        results.append(bench_database(o, kind.strip(), run_date))
    out = {"customers": o.customers, "run_date": run_date.isoformat(), "target_seconds": o.target_seconds,
           "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
           "self_rusage_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "results": results}
    print()
    print(table(results, o))
    print()
    print(json.dumps(out, indent=1, default=str))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1, default=str))
    failed = any(verdict(r, ph, o) in ("FAILED", "MISSED") for r in results for ph in ("run", "dunning"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
