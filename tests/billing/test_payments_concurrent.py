"""Concurrent payments for one customer, on SQLite and PostgreSQL: two threads with
their own connections, and two processes.  The balance is right, every invoice's
paid amount equals its allocations and never exceeds its total, and receipt
numbers stay gap-free."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from billing import invoices, payments
from billing.invoices import LineIn
from billing.schema import allocations
from billing.schema import invoices as invoices_t
from billing.schema import payments as payments_t
from tests.billing.fixtures_c import D0, T0, World, at, days, make_world

ROOT = Path(__file__).resolve().parents[2]
N_INVOICES, INVOICE = 10, 100_00
N_PAYMENTS, PAYMENT = 6, 90_00          # per payer: 2 x 6 x 90 = 1080 against 1000 invoiced


def setup(w: World) -> int:
    c = w.customer()
    for i in range(N_INVOICES):
        w.invoice(c, INVOICE, D0 + days(i))
    return c


def assert_books(w: World, c: int, invoiced: int, paid: int, n_payments: int) -> None:
    """Balance, allocations, per-invoice limits, gap-free receipts, the books check."""
    assert w.balance(c) == invoiced - paid
    with w.engine.connect() as conn:
        rows = conn.execute(sa.select(invoices_t.c.id, invoices_t.c.total, invoices_t.c.paid,
                                      invoices_t.c.state).where(invoices_t.c.org_id == w.org_id)).all()
        alloc = dict(conn.execute(sa.select(allocations.c.invoice_id, sa.func.sum(allocations.c.amount))
                                  .where(allocations.c.org_id == w.org_id)
                                  .group_by(allocations.c.invoice_id)).all())
        seqs = sorted(conn.execute(sa.select(payments_t.c.receipt_seq).where(
            payments_t.c.org_id == w.org_id)).scalars())
    for iid, total, paid_, _state in rows:
        assert 0 <= paid_ <= total and int(alloc.get(iid, 0)) == paid_
    if paid >= invoiced:
        assert all(s == "paid" for *_, s in rows)
    assert w.credit(c) == max(0, paid - invoiced)      # credit is never left beside an open invoice
    assert seqs == list(range(1, n_payments + 1))
    assert w.check() == []


def test_two_threads_pay_at_once(engine: Any, db_url: str) -> None:
    """Two threads, each with its own connection, pay the same customer at once while a
    third issues invoices: nothing is over-allocated and the balance is exact."""
    w = make_world(engine)
    c = setup(w)
    start = threading.Barrier(3)
    errors: list[BaseException] = []
    issued: list[int] = []

    def payer(tag: str) -> None:
        e = sync_engine(db_url)
        try:
            start.wait()
            for i in range(N_PAYMENTS):
                with e.begin() as conn:
                    payments.record(conn, w.writer, w.org_id, c, PAYMENT, at(D0 + days(20)), method="bank",
                                    reference=f"{tag}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            e.dispose()

    def invoicer() -> None:
        e = sync_engine(db_url)
        try:
            start.wait()
            for i in range(3):
                with e.begin() as conn:
                    issued.append(invoices.issue(conn, w.org_id, c, [LineIn("extra", 7_00, taxable=False)],
                                                 D0 + days(20), at(D0 + days(20), 10 + i)).total)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            e.dispose()

    threads = [threading.Thread(target=payer, args=(t,)) for t in ("A", "B")] + [threading.Thread(target=invoicer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    invoiced = N_INVOICES * INVOICE + sum(issued)
    assert_books(w, c, invoiced, 2 * N_PAYMENTS * PAYMENT, 2 * N_PAYMENTS)
    assert w.credit(c) == 2 * N_PAYMENTS * PAYMENT - invoiced == 59_00


PAYER = """
import sys
from datetime import UTC, datetime
from aaad.crypto import SecretBox
from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from billing import payments
url, tag = sys.argv[1], sys.argv[4]
org, cust, n, amount = (int(sys.argv[i]) for i in (2, 3, 5, 6))
e = sync_engine(url)
w = LoginWriter(SecretBox(b"k" * 32))
sys.stdin.readline()
for i in range(n):
    with e.begin() as conn:
        payments.record(conn, w, org, cust, amount, datetime(2026, 11, 21, 9, tzinfo=UTC), method="bank",
                        reference=f"{tag}-{i}")
print("done", flush=True)
"""


def test_two_processes_pay_at_once(engine: Any, db_url: str) -> None:
    """Two processes pay the same customer at once (released together): the books hold."""
    w = make_world(engine)
    c = setup(w)
    procs = [subprocess.Popen([sys.executable, "-c", PAYER, db_url, str(w.org_id), str(c), tag, str(N_PAYMENTS),
                               str(PAYMENT)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("P", "Q")]
    for p in procs:                     # both have started Python; release them together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(o[0].strip() == "done" for o in outs)
    assert_books(w, c, N_INVOICES * INVOICE, 2 * N_PAYMENTS * PAYMENT, 2 * N_PAYMENTS)
    assert w.credit(c) == 80_00 and w.balance(c) == -80_00


def test_same_reference_from_two_threads_is_recorded_once(engine: Any, db_url: str) -> None:
    """Two threads recording the same bank reference at once: one receipt, one field error."""
    w = make_world(engine)
    c = setup(w)
    start = threading.Barrier(2)
    results: list[Any] = []

    def payer() -> None:
        e = sync_engine(db_url)
        try:
            start.wait()
            with e.begin() as conn:
                results.append(payments.record(conn, LoginWriter(w.box), w.org_id, c, 50_00, T0, method="bank",
                                               reference="SAME").payment.receipt_number)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
        finally:
            e.dispose()

    threads = [threading.Thread(target=payer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    numbers = [r for r in results if isinstance(r, str)]
    errs = [r for r in results if not isinstance(r, str)]
    assert numbers == ["RC-000001"] and len(errs) == 1
    assert getattr(errs[0], "field", None) == "reference", errs
    assert w.balance(c) == N_INVOICES * INVOICE - 50_00 and w.check() == []


def test_two_payments_clearing_arrears_resume_once(engine: Any, db_url: str) -> None:
    """Two payments at once that together clear a dunning suspension: the service is
    resumed exactly once (one service.resumed), by whichever payment cleared it."""
    from billing import dunning
    w = make_world(engine)
    cid, sid = w.subscriber("ama", w.internet_product())
    w.invoice(cid, 100_00, D0)
    w.tx(dunning.dunning_chunk, w.writer, w.org_id, D0 + days(18), 0, 100, at(D0 + days(18)))
    assert w.service(sid).state == "suspended"
    start = threading.Barrier(2)
    results: list[Any] = []

    def payer(ref: str) -> None:
        e = sync_engine(db_url)
        try:
            start.wait()
            with e.begin() as conn:
                results.append(payments.record(conn, w.writer, w.org_id, cid, 60_00, at(D0 + days(19)),
                                               method="bank", reference=ref).resumed_service_ids)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
        finally:
            e.dispose()

    threads = [threading.Thread(target=payer, args=(r,)) for r in ("X", "Y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results, key=len) == [(), (sid,)]
    assert w.service(sid).state == "active" and w.login_of(sid).state == "active"
    assert len(w.event_payloads("service.resumed")) == 1
    assert w.balance(cid) == -20_00 and w.check() == []
