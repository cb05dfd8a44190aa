"""Payments and refunds on SQLite and PostgreSQL: allocation oldest first, partial
payments, overpayment to credit (used by the next invoice), duplicate references,
refund limits, receipts, and a property test over random sequences."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaad.errors import NotFound, ValidationError
from billing import ledger, payments
from billing.schema import allocations, invoices, journal_entries, postings
from tests.billing.fixtures_c import D0, T0, World, at, days, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def entry_postings(w: World, kind: str) -> list[dict[str, int]]:
    """Each journal entry of ``kind``: {account: amount}."""
    with w.engine.connect() as c:
        rows = c.execute(sa.select(postings.c.entry_id, postings.c.account, postings.c.amount)
                         .select_from(postings.join(journal_entries, journal_entries.c.id == postings.c.entry_id))
                         .where(journal_entries.c.org_id == w.org_id, journal_entries.c.kind == kind)
                         .order_by(postings.c.entry_id, postings.c.id)).all()
    out: dict[int, dict[str, int]] = {}
    for eid, account, amount in rows:
        out.setdefault(eid, {})[account] = out.get(eid, {}).get(account, 0) + amount
    return list(out.values())


def test_payment_settles_oldest_invoices_first(world: World) -> None:
    """A payment settles the oldest open invoices first and leaves the rest open."""
    c = world.customer()
    i1 = world.invoice(c, 100_00, D0)
    i2 = world.invoice(c, 200_00, D0 + days(4))
    i3 = world.invoice(c, 300_00, D0 + days(30))
    r = world.pay(c, 250_00, "TX-1", now=at(D0 + days(31)))
    assert [(a.invoice_id, a.invoice_number, a.amount) for a in r.allocations] == [
        (i1.id, i1.number, 100_00), (i2.id, i2.number, 150_00)]
    assert r.credit == 0 and r.credit_available == 0 and r.balance == 350_00
    assert r.payment.receipt_number == "RC-000001" and r.payment.method == "bank"
    assert [(world.get_invoice(i).state, world.get_invoice(i).paid) for i in (i1.id, i2.id, i3.id)] == [
        ("paid", 100_00), ("open", 50_00 + 100_00), ("open", 0)]
    assert entry_postings(world, "payment") == [{"cash:bank": 250_00, "receivable": -250_00}]
    assert world.balance(c) == 350_00 and world.check() == []


def test_oldest_means_earliest_due_date(world: World) -> None:
    """An invoice due earlier is settled first even if it was issued later."""
    c = world.customer()
    late = world.invoice(c, 100_00, D0, due=D0 + days(30))
    early = world.invoice(c, 100_00, D0 + days(1), due=D0 + days(5))
    r = world.pay(c, 100_00, "TX-1")
    assert [a.invoice_id for a in r.allocations] == [early.id]
    assert world.get_invoice(late.id).paid == 0


def test_partial_payments_add_up(world: World) -> None:
    """Partial payments leave the invoice open until they reach its total."""
    c = world.customer()
    inv = world.invoice(c, 100_00, taxable=True)          # 115.00 with VAT
    assert inv.total == 115_00
    world.pay(c, 40_00, "A")
    assert (world.get_invoice(inv.id).state, world.get_invoice(inv.id).paid) == ("open", 40_00)
    r = world.pay(c, 75_00, "B")
    got = world.get_invoice(inv.id)
    assert (got.state, got.paid, got.paid_at) == ("paid", 115_00, T0)
    assert r.balance == 0 and r.credit == 0 and world.check() == []


def test_overpayment_becomes_credit_used_by_next_invoice(world: World) -> None:
    """An overpayment is customer credit, applied automatically to the next invoice."""
    c = world.customer()
    world.invoice(c, 100_00)
    r = world.pay(c, 150_00, "X")
    assert r.credit == 50_00 and r.credit_available == 50_00 and r.balance == -50_00
    assert entry_postings(world, "payment") == [{"cash:bank": 150_00, "receivable": -100_00,
                                                 "customer_credit": -50_00}]
    nxt = world.invoice(c, 80_00, D0 + days(30))
    assert (nxt.paid, nxt.state) == (50_00, "open")
    assert world.credit(c) == 0 and world.balance(c) == 30_00 and world.check() == []
    with world.engine.connect() as conn:
        src = conn.execute(sa.select(allocations.c.source, allocations.c.amount)
                           .where(allocations.c.invoice_id == nxt.id)).all()
    assert [tuple(s) for s in src] == [("credit", 50_00)]


def test_payment_without_invoices_is_all_credit(world: World) -> None:
    """A payment in advance becomes credit; the ledger says the org owes the customer."""
    c = world.customer()
    r = world.pay(c, 20_00, "ADV", method="mobile_money")
    assert r.allocations == () and r.credit == 20_00 and world.balance(c) == -20_00
    assert world.read(ledger.account_balances, world.org_id)["cash:mobile_money"] == 20_00


def test_duplicate_reference_is_rejected(world: World) -> None:
    """The same method and reference is recorded once; the error names the receipt."""
    c = world.customer()
    world.pay(c, 10_00, "BANK-77")
    with pytest.raises(ValidationError) as e:
        world.pay(c, 10_00, " BANK-77 ")
    assert e.value.field == "reference" and "RC-000001" in e.value.message
    world.pay(c, 10_00, "BANK-77", method="cash")        # another method: another reference space
    assert world.balance(c) == -20_00
    other = make_world(world.engine, "other")            # another org: its own references
    other.pay(other.customer("x-1", "X"), 5_00, "BANK-77")


def test_duplicate_caught_by_the_constraint_maps_to_the_same_error(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A duplicate the first check misses (a concurrent insert) fails on the unique
    constraint with the same field error; the receipt counter stays gap-free."""
    c = world.customer()
    world.pay(c, 10_00, "R1")
    real = payments._duplicate
    calls = itertools.count()
    monkeypatch.setattr(payments, "_duplicate", lambda *a: None if next(calls) == 0 else real(*a))
    with pytest.raises(ValidationError) as e:
        world.pay(c, 10_00, "R1")
    assert e.value.field == "reference" and "RC-000001" in e.value.message
    monkeypatch.setattr(payments, "_duplicate", real)
    assert world.pay(c, 10_00, "R2").payment.receipt_number == "RC-000002"
    assert world.check() == []


