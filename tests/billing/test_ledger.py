"""The billing foundation on SQLite and PostgreSQL: settings, gap-free numbers, invoice
issuance with its journal entry, allocation that never over-pays, credit applied, the books check."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import orgs
from aaad.errors import ValidationError
from billing import invoices, ledger, settings
from billing.invoices import LineIn
from billing.ledger import Posting
from billing.schema import customers, postings
from billing.schema import invoices as invoices_t

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
D0 = date(2026, 1, 1)


def setup_org(engine: Any, slug: str = "isp", **values: Any) -> tuple[int, int]:
    """An org (GHS, Accra) with the given settings and one customer."""
    with engine.begin() as c:
        o = orgs.add(c, slug, slug.upper(), T0, "Africa/Accra", "GHS")
        settings.update(c, o.id, T0, **values)
        cid = c.execute(customers.insert().values(org_id=o.id, username=f"{slug}-c", name="C", created_at=T0,
                                                  updated_at=T0)).inserted_primary_key[0]
    return o.id, cid


def line(price: int, **kw: Any) -> LineIn:
    return LineIn("Home 10M", price, **kw)


def test_settings_defaults_validation_and_local_date(engine: Any) -> None:
    """An org without settings gets the defaults; bad values name their key; dates are the org's."""
    org, _ = setup_org(engine)
    with engine.begin() as c:
        s = settings.get(c, org)
        assert (s.currency, s.billing_day, s.auto_resume, s.suspend_mode) == ("GHS", 1, True, "reject")
        for key, bad in (("vat_bp", 10_001), ("billing_day", 29), ("suspend_mode", "drop"), ("country", "XX"),
                         ("brand_colour", "red"), ("locale", "xx_YY_ZZ"), ("nope", 1)):
            with pytest.raises(ValidationError) as e:
                settings.update(c, org, T0, **{key: bad})
            assert e.value.field == key
        assert settings.get(c, org).today(datetime(2026, 1, 1, 23, 30, tzinfo=UTC)) == D0


def test_invoice_numbers_are_gap_free_across_a_rollback(engine: Any) -> None:
    """A rolled-back invoice gives its number back: numbers stay sequential per org."""
    org, cid = setup_org(engine, invoice_prefix="A-")
    org2, cid2 = setup_org(engine, "other")
    with engine.begin() as c:
        assert invoices.issue(c, org, cid, [line(100)], D0, T0).number == "A-000001"
    with pytest.raises(RuntimeError), engine.begin() as c:
        invoices.issue(c, org, cid, [line(100)], D0, T0)
        raise RuntimeError("crash after numbering")
    with engine.begin() as c:
        assert invoices.issue(c, org, cid, [line(100)], D0, T0).number == "A-000002"
        assert invoices.issue(c, org2, cid2, [line(100)], D0, T0).number == "INV-000001"
        seqs = c.execute(sa.select(invoices_t.c.seq).where(invoices_t.c.org_id == org)
                         .order_by(invoices_t.c.seq)).scalars().all()
    assert seqs == [1, 2]


@pytest.mark.parametrize("inclusive", [False, True])
def test_invoice_totals_are_the_sums_of_rounded_lines(engine: Any, inclusive: bool) -> None:
    """Each line is rounded half-even once; the invoice's totals are exact sums; VAT-exempt lines carry none."""
    org, cid = setup_org(engine, vat_bp=1250, prices_include_vat=inclusive)
    with engine.begin() as c:
        inv = invoices.issue(c, org, cid, [line(333), line(333, quantity=3, discount=99),
                                           line(500, taxable=False)], D0, T0)
    assert [ln.vat_bp for ln in inv.lines] == [1250, 1250, 0]
    assert inv.subtotal == sum(ln.net for ln in inv.lines)
    assert inv.vat == sum(ln.vat for ln in inv.lines)
    assert inv.total == sum(ln.total for ln in inv.lines) == inv.subtotal + inv.vat
    if inclusive:
        assert inv.total == 333 + (999 - 99) + 500
        assert inv.lines[0].net == 296  # 333 / 1.125 = 296.0
    else:
        assert inv.lines[0].vat == 42    # 41.625 -> 42
        assert inv.total == 333 + 42 + 900 + 112 + 500  # 112.5 -> 112 (half-even)
    assert inv.due_date == date(2026, 1, 15)


