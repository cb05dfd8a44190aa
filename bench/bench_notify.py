#!/usr/bin/env python3
"""Notifications benchmark: the daily reminder pass, and sending SMS through the fake gateway
under RADIUS load.

Issue 12's speed targets: the daily reminder pass for 100,000 customers with 10,000 due
reminders, rules evaluated and messages queued in under 10 s (SQLite and PostgreSQL); sending
throughput against the fake SMS gateway, with RADIUS auth p99 at most doubled meanwhile.

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from
``tests/pg.py``), reusing ``bench/bench_billing.py``'s load, config, daemon and radload helpers:

1. **load**: bench_billing's bulk load (an org, N customers each with a service, a login and
   last month's open invoice, whose due date no rule matches), each customer with an email
   ``cust-NNNNNN@bench.example`` and a mobile number ``+23354NNNNNNN``; then notify's setup
   through its own store functions: ``reminders_at`` 00:00 (the pass runs whatever the time),
   the email channel with the ``file`` provider (a folder in the temp dir), the SMS channel
   with the ``generic`` provider pointed at ``tests/fake_sms.py``'s ``FakeGateway`` (running
   in this process, threaded), ``invoice.due_reminder`` routed to both, rules -3d, 0 and +2d;
   and ``--due`` extra open invoices (customers 1..due) due today+3, today or today-2 in turn,
   so exactly ``--due`` reminders are due today (checked by a count).
2. **reminder pass**: ``aaad jobs run notify.reminders --org bench`` in a subprocess (no
   daemon running), timed (process start to exit, and the job's own time from ``job_runs``);
   counted afterwards: ``notify_messages`` rows (must be due x 2 channels), queued/s.
   ``[notify] reminder_interval = 1``, so each run is a new period of the job. Then the same
   job **again**: (a) as it would run at its next interval (the day's pass is marked done:
   only the expiry warnings are looked at), (b) **forced**: the day's done mark cleared, so
   every rule is evaluated again and every row is refused by its dedupe key: 0 queued.
   ``--profile`` records the first pass, and the daemon while it sends, with py-spy (SVGs next to
   the JSON, or in /tmp).
3. **sending**: the email rows cancelled (unless ``--send-email``), the SMS rows parked (due
   tomorrow); the daemon started with jobs on (the sender runs on the leader) except the
   billing and notify jobs (``[jobs] skip``), pinned to ``--daemon-cpu``; radload on
   ``--load-cpu``. Calibrate PAP closed loop (its ok/s is the benchmark rate), baseline p99 at
   half of it (open loop), then with the same load: the parked rows released (due now, and a
   wake-up datagram to the daemon), ``notify_messages`` polled until all are sent (or
   ``--send-seconds``): messages sent per second and auth p99 during.
4. **slow gateway**: the gateway answering after ``--slow-delay`` (2 s); the SMS rows reset to
   pending, released the same way, for ``--slow-seconds``: throughput is bounded by
   ``[notify] per_channel`` / delay; auth p99 during.

Checked: the gateway's requests carry the outbox id, so a message sent twice shows up
(``duplicates``); the gateway's request count during the reminder pass shows whether the
``jobs run`` process sent anything itself.  Prints a table and JSON (``--json-out FILE`` too).
Run: ``.venv/bin/python bench/bench_notify.py --customers 2000 --due 200`` (harness check);
the issue's figures: ``--customers 100000 --due 10000`` on a quiet machine (see bench/README.md).
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
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_billing as bb  # noqa: E402  (puts the repository on sys.path too)

ROOT, PY, ORG = bb.ROOT, bb.PY, bb.ORG
JOB = "notify.reminders"
OFFSETS_DAYS = (-3, 0, 2)          # the rules: 3 days before the due date, on it, 2 days after
SKIP_JOBS = ["billing.run", "billing.dunning", "notify.reminders", "notify.sms_balance"]
PYSPY = Path("/work/main/.venv/bin/py-spy")


def email_of(i: int) -> str:
    return f"cust-{i:06d}@bench.example"


def phone_of(i: int) -> str:
    return f"+23354{i:07d}"          # a Ghanaian mobile number (valid for phonenumbers)


def contact_fields(i: int) -> dict[str, Any]:
    return {"email": email_of(i), "phone": phone_of(i)}


def engine_of(conf: Path) -> Any:
    from aaad import app
    from aaad.db import sync_engine
    cfg = app.load_config(str(conf))
    return sync_engine(app.database_url(cfg), cfg.database.busy_timeout_ms)


def notify_config(o: argparse.Namespace) -> tuple[str, str]:
    """The ``[jobs]`` body and the ``[notify]`` table of the daemon's (and the CLI's) config."""
    jobs = "enabled = true\nskip = [" + ", ".join(f'"{j}"' for j in SKIP_JOBS) + "]"
    extra = f"\n[notify]\nreminder_interval = 1\nper_channel = {o.per_channel}\n"
    if o.poll_interval:
        extra += f"poll_interval = {o.poll_interval}\n"
    if o.batch_size:
        extra += f"batch = {o.batch_size}\n"
    return jobs, extra


# -- setup -------------------------------------------------------------------------------------------

def setup_notify(conf: Path, d: Path, due: int, gateway: Any) -> dict[str, Any]:
    """Notify's settings, channels, route and rules for the org, and ``due`` open invoices due
    today+3, today or today-2 (in turn) for customers 1..due; what is expected of the pass."""
    from zoneinfo import ZoneInfo

    import sqlalchemy as sa

    from aaad import app, orgs
    from billing import settings as billing_settings
    from billing.notify import reminders
    from billing.notify import settings as ns
    from billing.schema import billing_settings as bs_t
    from billing.schema import customers, invoices

    cfg = app.load_config(str(conf))
    box = app.secret_box(cfg)
    engine = engine_of(conf)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        with engine.begin() as conn:
            org = orgs.get_by_slug(conn, ORG)
            assert org is not None
            org_id = org.id
            bs = billing_settings.get(conn, org_id)
            today = now.astimezone(ZoneInfo(bs.timezone)).date()
            ns.update(conn, org_id, now, reminders_at="00:00", admin_email="noc@bench.example")
            ns.set_channel(conn, box, org_id, "email", now, provider="file",
                           settings={"directory": str(d / "outbox"), "from_address": "billing@bench.example"})
            settings, secrets = gateway.channel_settings()
            for k in ("provider", "balance_url", "balance_path"):
                settings.pop(k, None)
            settings["params"] = {**settings["params"], "ref": "{message_id}"}   # to see a message sent twice
            ns.set_channel(conn, box, org_id, "sms", now, provider="generic", settings=settings, secrets=secrets)
            ns.set_route(conn, org_id, reminders.DUE, ["email", "sms"], now)
            rules = [reminders.add_rule(conn, org_id, reminders.DUE, days * reminders.DAY, now)
                     for days in OFFSETS_DAYS]
            due_dates = [today - timedelta(days=days) for days in OFFSETS_DAYS]
            cust_ids = [r[0] for r in conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id)
                                                   .order_by(customers.c.id).limit(due))]
            if len(cust_ids) < due:
                raise SystemExit(f"bench_notify: --due {due} is more than the customers ({len(cust_ids)})")
            i0 = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(invoices.c.id), 0))).scalar_one())
            seq0 = int(conn.execute(sa.select(bs_t.c.next_invoice_no).where(bs_t.c.org_id == org_id)).scalar_one())
            rows = []
            for j, cid in enumerate(cust_ids):
                dd = due_dates[j % len(due_dates)]
                rows.append({"id": i0 + 1 + j, "org_id": org_id, "customer_id": cid, "seq": seq0 + j,
                             "number": f"INV-{seq0 + j:06d}", "state": "open", "issue_date": dd - timedelta(days=14),
                             "due_date": dd, "currency": bs.currency, "subtotal": bb.PRICE, "discount": 0,
                             "vat": 0, "total": bb.PRICE, "paid": 0, "run": None, "created_at": now})
            for lo in range(0, len(rows), 5000):
                conn.execute(invoices.insert(), rows[lo:lo + 5000])
            conn.execute(bs_t.update().where(bs_t.c.org_id == org_id).values(next_invoice_no=seq0 + due))
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('invoices', 'id'), "
                                     "(SELECT max(id) FROM invoices))"))
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
            c = invoices.c
            matching = int(conn.execute(sa.select(sa.func.count()).select_from(invoices).where(
                c.org_id == org_id, c.state == "open", c.due_date.in_(due_dates), c.total > c.paid)).scalar_one())
    finally:
        engine.dispose()
    if matching != due:
        raise SystemExit(f"bench_notify: {matching} open invoices match the rules, wanted {due}")
    return {"org_id": org_id, "today": today.isoformat(), "due_dates": [x.isoformat() for x in due_dates],
            "rules": [r.describe for r in rules], "due_invoices": matching, "expected_rows": 2 * due,
            "setup_s": round(time.perf_counter() - t0, 2)}


# -- looking at the outbox ---------------------------------------------------------------------------

def outbox_counts(engine: Any, org_id: int) -> dict[str, int]:
    """Rows by channel and state: {"sms:pending": 200, ...} and "total"."""
    import sqlalchemy as sa

    from billing.notify.schema import messages as m
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m.c.channel, m.c.state, sa.func.count()).where(m.c.org_id == org_id)
                            .group_by(m.c.channel, m.c.state)).all()
    out = {f"{ch}:{st}": int(n) for ch, st, n in rows}
    out["total"] = sum(int(n) for _c, _s, n in rows)
    return out


def last_job_run(engine: Any) -> dict[str, Any]:
    import sqlalchemy as sa

    from aaad.schema import job_runs as jr
    with engine.connect() as conn:
        r = conn.execute(sa.select(jr.c.period, jr.c.status, jr.c.started_at, jr.c.finished_at, jr.c.error)
                         .where(jr.c.job == JOB).order_by(jr.c.id.desc()).limit(1)).first()
    if r is None:
        return {"job_status": None, "job_work_s": None}
    return {"job_period": r.period, "job_status": r.status, "job_error": r.error,
            "job_work_s": round((r.finished_at - r.started_at).total_seconds(), 3) if r.finished_at else None}


def clear_done_mark(engine: Any, org_id: int) -> None:
    from billing.notify.schema import settings as set_t
    with engine.begin() as conn:
        conn.execute(set_t.update().where(set_t.c.org_id == org_id).values(reminders_done_on=None))


# -- the reminder pass ---------------------------------------------------------------------------------

def run_pass(o: argparse.Namespace, conf: Path, engine: Any, org_id: int, gateway: Any,
             profile: Path | None = None) -> dict[str, Any]:
    """``aaad jobs run notify.reminders --org bench`` in a subprocess: times and what it queued."""
    before = outbox_counts(engine, org_id)["total"]
    gw_before = len(gateway.requests())
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))       # a fresh 1-second period of the job
    cmd = bb.pinned(o.job_cpu, bb.aaad_cmd(conf, "jobs", "run", JOB, "--org", ORG))
    if profile is not None:
        cmd = [str(PYSPY), "record", "--rate", "200", "--format", "flamegraph", "-o", str(profile), "--", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, ru = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    counts = outbox_counts(engine, org_id)
    queued = counts["total"] - before
    r: dict[str, Any] = {
        "command": " ".join(cmd), "exit": os.waitstatus_to_exitcode(status), "output": output.strip()[-2000:],
        "seconds": round(elapsed, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "rss_peak_mib": round(ru.ru_maxrss / 1024, 1), "queued": queued, "outbox": counts,
        "gateway_requests_during": len(gateway.requests()) - gw_before, **last_job_run(engine)}
    work = r["job_work_s"] or elapsed
    r["queued_per_s"] = round(queued / work) if queued and work else 0
    if profile is not None:
        r["profile"] = str(profile)
    return r


# -- sending -------------------------------------------------------------------------------------------

def _sms_where(m: Any, org_id: int, channels: list[str]) -> Any:
    return (m.c.org_id == org_id) & m.c.channel.in_(channels)


def park(engine: Any, org_id: int, channels: list[str]) -> dict[str, int]:
    """Before the daemon starts: rows of other channels cancelled, these due tomorrow (not sent yet)."""
    from billing.notify.schema import messages as m
    now = datetime.now(UTC)
    with engine.begin() as conn:
        cancelled = conn.execute(m.update().where(m.c.org_id == org_id, m.c.state == "pending",
                                                  m.c.channel.not_in(channels))
                                 .values(state="cancelled", done_at=now, updated_at=now)).rowcount
        parked = conn.execute(m.update().where(_sms_where(m, org_id, channels), m.c.state == "pending")
                              .values(not_before=now + timedelta(days=1), updated_at=now)).rowcount
    return {"cancelled": int(cancelled), "parked": int(parked)}


def release(engine: Any, org_id: int, channels: list[str], data_dir: Path) -> int:
    """Every row of these channels pending and due now (sent ones again, as new); wake the daemon."""
    from aaad import wake
    from billing.notify.schema import messages as m
    now = datetime.now(UTC)
    with engine.begin() as conn:
        n = conn.execute(m.update().where(_sms_where(m, org_id, channels),
                                          m.c.state.in_(("pending", "sent", "delivered", "failed")))
                         .values(state="pending", not_before=now, attempts=0, provider_id=None, error=None,
                                 sent_at=None, done_at=None, rendered=None, segments=None, updated_at=now)).rowcount
    wake.send(wake.address(str(data_dir)))
    return int(n)


def metrics_lines(web_port: int | None, prefix: str = "aaad_notify_") -> list[str]:
    if not web_port:
        return []
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return []
    return [line for line in text.splitlines() if line.startswith(prefix)]


def send_phase(o: argparse.Namespace, engine: Any, org_id: int, channels: list[str], data_dir: Path,
               ports: dict, daemon_pid: int, auth_rate: float, gateway: Any, max_seconds: float,
               stop_when_done: bool, profile: Path | None = None) -> dict[str, Any]:
    """Release the rows under the auth load; poll the outbox until all are sent (or max_seconds)."""
    auth, acct = bb.loads(o, ports, auth_rate, "accept")
    spy = None
    if profile is not None:        # the daemon while it sends (py-spy writes the SVG on SIGINT)
        spy = subprocess.Popen([str(PYSPY), "record", "--pid", str(daemon_pid), "--rate", "100", "--format",
                                "flamegraph", "-o", str(profile)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    gw0 = len(gateway.requests())
    cpu0 = bb.proc_cpu_s(daemon_pid)
    t0 = time.perf_counter()
    n = release(engine, org_id, channels, data_dir)
    samples: list[tuple[float, int, int]] = []
    first = done_at = None
    while True:
        time.sleep(o.poll)
        c = outbox_counts(engine, org_id)
        t = time.perf_counter() - t0
        sent = sum(c.get(f"{ch}:{st}", 0) for ch in channels for st in ("sent", "delivered"))
        failed = sum(c.get(f"{ch}:failed", 0) for ch in channels)
        samples.append((round(t, 2), sent, failed))
        if sent and first is None:
            first = t
        if sent + failed >= n and stop_when_done:
            done_at = t
            break
        if t >= max_seconds:
            break
    elapsed = time.perf_counter() - t0
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    a = auth.stop()
    c_ = acct.stop() if acct else None
    sent, failed = samples[-1][1], samples[-1][2]
    reqs = gateway.requests()[gw0:]
    refs = [r.form.get("ref", r.query.get("ref", [""]))[0] for r in reqs if r.path == "/send"]
    retries = sum(c.get(f"{ch}:pending", 0) for ch in channels)
    return {
        "released": n, "sent": sent, "failed": failed, "still_pending": retries,
        "seconds": round(done_at if done_at is not None else elapsed, 2), "all_sent": done_at is not None,
        "first_sent_after_s": round(first, 2) if first is not None else None,
        "sent_per_s": round(sent / (done_at if done_at is not None else elapsed), 1),
        "gateway_requests": len(refs), "duplicates": len(refs) - len(set(refs)),
        "daemon_cpu_s": round(bb.proc_cpu_s(daemon_pid) - cpu0, 2),
        "samples": samples if o.keep_samples else samples[:: max(1, len(samples) // 40)],
        "metrics": metrics_lines(ports.get("web")), "profile": str(profile) if profile else None,
        "auth": bb.summary(a), "acct": bb.summary(c_) if c_ else None}


def per_msg(s: dict[str, Any], idle_cpu: float) -> None:
    """The daemon's CPU per message sent, beyond what the auth load took in the baseline."""
    extra = s["daemon_cpu_s"] - idle_cpu * s["seconds"]
    s["daemon_cpu_per_msg_ms"] = round(1000 * extra / s["sent"], 2) if s["sent"] else None


