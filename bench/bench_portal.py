#!/usr/bin/env python3
"""Portal benchmark: the dashboard of a customer with a year of usage, at 50 requests/s, while RADIUS
auth runs at half its benchmark rate.

Issue 13's target: the dashboard's p99 under 100 ms at 50 requests/s while RADIUS auth is offered at
half its calibrated closed-loop rate.

Per database (``--databases sqlite,postgresql``; PostgreSQL is a private cluster from ``tests/pg.py``):

1. **load**: bench_billing's bulk load (org ``bench``, NAS, profile, N customers each with a service,
   a login ``user%06d``/``pass%06d`` and an open invoice); then the first customer gets an e-mail
   address and a portal password (``billing.customers.set_password``) and its login a year of usage
   (bulk Core ``executemany``): 5-minute buckets for ``--slot-days`` (default a whole year: 105,120
   rows, the worst case, more than the 7 days ``retention_5m`` keeps), hourly buckets for
   ``--hour-days`` (365), daily buckets for 365 days, a quota-cycle row per month and one closed
   session per day.
2. **daemon**: ``aaad serve`` (jobs off) pinned to ``--daemon-cpu``; ``bench/radload.py`` and
   ``bench/httpload.py`` pinned to ``--load-cpu``.
3. **sign in** as a browser would: GET the sign-in page (session cookie and the form's CSRF token),
   POST the form (identifier, password, the hidden fields), follow the redirect; the dashboard must
   then show the customer.  The session's ``Cookie`` header goes to httpload.
4. **calibrate**: PAP closed loop; half its ok/s is the offered auth rate.
5. **auth alone**, **dashboard alone** (httpload, open loop: latency from each request's scheduled
   time), **together**: dashboard p99 during, auth p99 alone and during.

``--no-login --path /bench/portal/`` runs the harness against a page that needs no session (to try it
before the portal's sign-in exists).  Prints a table and JSON (``--json-out FILE`` too).  Run:
``.venv/bin/python bench/bench_portal.py --customers 2000 --seconds 5 --databases sqlite``; the
issue's figures: ``--customers 100000`` on a quiet machine (see bench/README.md).
"""
from __future__ import annotations

import argparse
import html.parser
import http.cookiejar
import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_billing as bb  # noqa: E402  (bench/ is on the path: the shared load, daemon and radload helpers)

PY = sys.executable
EMAIL = "dashboard@bench.example"
PASSWORD = "bench-portal-pass"
SLOT = timedelta(minutes=5)


# -- data -------------------------------------------------------------------------------------------------------