def test_issue_posts_a_balanced_entry_and_the_balance_follows(engine: Any) -> None:
    """Receivable = total, revenue = -net, VAT payable = -VAT; the customer owes the total."""
    org, cid = setup_org(engine, vat_bp=1500)
    with engine.begin() as c:
        inv = invoices.issue(c, org, cid, [line(1000)], D0, T0)
        assert ledger.balance(c, org, cid) == 1150
        assert ledger.account_balances(c, org) == {"receivable": 1150, "revenue": -1000, "vat_payable": -150}
        assert ledger.check(c) == []
    assert inv.state == "open" and inv.open_amount == 1150


def test_allocation_never_over_pays(engine: Any) -> None:
    """The conditional UPDATE refuses more than the open amount and a settled invoice."""
    org, cid = setup_org(engine)
    with engine.begin() as c:
        inv = invoices.issue(c, org, cid, [line(1000)], D0, T0)
        assert ledger.allocate(c, org, inv.id, cid, "payment", None, 1001, T0) == 0
        assert ledger.allocate(c, org, inv.id, cid, "payment", None, 600, T0) == 600
        assert ledger.allocate(c, org, inv.id, cid, "payment", None, 400, T0) == 400
        assert ledger.allocate(c, org, inv.id, cid, "payment", None, 1, T0) == 0
        got = invoices.get(c, org, inv.id)
    assert got is not None and (got.state, got.paid, got.open_amount) == ("paid", 1000, 0)


def test_credit_is_applied_to_a_new_invoice_oldest_first(engine: Any) -> None:
    """Unused customer credit settles new invoices as they are issued, in a balanced entry."""
    org, cid = setup_org(engine)
    with engine.begin() as c:
        ledger.post(c, org, "payment", [Posting("cash:bank", 1500), Posting(ledger.CREDIT, -1500, cid)], D0, T0,
                    customer_id=cid)
        assert ledger.credit_available(c, org, cid) == 1500
        a = invoices.issue(c, org, cid, [line(1000)], D0, T0)
        b = invoices.issue(c, org, cid, [line(1000)], D0, T0)
        assert (a.state, a.paid, b.state, b.paid) == ("paid", 1000, "open", 500)
        assert ledger.credit_available(c, org, cid) == 0
        assert ledger.balance(c, org, cid) == 500
        assert ledger.check(c) == []


def test_unbalanced_entries_are_refused_and_the_check_finds_tampering(engine: Any) -> None:
    """post() refuses an unbalanced entry; a hand-edited posting or paid amount is reported."""
    org, cid = setup_org(engine)
    with engine.begin() as c:
        with pytest.raises(ledger.Unbalanced):
            ledger.post(c, org, "adjustment", [Posting(ledger.CREDIT, 5, cid)], D0, T0)
        inv = invoices.issue(c, org, cid, [line(1000)], D0, T0)
        c.execute(postings.update().where(postings.c.account == "revenue").values(amount=-999))
        c.execute(invoices_t.update().where(invoices_t.c.id == inv.id).values(paid=10))
        found = {p.what for p in ledger.check(c, org)}
    assert found == {"unbalanced entry", "allocations", "receivable"}


def test_adjustment_needs_a_reason_and_moves_the_balance(engine: Any) -> None:
    """A manual adjustment is a balanced entry on the customer's credit account."""
    org, cid = setup_org(engine)
    with engine.begin() as c:
        with pytest.raises(ValidationError):
            ledger.adjust(c, org, cid, 500, " ", D0, T0)
        ledger.adjust(c, org, cid, -500, "goodwill: outage on 3 Jan", D0, T0)
        assert ledger.balance(c, org, cid) == -500 and ledger.credit_available(c, org, cid) == 500
        assert ledger.check(c) == []