# -- one database ------------------------------------------------------------------------------------------

def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    from tests.fake_sms import FakeGateway
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-notify-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind, "dir": str(d)}
    gateway = FakeGateway()
    gateway.start()
    engine = None
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = bb.start_postgres(o, res, fsync=not o.pg_fsync_off)
        jobs, extra = notify_config(o)
        conf = bb.write_config(d, db_url, jobs=jobs, extra=extra)
        today = datetime.now(UTC).date()
        print(f"[{kind}] loading {o.customers} customers into {d} ...", flush=True)
        res["load"] = bb.load(conf, o.customers, today, o.load_batch, customer_fields=contact_fields)
        res["setup"] = setup_notify(conf, d, o.due, gateway)
        print(f"[{kind}] loaded in {res['load']['load_s']} s; {res['setup']['due_invoices']} reminders due "
              f"{res['setup']['today']} ({', '.join(res['setup']['rules'])})", flush=True)
        engine = engine_of(conf)
        org_id = res["setup"]["org_id"]

        def svg(what: str) -> Path | None:
            if not o.profile:
                return None
            return (Path(o.json_out).with_suffix(f".{kind}-{what}.svg") if o.json_out
                    else Path(f"/tmp/bench_notify-{kind}-{what}.svg"))
        r = run_pass(o, conf, engine, org_id, gateway, profile=svg("pass"))
        res["pass"] = r
        print(f"[{kind}] reminder pass: exit {r['exit']} in {r['seconds']} s (job {r['job_work_s']} s), "
              f"{r['queued']} rows queued ({r['queued_per_s']}/s), CPU {r['cpu_s']} s, peak RSS "
              f"{r['rss_peak_mib']} MiB; gateway requests meanwhile: {r['gateway_requests_during']}", flush=True)
        if r["exit"] != 0:
            print(f"[{kind}] output:\n{r['output']}", flush=True)
        r = run_pass(o, conf, engine, org_id, gateway)
        res["again"] = r
        print(f"[{kind}] again (day marked done): {r['seconds']} s (job {r['job_work_s']} s), {r['queued']} queued",
              flush=True)
        clear_done_mark(engine, org_id)
        r = run_pass(o, conf, engine, org_id, gateway)
        res["again_forced"] = r
        print(f"[{kind}] again, done mark cleared (every rule evaluated, all deduplicated): {r['seconds']} s "
              f"(job {r['job_work_s']} s), {r['queued']} queued", flush=True)

        if o.skip_send:
            return res
        channels = ["sms", "email"] if o.send_email else ["sms"]
        res["parked"] = park(engine, org_id, channels)
        with bb.daemon(conf, d, o.daemon_cpu) as (proc, ports):
            # The fake gateway (threads in this process) stands for a remote service, and the outbox
            # counts are the bench's own: both off the daemon's core (unpinned, they landed on it).
            bb.pin_self(o.load_cpu)
            res["daemon_rss_ready_mib"] = round(bb.proc_kib(proc.pid, "VmRSS") / 1024, 1)
            bench_rate = bb.calibrate(o, ports)
            auth_rate = bench_rate / 2
            res["auth_benchmark_rate"] = round(bench_rate)
            res["auth_offered_rate"] = round(auth_rate)
            print(f"[{kind}] auth benchmark rate {bench_rate:,.0f}/s: offering {auth_rate:,.0f}/s", flush=True)
            cpu0, t0 = bb.proc_cpu_s(proc.pid), time.perf_counter()
            res["baseline"] = bb.baseline(o, ports, auth_rate)
            idle_cpu = (bb.proc_cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0)
            res["baseline"]["daemon_cpu_per_s"] = round(idle_cpu, 3)     # the auth load's share of the core
            print(f"[{kind}] baseline: auth p99 {res['baseline']['auth']['p99_ms']} ms", flush=True)
            s = send_phase(o, engine, org_id, channels, d / "data", ports, proc.pid, auth_rate, gateway,
                           o.send_seconds, True, profile=svg("send"))
            res["send"] = s
            per_msg(s, idle_cpu)
            print(f"[{kind}] send: {s['sent']} of {s['released']} sent in {s['seconds']} s ({s['sent_per_s']}/s, "
                  f"first after {s['first_sent_after_s']} s), "
                  f"duplicates {s['duplicates']}, auth p99 {s['auth']['p99_ms']} ms", flush=True)
            if o.slow_seconds > 0:
                gateway.delay = o.slow_delay
                s = send_phase(o, engine, org_id, channels, d / "data", ports, proc.pid, auth_rate, gateway,
                               o.slow_seconds, False)
                s["gateway_delay_s"] = o.slow_delay
                s["bound_per_s"] = round(o.per_channel * len(channels) / o.slow_delay, 1)
                res["send_slow"] = s
                per_msg(s, idle_cpu)
                print(f"[{kind}] slow gateway ({o.slow_delay} s): {s['sent']} sent in {s['seconds']} s "
                      f"({s['sent_per_s']}/s, bound {s['bound_per_s']}/s), auth p99 {s['auth']['p99_ms']} ms",
                      flush=True)
                gateway.delay = 0.0
            res["daemon_rss_end_mib"] = round(bb.proc_kib(proc.pid, "VmRSS") / 1024, 1)
    finally:
        if engine is not None:
            engine.dispose()
        gateway.stop()
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