def load_year(conf: Path, now: datetime, slot_days: int, hour_days: int, day_days: int, batch: int,
              seed: int = 1) -> dict[str, Any]:
    """The first bench customer: an e-mail and a portal password; its login a year of usage buckets
    (5-minute, hourly, daily; each level the sum of the one below), monthly cycle rows and a closed
    session per day.  Returns who it is and how many rows went in."""
    import sqlalchemy as sa

    from aaad import app
    from aaad.cycles import cycle_of
    from aaad.db import sync_engine
    from aaad.schema import logins, nas
    from accounting.schema import sessions, usage, usage_cycles
    from billing import customers
    from billing.schema import customers as customers_t

    t0 = time.perf_counter()
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.prepare_storage(cfg, upgrade=False), cfg.database.busy_timeout_ms)
    rng = random.Random(seed)
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    rows = {"slot": 0, "hour": 0, "day": 0, "cycle": 0, "session": 0}
    try:
        with engine.begin() as c:
            cust = c.execute(sa.select(customers_t.c.id, customers_t.c.org_id, customers_t.c.name)
                             .order_by(customers_t.c.id).limit(1)).one()
            customers.update(c, cust.org_id, cust.id, now, email=EMAIL)
            customers.set_password(c, cust.org_id, cust.id, PASSWORD, now)
            lg = c.execute(sa.select(logins.c.id, logins.c.username, logins.c.cycle_anchor)
                           .where(logins.c.org_id == cust.org_id, logins.c.owner_type == "service")
                           .order_by(logins.c.id).limit(1)).one()
            nas_id = c.execute(sa.select(nas.c.id).where(nas.c.org_id == cust.org_id).limit(1)).scalar_one()
            base = {"login_id": lg.id, "org_id": cust.org_id}

            # 5-minute buckets for the whole year (summed into hours and days), kept for slot_days.
            first = end - timedelta(days=max(slot_days, hour_days, day_days))
            slot_keep, hour_keep, day_keep = (end - timedelta(days=n) for n in (slot_days, hour_days, day_days))
            hours: dict[datetime, list[int]] = {}
            days: dict[datetime, list[int]] = {}
            chunk: list[dict[str, Any]] = []
            t = first
            while t < end:
                busy = 8 <= t.hour <= 23
                i, o = (rng.randint(0, 40_000_000 if busy else 2_000_000) for _ in range(2))
                o *= 4                                              # downloads outweigh uploads
                for k, acc in ((t.replace(minute=0), hours), (t.replace(hour=0, minute=0), days)):
                    s = acc.setdefault(k, [0, 0])
                    s[0] += i
                    s[1] += o
                if t >= slot_keep:
                    chunk.append({**base, "level": "slot", "start": t, "octets_in": i, "octets_out": o})
                    if len(chunk) >= batch:
                        c.execute(usage.insert(), chunk)
                        rows["slot"] += len(chunk)
                        chunk = []
                t += SLOT
            if chunk:
                c.execute(usage.insert(), chunk)
                rows["slot"] += len(chunk)
            for level, acc, keep in (("hour", hours, hour_keep), ("day", days, day_keep)):
                vals = [{**base, "level": level, "start": k, "octets_in": v[0], "octets_out": v[1]}
                        for k, v in acc.items() if k >= keep]
                for lo in range(0, len(vals), batch):
                    c.execute(usage.insert(), vals[lo:lo + batch])
                rows[level] = len(vals)

            # A quota-cycle row per cycle, and a closed, aggregated session per day.
            cycles: dict[datetime, int] = {}
            for k, v in days.items():
                start, _ = cycle_of(lg.cycle_anchor, UTC, k)
                cycles[start] = cycles.get(start, 0) + v[0] + v[1]
            if cycles:
                c.execute(usage_cycles.insert(), [{**base, "cycle_start": k, "octets": v} for k, v in cycles.items()])
            rows["cycle"] = len(cycles)
            sess = []
            for n, (k, v) in enumerate(sorted(days.items())):
                start, stop = k + timedelta(hours=6), k + timedelta(hours=23)
                sess.append({"session_key": uuid.UUID(int=rng.getrandbits(128)).hex, "org_id": cust.org_id,
                             "nas_id": nas_id, "session_id": f"bench-{n:06d}", "login_id": lg.id,
                             "username": lg.username, "start_time": start, "last_update": stop, "stop_time": stop,
                             "input_octets": v[0], "output_octets": v[1], "session_time": 17 * 3600,
                             "terminate_cause": 1, "agg_input_octets": v[0], "agg_output_octets": v[1],
                             "agg_at": stop, "framed_ip": "10.0.0.2", "calling_station": "02:00:00:00:00:01"})
            if sess:
                c.execute(sessions.insert(), sess)
            rows["session"] = len(sess)
        if engine.dialect.name == "postgresql":
            with engine.connect() as c:
                c.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return {"customer_id": cust.id, "name": cust.name, "login": lg.username, "rows": rows,
            "load_s": round(time.perf_counter() - t0, 2)}


# -- signing in as a browser does ---------------------------------------------------------------------------------

class FormFields(html.parser.HTMLParser):
    """The fields of the page's form that has a password input: hidden ones with their values,
    the text-like one (the e-mail or phone), the password."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "hidden": {}, "text": None, "password": None})
        elif tag == "input" and self.forms and a.get("name"):
            f, kind, name = self.forms[-1], a.get("type", "text").lower(), a["name"]
            if kind == "hidden":
                f["hidden"][name] = a.get("value", "")
            elif kind == "password":
                f["password"] = f["password"] or name
            elif kind in ("text", "email", "tel") and f["text"] is None:
                f["text"] = name

    def login_form(self) -> dict[str, Any]:
        for f in self.forms:
            if f["password"] and f["text"]:
                return f
        raise SystemExit("bench_portal: no sign-in form (a text and a password field) on the sign-in page")


def sign_in(base: str, org: str, ident: str, password: str, expect: str) -> tuple[str, str]:
    """Sign in to the org's portal (:func:`form_sign_in`)."""
    return form_sign_in(f"{base}/{org}/portal/login", ident, password, expect)


