"""The keyset page() functions of invoices, credit notes, payments and refunds (what the API lists
with), on SQLite and PostgreSQL: filters, sorts, cursors, one org only; and the operator's one-off
invoice and multi-line credit note."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from aaad.errors import ValidationError
from billing import credit_notes, invoices, payments
from billing.invoices import LineIn
from tests.billing.fixtures_c import T0, World, at, make_world


def _walk(w: World, fn: Any, limit: int, **kw: Any) -> list[Any]:
    """Every item, page by page."""
    out: list[Any] = []
    cursor = None
    while True:
        p = w.read(fn, w.org_id, cursor=cursor, limit=limit, **kw)
        out += p.items
        if p.next_cursor is None:
            return out
        cursor = p.next_cursor


@pytest.fixture
def two(engine: Any) -> tuple[World, World, list[int]]:
    """Org isp: two customers, five invoices on different dates, payments, a refund, credit notes;
    org other: one of each."""
    w = make_world(engine)
    other = make_world(engine, slug="other")
    a, b = w.customer("a-1", "A"), w.customer("b-1", "B")
    for i, (cid, net) in enumerate([(a, 100), (b, 300), (a, 200), (b, 50), (a, 400)]):
        w.invoice(cid, net, date(2026, 11, 1 + i * 3))
    w.pay(a, 150, "A-1", method="cash", now=at(date(2026, 11, 3)))
    w.pay(b, 1_000, "B-1", now=at(date(2026, 11, 12)))
    w.pay(a, 80, "A-2", now=at(date(2026, 11, 20)))
    w.refund(b, 100, method="bank", now=at(date(2026, 11, 21)))
    w.refund(b, 50, method="cash", now=at(date(2026, 11, 22)))
    w.tx(credit_notes.add_manual, w.org_id, a, 10, "sorry", at(date(2026, 11, 5)))
    w.tx(credit_notes.add_manual, w.org_id, b, 20, "sorry too", at(date(2026, 11, 6)))
    oc = other.customer("o-1", "O")
    other.invoice(oc, 100)
    other.pay(oc, 500, "O-1")
    other.refund(oc, 10)
    other.tx(credit_notes.add_manual, other.org_id, oc, 10, "theirs", T0)
    return w, other, [a, b]


def test_invoice_pages_filter_sort_and_stay_in_the_org(two: tuple[World, World, list[int]]) -> None:
    """Pages of 2 cover the org's five invoices once, in each sort; customer, state and issue-date filters."""
    w, _, (a, b) = two
    by_id = _walk(w, invoices.page, 2)
    assert [i.id for i in by_id] == sorted((i.id for i in by_id), reverse=True) and len(by_id) == 5
    assert all(i.org_id == w.org_id and i.lines == () for i in by_id)
    totals = [i.total for i in _walk(w, invoices.page, 2, sort="total")]
    assert totals == sorted(totals) and len(totals) == 5
    due = [i.due_date for i in _walk(w, invoices.page, 2, sort="-due_date")]
    assert due == sorted(due, reverse=True)
    assert {i.customer_id for i in _walk(w, invoices.page, 2, customer_id=a)} == {a}
    assert len(_walk(w, invoices.page, 10, issued_since=date(2026, 11, 4), issued_until=date(2026, 11, 10))) == 3
    assert len(_walk(w, invoices.page, 10, due_before=date(2026, 11, 16))) == 1
    assert {i.state for i in _walk(w, invoices.page, 10, state="paid")} == {"paid"}
    assert [i.id for i in _walk(w, invoices.page, 10, number=by_id[2].number)] == [by_id[2].id]