# -- report ------------------------------------------------------------------------------------------------

def verdicts(res: dict[str, Any], o: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    p = res.get("pass")
    if p:
        ok = p["exit"] == 0 and p["queued"] == res["setup"]["expected_rows"]
        out["pass"] = ("ok" if p["seconds"] <= o.target_seconds else "MISSED") if ok else "FAILED"
    for k in ("again", "again_forced"):
        if k in res:
            out[k] = "ok" if res[k]["exit"] == 0 and res[k]["queued"] == 0 else "FAILED"
    b = res.get("baseline")
    for k in ("send", "send_slow"):
        s = res.get(k)
        if s and b:
            good = s["duplicates"] == 0 and (s["all_sent"] or k == "send_slow")
            out[k] = ("ok" if s["auth"]["p99_ms"] <= 2 * b["auth"]["p99_ms"] else "MISSED") if good else "FAILED"
    return out


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "phase", "what", "seconds (job work)", "rate", "auth p99 ms (before)", "ratio", "verdict"]
    rows: list[list[Any]] = []
    for res in results:
        v = verdicts(res, o)
        db = bb.db_label(res)
        for k, label in (("pass", "reminder pass"), ("again", "again (done)"), ("again_forced", "again (forced)")):
            r = res.get(k)
            if r:
                rows.append([db, label, f"{r['queued']} rows queued (of {o.due} due x 2)" if k == "pass"
                             else f"{r['queued']} rows queued",
                             f"{r['seconds']} ({r['job_work_s']})", f"{r['queued_per_s']}/s", "-", "-", v.get(k)])
        b = res.get("baseline")
        for k, label in (("send", "send"), ("send_slow", "send, slow gateway")):
            s = res.get(k)
            if s and b:
                p99b = b["auth"]["p99_ms"]
                what = f"{s['sent']} of {s['released']} sent, {s['duplicates']} dup"
                if k == "send_slow":
                    what += f" (delay {s['gateway_delay_s']} s, bound {s['bound_per_s']}/s)"
                rows.append([db, label, what, s["seconds"], f"{s['sent_per_s']}/s",
                             f"{s['auth']['p99_ms']} ({p99b})",
                             f"{s['auth']['p99_ms'] / p99b:.1f}x" if p99b else "-", v.get(k)])
    return bb.format_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--due", type=int, default=10_000, help="invoices with a reminder due today")
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--target-seconds", type=float, default=10.0, help="the reminder pass's target")
    p.add_argument("--profile", action="store_true",
                   help="record the first reminder pass and the daemon sending with py-spy (SVGs)")
    p.add_argument("--skip-send", action="store_true", help="only the reminder pass (no daemon, no sending)")
    p.add_argument("--send-email", action="store_true",
                   help="send the email rows (file provider) too, instead of cancelling them before sending")
    p.add_argument("--send-seconds", type=float, default=600.0, help="at most this long for the sending phase")
    p.add_argument("--slow-delay", type=float, default=2.0, help="the slow gateway's delay per request (s)")
    p.add_argument("--slow-seconds", type=float, default=30.0, help="the slow-gateway phase's length (0: skip)")
    p.add_argument("--per-channel", type=int, default=8, help="[notify] per_channel")
    p.add_argument("--poll-interval", type=float, default=0.0, help="[notify] poll_interval (default: aaad's)")
    p.add_argument("--batch-size", type=int, default=0, help="[notify] batch (default: aaad's)")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between counts of the outbox while sending")
    p.add_argument("--keep-samples", action="store_true", help="every (t, sent, failed) sample in the JSON")
    p.add_argument("--auth-rate", type=float, default=0.0,
                   help="offered auth rate per second (default: half the measured closed-loop PAP rate)")
    p.add_argument("--acct-rate", type=float, default=0.0, help="accounting requests per second too (0: none)")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--load-batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    bb.add_generator_arg(p)
    bb.add_pg_cpu_arg(p, default="none")   # the reminder pass is a job on the load's CPU
    p.add_argument("--job-cpu", default="", help="pin the reminder pass's process (default: not pinned)")
    p.add_argument("--pg-fsync-off", action="store_true", help="PostgreSQL with fsync off (default: on)")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (database, daemon log, outbox files)")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    o = p.parse_args(argv)
    o.job_cpu = o.job_cpu or None
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, kind.strip()) for kind in o.databases.split(",")]
    out = {"customers": o.customers, "due": o.due, "target_seconds": o.target_seconds,
           "per_channel": o.per_channel, "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
           "self_rusage_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "results": results}
    print()
    print(table(results, o))
    print()
    print(json.dumps(out, indent=1, default=str))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1, default=str))
    bad = any(v in ("FAILED", "MISSED") for r in results for v in verdicts(r, o).values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