def form_sign_in(url: str, ident: str, password: str, expect: str) -> tuple[str, str]:
    """Sign in through the sign-in form at ``url`` (the portal's or the console's): GET the page (cookie,
    CSRF token), POST it, follow the redirect; the session's ``Cookie`` header and where the browser
    landed.  Fails unless the page landed on shows ``expect`` and no sign-in form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(url, timeout=30) as r:
            page = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"bench: GET {url} answered {e.code}: no sign-in page there") from e
    p = FormFields()
    p.feed(page)
    form = p.login_form()
    fields = {**form["hidden"], form["text"]: ident, form["password"]: password}
    action = urllib.parse.urljoin(url, form["action"] or url)
    with opener.open(action, urllib.parse.urlencode(fields).encode(), timeout=30) as r:
        landed, body = r.geturl(), r.read().decode("utf-8", "replace")
    if expect not in body or 'type="password"' in body:
        raise SystemExit(f"bench: signing in did not get past the sign-in (landed on {landed}):\n{body[:2000]}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    if not cookie:
        raise SystemExit("bench: signed in but no session cookie was set")
    return cookie, landed


# -- the loads ----------------------------------------------------------------------------------------------------

def dashboard(o: argparse.Namespace, port: int, path: str, cookie: str | None, seconds: float) -> dict[str, Any]:
    """The dashboard at ``o.rate`` for ``seconds``: httpload's figures."""
    return bb.http_figures(bb.HttpLoad(o, port, [f"dashboard={path}"], o.rate, seconds, workers=o.workers,
                                       headers=(f"Cookie: {cookie}",) if cookie else ()).result())


def bench_database(o: argparse.Namespace, kind: str) -> dict[str, Any]:
    d = Path(tempfile.mkdtemp(prefix=f"aaad-bench-portal-{kind}-"))
    pg = None
    res: dict[str, Any] = {"database": kind, "dir": str(d)}
    try:
        db_url = None
        if kind == "postgresql":
            pg, db_url = bb.start_postgres(o, res)
        conf = bb.write_config(d, db_url)
        print(f"[{kind}] loading {o.customers} customers into {d} ...", flush=True)
        res["load"] = bb.load(conf, o.customers, datetime.now(UTC).date(), o.batch, log=lambda *_: None)
        res["year"] = year = load_year(conf, datetime.now(UTC), o.slot_days, o.hour_days, o.day_days, o.batch)
        print(f"[{kind}] {year['name']} ({year['login']}): usage loaded, {year['rows']} rows in "
              f"{year['load_s']} s", flush=True)
        with bb.daemon(conf, d, o.daemon_cpu) as (proc, ports):
            base = f"http://127.0.0.1:{ports['web']}"
            cookie = None
            path = o.path or f"/{bb.ORG}/portal/"
            if not o.no_login:
                cookie, landed = sign_in(base, bb.ORG, EMAIL, PASSWORD, year["name"])
                path = o.path or urllib.parse.urlsplit(landed).path
                print(f"[{kind}] signed in as {EMAIL}: dashboard {path}", flush=True)
            res["path"] = path
            bench_rate = bb.calibrate(o, ports)
            rate = bench_rate / 2
            res["auth_benchmark_rate"], res["auth_offered_rate"] = round(bench_rate), round(rate)
            print(f"[{kind}] auth benchmark rate {bench_rate:,.0f}/s: offering {rate:,.0f}/s", flush=True)
            dashboard(o, ports["web"], path, cookie, 2.0)                   # warm the caches
            res["auth_alone"] = bb.auth_alone(o, ports, rate, proc.pid, kind)
            cpu = bb.CpuMeter(proc.pid)
            res["dashboard_alone"] = a = dashboard(o, ports["web"], path, cookie, o.seconds)
            cpu.stop()
            a["daemon_busy"], a["daemon_cpu_ms_per_request"] = cpu.busy, cpu.per(a["requests"])
            print(f"[{kind}] dashboard alone at {o.rate:g}/s: p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
                  f"errors {a['errors']}, daemon CPU {a['daemon_cpu_ms_per_request']} ms a page", flush=True)
            cpu = bb.CpuMeter(proc.pid)
            ld = bb.auth_load(o, ports, rate)
            dash = dashboard(o, ports["web"], path, cookie, o.seconds)
            t: dict[str, Any] = {"auth": bb.summary(ld.stop()), "dashboard": dash}
            res["together"] = t
            t["daemon_busy"] = cpu.stop().busy
            print(f"[{kind}] together: dashboard p99 {dash['p99_ms']} ms (errors {dash['errors']}), auth p99 "
                  f"{t['auth']['p99_ms']} ms (alone {res['auth_alone']['p99_ms']} ms), daemon CPU "
                  f"{t['daemon_busy']:.0%}", flush=True)
            res["daemon_rss_mib"] = round(bb.proc_kib(proc.pid, "VmRSS") / 1024, 1)
    finally:
        if pg is not None:
            pg.stop()
        if not o.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def verdict(res: dict[str, Any], o: argparse.Namespace) -> str:
    dash = res["together"]["dashboard"]
    return "ok" if dash["p99_ms"] < o.target_p99_ms and dash["errors"] == 0 else "MISSED"