def test_payment_and_refund_pages(two: tuple[World, World, list[int]]) -> None:
    """Payments by received time, method and customer; refunds likewise; only the org's."""
    w, _, (a, b) = two
    got = _walk(w, payments.page, 1, sort="received_at")
    assert [p.reference for p in got] == ["A-1", "B-1", "A-2"]
    assert [p.reference for p in _walk(w, payments.page, 5, method="bank", customer_id=a)] == ["A-2"]
    since = datetime(2026, 11, 12, tzinfo=UTC)
    assert [p.reference for p in _walk(w, payments.page, 5, since=since, sort="amount")] == ["A-2", "B-1"]
    assert [p.reference for p in _walk(w, payments.page, 5, until=since)] == ["A-1"]
    assert [p.reference for p in _walk(w, payments.page, 5, receipt_number=got[1].receipt_number)] == ["B-1"]
    refunds = _walk(w, payments.refunds_page, 1, sort="-amount")
    assert [r.amount for r in refunds] == [100, 50] and {r.org_id for r in refunds} == {w.org_id}
    assert [r.method for r in _walk(w, payments.refunds_page, 5, method="cash")] == ["cash"]
    assert w.read(payments.get_refund, w.org_id, refunds[0].id).reason == "moving away"


def test_credit_note_pages(two: tuple[World, World, list[int]]) -> None:
    """Credit notes by customer, kind and issue date; the other org's are never on a page."""
    w, other, (a, b) = two
    mine = _walk(w, credit_notes.page, 1)
    assert len(mine) == 2 and {c.org_id for c in mine} == {w.org_id}
    assert [c.reason for c in _walk(w, credit_notes.page, 5, customer_id=b)] == ["sorry too"]
    assert _walk(w, credit_notes.page, 5, kind="void") == []
    assert len(_walk(w, credit_notes.page, 5, issued_since=date(2026, 11, 6))) == 1
    assert len(_walk(other, credit_notes.page, 5)) == 1
    assert _walk(w, credit_notes.page, 5, number=mine[0].number) == [mine[0]]


def test_other_orgs_objects_are_not_found(two: tuple[World, World, list[int]]) -> None:
    """get_refund of another org's refund is None."""
    w, other, _ = two
    theirs = _walk(other, payments.refunds_page, 5)[0]
    assert w.read(payments.get_refund, w.org_id, theirs.id) is None


def test_a_cursor_of_another_sort_is_refused(two: tuple[World, World, list[int]]) -> None:
    """A cursor made for sort=id is refused for sort=total (ValidationError cursor)."""
    w, _, _ = two
    p = w.read(invoices.page, w.org_id, limit=1)
    with pytest.raises(ValidationError) as e:
        w.read(invoices.page, w.org_id, sort="total", cursor=p.next_cursor)
    assert e.value.field == "cursor"


def test_one_off_invoice_and_multi_line_credit_note(engine: Any) -> None:
    """issue_one_off issues today (the org's date) with the payment terms; a due date before today is
    refused; add_manual_lines credits each line with its VAT."""
    w = make_world(engine)
    cid = w.customer()
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)        # Accra: still the 30th
    inv = w.tx(invoices.issue_one_off, w.org_id, cid, [LineIn("Router", 1_000, kind="one_time")], now)
    assert (inv.issue_date, inv.due_date, inv.total) == (date(2026, 11, 30), date(2026, 12, 14), 1_150)
    with pytest.raises(ValidationError) as e:
        w.tx(invoices.issue_one_off, w.org_id, cid, [LineIn("x", 1)], now, due_date=date(2026, 11, 29))
    assert e.value.field == "due_date"
    cn = w.tx(credit_notes.add_manual_lines, w.org_id, cid, [LineIn("a", 100), LineIn("b", 200, taxable=False)],
              "goodwill", now, inv.id)
    assert (cn.kind, cn.vat, cn.total, cn.invoice_id) == ("manual", 15, 315, inv.id)
    assert [ln.kind for ln in cn.lines] == ["manual", "manual"]
    with pytest.raises(ValidationError):
        w.tx(credit_notes.add_manual_lines, w.org_id, cid, [LineIn("a", 100)], " ", now)