def test_lost_allocation_race_rereads(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """When an invoice was settled by someone else after it was read, the payment
    re-reads and allocates only what is really open; its journal entry matches."""
    c = world.customer()
    i1 = world.invoice(c, 100_00)
    i2 = world.invoice(c, 100_00, D0 + days(1))
    real = ledger.open_invoices
    stale = world.read(real, world.org_id, c)
    world.pay(c, 60_00, "FIRST")                            # i1: 60 of 100 paid meanwhile
    calls = itertools.count()
    monkeypatch.setattr(ledger, "open_invoices", lambda *a: stale if next(calls) == 0 else real(*a))
    r = world.pay(c, 150_00, "SECOND")
    assert sorted((a.invoice_id, a.amount) for a in r.allocations) == [(i1.id, 40_00), (i2.id, 100_00)]
    assert r.credit == 10_00
    assert entry_postings(world, "payment")[-1] == {"cash:bank": 150_00, "receivable": -140_00,
                                                    "customer_credit": -10_00}
    assert world.check() == []


def test_bad_payments_are_field_errors(world: World) -> None:
    """Amount, method and reference are checked; customers of another org are not found."""
    c = world.customer()
    for kw, field in (({"amount": 0}, "amount"), ({"amount": -5}, "amount"), ({"method": "Bank Transfer!"}, "method"),
                      ({"reference": "  "}, "reference"), ({"reference": "x" * 129}, "reference")):
        args: dict[str, Any] = {"amount": 10_00, "method": "bank", "reference": "R"} | kw
        with pytest.raises(ValidationError) as e:
            world.tx(payments.record, world.writer, world.org_id, c, args.pop("amount"), T0, **args)
        assert e.value.field == field
    other = make_world(world.engine, "other")
    with pytest.raises(NotFound):
        other.pay(c, 10_00, "R")
    assert world.read(payments.list_payments, world.org_id) == []


def test_method_is_normalised(world: World) -> None:
    """Methods are lower-cased, so CASH and cash are the same account."""
    c = world.customer()
    assert world.pay(c, 1_00, "R", method="CASH").payment.method == "cash"
    with pytest.raises(ValidationError):
        world.pay(c, 1_00, "R", method="cash")


def test_payment_event_and_backdated_receipt(world: World) -> None:
    """payment.received is published; a backdated payment posts on its local receipt date."""
    c = world.customer()
    r = world.pay(c, 12_34, "EV", now=at(D0 + days(10)), received_at=at(D0 + days(2), 23))
    assert world.event_payloads("payment.received") == [{
        "payment_id": r.payment.id, "customer_id": c, "amount": 12_34, "currency": "GHS", "method": "bank",
        "receipt_number": "RC-000001"}]
    with world.engine.connect() as conn:
        posted = conn.execute(sa.select(journal_entries.c.posted_on).where(
            journal_entries.c.kind == "payment")).scalar_one()
    assert posted == D0 + days(2) and r.payment.received_at == at(D0 + days(2), 23)


def test_refund_only_up_to_credit(world: World) -> None:
    """A refund pays back at most the customer's credit, as cash out of the method."""
    c = world.customer()
    with pytest.raises(ValidationError) as e:
        world.refund(c, 1)
    assert e.value.field == "amount"
    world.invoice(c, 100_00)
    world.pay(c, 130_00, "OVER", method="bank")
    with pytest.raises(ValidationError) as e:
        world.refund(c, 30_01)
    assert e.value.field == "amount" and "30" in e.value.message
    rf = world.refund(c, 20_00, method="mobile_money")
    assert rf.credit_available == 10_00 and world.credit(c) == 10_00 and world.balance(c) == -10_00
    assert entry_postings(world, "refund") == [{"customer_credit": 20_00, "cash:mobile_money": -20_00}]
    world.refund(c, 10_00)
    assert world.credit(c) == 0 and world.balance(c) == 0
    with pytest.raises(ValidationError):
        world.refund(c, 1)
    with pytest.raises(ValidationError) as e:
        world.tx(payments.refund, world.org_id, c, 1, T0, method="cash", reason=" ")
    assert e.value.field == "reason"
    assert [r.amount for r in world.read(payments.list_refunds, world.org_id)] == [10_00, 20_00]
    assert world.check() == []


def test_open_invoice_is_not_refundable_credit(world: World) -> None:
    """Money that settled invoices is not credit: only the overpayment is refundable."""
    c = world.customer()
    world.invoice(c, 50_00)
    world.pay(c, 50_00, "P")
    with pytest.raises(ValidationError):
        world.refund(c, 1)


def test_receipt_data_and_listing(world: World) -> None:
    """The receipt shows the customer, the invoices settled and the credit; listings filter."""
    c = world.customer("ama-mensah-1", "Ama Mensah")
    c2 = world.customer("kofi-2", "Kofi")
    i1 = world.invoice(c, 100_00)
    r = world.pay(c, 120_00, "REC", note="at the counter")
    world.pay(c2, 5_00, "OTHER", method="cash", now=T0 + days(1))
    rc = world.read(payments.receipt_data, world.org_id, r.payment.id)
    assert (rc.customer_username, rc.customer_name, rc.received_on, rc.allocated, rc.credit) == (
        "ama-mensah-1", "Ama Mensah", D0, 100_00, 20_00)
    assert [(ln.invoice_number, ln.amount, ln.open_after) for ln in rc.lines] == [(i1.number, 100_00, 0)]
    assert rc.settings.currency == "GHS" and rc.payment.note == "at the counter"
    assert [p.reference for p in world.read(payments.list_payments, world.org_id)] == ["OTHER", "REC"]
    assert [p.reference for p in world.read(payments.list_payments, world.org_id, customer_id=c)] == ["REC"]
    assert [p.reference for p in world.read(payments.list_payments, world.org_id, method="cash")] == ["OTHER"]
    assert world.read(payments.by_receipt, world.org_id, "RC-000002").reference == "OTHER"
    assert [a.amount for a in world.read(payments.allocations_of, world.org_id, r.payment.id)] == [100_00]
    assert world.read(payments.customer_ref, world.org_id, "kofi-2") == c2
    assert world.read(payments.customer_ref, world.org_id, str(c2)) == c2
    with pytest.raises(NotFound):
        world.read(payments.receipt_data, world.org_id, 999)
    with pytest.raises(NotFound):
        world.read(payments.customer_ref, world.org_id, "nobody")


# -- the property ------------------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("invoice"), st.integers(1, 50_000), st.booleans()),
    st.tuples(st.just("pay"), st.integers(1, 50_000), st.sampled_from(["cash", "bank"])),
    st.tuples(st.just("refund"), st.integers(1, 20_000), st.sampled_from(["cash", "bank"])),
)
_orgs = itertools.count(1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=12))
def test_random_sequences_keep_the_books(engine: Any, ops: list[tuple[str, int, Any]]) -> None:
    """Any sequence of invoices, payments and refunds keeps every entry balanced, the
    balance = invoices - payments + refunds, no invoice over-paid, no credit left
    unused while an invoice is open, and the books check clean."""
    w = make_world(engine, f"p{next(_orgs)}")
    c = w.customer()
    owed = 0
    for n, (kind, amount, extra) in enumerate(ops):
        day = D0 + days(n)
        if kind == "invoice":
            owed += w.invoice(c, amount, day, taxable=extra).total
        elif kind == "pay":
            w.pay(c, amount, f"R{n}", method=extra, now=at(day))
            owed -= amount
        else:
            credit = w.credit(c)
            if amount > credit:
                with pytest.raises(ValidationError):
                    w.refund(c, amount, method=extra, now=at(day))
            else:
                w.refund(c, amount, method=extra, now=at(day))
                owed += amount
        assert w.balance(c) == owed
        credit = w.credit(c)
        with engine.connect() as conn:
            open_rows = conn.execute(sa.select(invoices.c.total, invoices.c.paid).where(
                invoices.c.org_id == w.org_id, invoices.c.state == "open")).all()
        assert credit >= 0 and not (credit > 0 and open_rows)
        assert all(0 <= p <= t for t, p in open_rows)
        assert owed == sum(t - p for t, p in open_rows) - credit
    assert w.check() == []