def table(results: list[dict[str, Any]], o: argparse.Namespace) -> str:
    head = ["db", "customers", "usage rows (slot/hour/day)", "rate/s", "dashboard p50 / p99 ms alone",
            "dashboard p99 ms together", "errors", "auth rate/s", "auth p99 ms alone -> together", "verdict"]
    rows = []
    for r in results:
        t, a, y = r["together"], r["dashboard_alone"], r["year"]["rows"]
        db = bb.db_label(r)
        rows.append([db, o.customers, f"{y['slot']}/{y['hour']}/{y['day']}",
                     f"{t['dashboard']['offered_per_s']:.0f}", f"{a['p50_ms']} / {a['p99_ms']}",
                     t["dashboard"]["p99_ms"], t["dashboard"]["errors"], r["auth_offered_rate"],
                     f"{r['auth_alone']['p99_ms']} -> {t['auth']['p99_ms']}", verdict(r, o)])
    return bb.format_table(head, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql")
    p.add_argument("--rate", type=float, default=50.0, help="dashboard requests per second (open loop)")
    p.add_argument("--auth-rate", type=float, default=0.0,
                   help="offered auth rate per second (default: half the measured closed-loop PAP rate)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    p.add_argument("--calibrate-seconds", type=float, default=5.0)
    p.add_argument("--target-p99-ms", type=float, default=100.0)
    p.add_argument("--slot-days", type=int, default=365, help="days of 5-minute buckets (retention_5m keeps 7)")
    p.add_argument("--hour-days", type=int, default=365, help="days of hourly buckets (retention_hourly keeps 90)")
    p.add_argument("--day-days", type=int, default=365, help="days of daily buckets")
    p.add_argument("--workers", type=int, default=8, help="httpload's connections")
    p.add_argument("--path", default="", help="the page to load (default: where signing in lands)")
    p.add_argument("--no-login", action="store_true", help="load --path without a session (harness check)")
    p.add_argument("--batch", type=int, default=5000, help="rows per executemany while loading")
    p.add_argument("--daemon-cpu", default="0")
    p.add_argument("--load-cpu", default="1")
    bb.add_pg_cpu_arg(p)
    bb.add_generator_arg(p)
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (database, logs)")
    p.add_argument("--json-out", metavar="FILE", help="also write the results as JSON here")
    o = p.parse_args(argv)
    o.acct_rate = 0.0            # bench_billing's Load reads these
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    results = [bench_database(o, kind.strip()) for kind in o.databases.split(",")]
    out = {"customers": o.customers, "rate": o.rate, "target_p99_ms": o.target_p99_ms,
           "date": date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
           "results": results}
    print(table(results, o))
    print(json.dumps(out, indent=1))
    if o.json_out:
        Path(o.json_out).write_text(json.dumps(out, indent=1))
    return 0 if all(verdict(r, o) == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
