"""A billing run killed (SIGKILL of the ``aaad billing run`` process) at random points and
run again issues exactly the invoices of an uninterrupted run (numbers, lines, totals,
credit applied), on SQLite and PostgreSQL, and ``aaad billing check`` finds the books clean."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import migrate, orgs
from aaad.db import sync_engine
from aaad.schema import job_runs
from billing import ledger, run, settings
from billing.ledger import Posting
from billing.schema import customers, discounts, invoice_lines, invoices, products, services
from tests.conftest import ROOT

N = 2500                     # customers
CHUNK = 100
RUN = date(2026, 11, 1)      # a past date: the CLI refuses to bill ahead of today
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def build(url: str) -> None:
    """The same org, products, customers and services (every one due on RUN) in a fresh database."""
    e = sync_engine(url)
    migrate.upgrade(e)
    with e.begin() as c:
        org = orgs.add(c, "isp", "ISP", T0, "Africa/Accra", "GHS").id
        settings.update(c, org, T0, vat_bp=1500, billing_day=1)
        pids = []
        for name, price, period, days in (("Fibre", 25000, "monthly", None), ("Promo", 19999, "monthly", None),
                                          ("Week", 3500, "days", 7), ("Day", 700, "daily", None)):
            key = c.execute(products.insert().values(
                org_id=org, name=name, type="internet", price=price, period=period, period_days=days,
                created_at=T0, updated_at=T0)).inserted_primary_key
            assert key is not None
            pids.append(key[0])
        c.execute(discounts.insert().values(org_id=org, product_id=pids[1], kind="percent", value=1250, periods=3,
                                            created_at=T0))
        c.execute(customers.insert(), [{"org_id": org, "username": f"c{i}", "name": f"C {i}", "status": "active",
                                        "created_at": T0, "updated_at": T0} for i in range(N)])
        rows = []
        for i in range(N):
            p = i % 4
            bt = {0: RUN, 1: RUN, 2: date(2026, 10, 29), 3: date(2026, 10, 30)}[p]
            rows.append({"org_id": org, "customer_id": i + 1, "product_id": pids[p], "state": "active",
                         "start_date": date(2026, 10, 1), "billed_through": bt, "periods_billed": 1 + i % 3,
                         "cancel_at": date(2026, 11, 20) if i % 11 == 0 else None,
                         "created_at": T0, "updated_at": T0})
            if i % 5 == 0:
                rows.append(dict(rows[-1], product_id=pids[(p + 1) % 2]))
        c.execute(services.insert(), rows)
        for i in range(0, N, 7):     # some customers have credit, used on their new invoice
            ledger.post(c, org, "adjustment", [Posting(ledger.CREDIT, -(1000 + i), i + 1),
                                               Posting(ledger.ADJUSTMENTS, 1000 + i)], RUN, T0, customer_id=i + 1)
    e.dispose()


def snapshot(url: str) -> tuple[Any, ...]:
    e = sync_engine(url)
    with e.connect() as c:
        invs = c.execute(sa.select(invoices.c.seq, invoices.c.number, invoices.c.customer_id, invoices.c.state,
                                   invoices.c.issue_date, invoices.c.subtotal, invoices.c.discount, invoices.c.vat,
                                   invoices.c.total, invoices.c.paid, invoices.c.run).order_by(invoices.c.seq)).all()
        lines = c.execute(sa.select(invoices.c.number, invoice_lines.c.service_id, invoice_lines.c.kind,
                                    invoice_lines.c.period_start, invoice_lines.c.period_end,
                                    invoice_lines.c.unit_price, invoice_lines.c.discount, invoice_lines.c.net,
                                    invoice_lines.c.vat, invoice_lines.c.total)
                          .select_from(invoice_lines.join(invoices, invoices.c.id == invoice_lines.c.invoice_id))
                          .order_by(invoices.c.seq, invoice_lines.c.id)).all()
        svcs = c.execute(sa.select(services.c.id, services.c.billed_through, services.c.periods_billed,
                                   services.c.state).order_by(services.c.id)).all()
        balances = ledger.account_balances(c, 1)
        problems = ledger.check(c)
    e.dispose()
    return [tuple(r) for r in invs], [tuple(r) for r in lines], [tuple(r) for r in svcs], balances, problems


def config(tmp: Path, name: str, url: str) -> Path:
    d = tmp / name
    d.mkdir()
    p = d / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{d}"\n[database]\nurl = "{url}"\n[jobs]\nlease = 1.0\n'
                 f'[accounting]\nrrd_enabled = false\n[billing]\nchunk = {CHUNK}\n')
    return p


def aaad(conf: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aaad", "-c", str(conf), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT))


def progress(url: str) -> int:
    """The run's checkpoint (a plain reading connection: it never waits for the writer)."""
    e = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with e.connect() as c:
            p = c.execute(sa.select(job_runs.c.progress).where(job_runs.c.job == run.JOB)).scalar()
    finally:
        e.dispose()
    return int(p or 0)


def kill_midway(conf: Path, url: str, rng: random.Random) -> int:
    """Start a run and SIGKILL it once it has committed a random number of chunks, a
    random few milliseconds later (so mostly in the middle of the next chunk)."""
    target = rng.randrange(1, N // CHUNK - 2) * CHUNK
    proc = aaad(conf, "billing", "run", "--date", RUN.isoformat(), "--org", "isp")
    deadline = time.monotonic() + 120
    while progress(url) < target:
        if proc.poll() is not None:
            out, err = proc.communicate()
            # The runner killed before holds its lease (1 s) a little longer than a CLI takes to
            # start: this run saw it and stopped, as it must; start again once it has run out.
            assert proc.returncode == 1 and "running elsewhere" in out, out + err
            time.sleep(0.2)
            proc = aaad(conf, "billing", "run", "--date", RUN.isoformat(), "--org", "isp")
        assert time.monotonic() < deadline, "the run did not progress"
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.05))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return progress(url)


@pytest.fixture
def two_urls(db_url: str, request: Any, tmp_path: Path) -> tuple[str, str]:
    if db_url.startswith("sqlite"):
        return db_url, f"sqlite:///{tmp_path / 'killed.db'}"
    return db_url, request.getfixturevalue("pg_cluster").new_database()


def test_killed_runs_resume_to_the_uninterrupted_result(two_urls: tuple[str, str], tmp_path: Path) -> None:
    """Killed twice at random points and run again: the same invoices as one uninterrupted run."""
    whole, killed = two_urls
    build(whole)
    build(killed)
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    ca, cb = config(tmp_path, "a", whole), config(tmp_path, "b", killed)

    p = aaad(ca, "billing", "run", "--date", RUN.isoformat())
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, out + err
    assert "done" in out and f"{N}/{N} customers" in err
    expected = snapshot(whole)
    assert len(expected[0]) == N and expected[4] == []

    points = [kill_midway(cb, killed, rng) for _ in range(2)]
    deadline = time.monotonic() + 300
    while True:     # the killed runner's lease (1 s) must run out before another may take over
        p = aaad(cb, "billing", "run", "--date", RUN.isoformat(), "--json")
        out, err = p.communicate(timeout=300)
        if p.returncode == 0:
            break
        assert "running elsewhere" in out, out + err
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert snapshot(killed) == expected, f"seed {seed}, killed after customers {points}"
    p = aaad(cb, "billing", "run", "--date", RUN.isoformat())
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and "already done" in out, out + err
    p = aaad(cb, "billing", "check")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and "books clean" in out, out + err
