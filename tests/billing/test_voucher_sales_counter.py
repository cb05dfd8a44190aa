"""A cashier sells a voucher at the counter, on SQLite and PostgreSQL: one voucher of an active package
at its price, the sale booked as the online purchase books it (cash in, revenue and the VAT inside the
price, no customer credit), once per method and reference (a double submit sells one voucher)."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaad.errors import ValidationError
from billing import ledger, voucher_sales
from billing import settings as billing_settings
from billing.schema import journal_entries, postings
from billing.vouchers import packages, vouchers
from tests.billing.fixtures_a import race
from tests.billing.fixtures_c import T0, World, make_world

_SEQ = itertools.count()


def _setup(engine: Any) -> tuple[World, int, Any]:
    w = make_world(engine)
    cid = w.customer()
    p = w.tx(packages.add, w.writer, w.org_id, T0, name="1 hour", price=2_30, time_limit=3600)
    return w, cid, p


def _sell(w: World, package_id: int, cid: int, reference: str = "RB-0001", method: str = "cash") -> Any:
    return w.tx(voucher_sales.sell_at_counter, w.writer, w.org_id, package_id, cid, T0, method=method,
                reference=reference)


def _sale_postings(w: World, voucher_id: int) -> dict[str, int]:
    with w.engine.connect() as c:
        rows = c.execute(sa.select(postings.c.account, postings.c.amount).join(
            journal_entries, journal_entries.c.id == postings.c.entry_id).where(
            journal_entries.c.org_id == w.org_id, journal_entries.c.kind == "voucher_sale",
            journal_entries.c.ref_type == "voucher", journal_entries.c.ref_id == voucher_id)).all()
    return {str(a): int(m) for a, m in rows}


def test_a_counter_sale_sells_one_voucher_and_books_the_sale(engine: Any) -> None:
    """The voucher is the customer's at the package's price, with its password; cash:<method> is debited
    with the price, revenue and the VAT inside it credited; the customer's balance and credit stay 0."""
    w, cid, p = _setup(engine)
    v = _sell(w, p.id, cid, method="Mobile_Money", reference=" MM-778899 ")
    assert (v.customer_id, v.package_id, v.price, v.state) == (cid, p.id, 2_30, "unused")
    assert v.password and v.sold_at == T0
    books = w.read(ledger.account_balances, w.org_id)
    assert books["cash:mobile_money"] == 2_30 and books["vat_payable"] == -30 and books["revenue"] == -2_00
    assert w.balance(cid) == 0 and w.credit(cid) == 0 and w.check() == []
    with w.engine.connect() as c:
        entry = c.execute(sa.select(journal_entries).where(journal_entries.c.kind == "voucher_sale")).one()
    assert entry.customer_id == cid and "MM-778899" in entry.memo
    assert w.event_payloads("voucher.sold")[0]["customer_id"] == cid


def test_the_same_reference_again_returns_the_same_voucher_and_books_once(engine: Any) -> None:
    """A double-clicked form or a retried request: the same method and reference for the same customer
    and package return the voucher already sold (with its password) and book nothing more."""
    w, cid, p = _setup(engine)
    first = _sell(w, p.id, cid)
    again = _sell(w, p.id, cid, reference="RB-0001 ")
    assert again.id == first.id and again.password == first.password
    assert len(w.read(vouchers.of_customer, w.org_id, cid)) == 1
    assert w.read(ledger.account_balances, w.org_id)["cash:cash"] == 2_30


def test_a_reference_used_for_something_else_is_refused(engine: Any) -> None:
    """A reference another sale used (another customer or package), or a payment recorded with the same
    method and reference, is refused naming ``reference``; the same reference with another method is fine."""
    w, cid, p = _setup(engine)
    other = w.customer("jane-1", "Jane")
    _sell(w, p.id, cid)
    with pytest.raises(ValidationError) as e:
        _sell(w, p.id, other)
    assert e.value.field == "reference"
    w.pay(other, 10_00, "RB-0002", method="cash")
    with pytest.raises(ValidationError) as e:
        _sell(w, p.id, other, reference="RB-0002")
    assert e.value.field == "reference" and "receipt" in e.value.message
    assert _sell(w, p.id, other, method="bank").customer_id == other
    assert len(w.read(vouchers.of_customer, w.org_id, other)) == 1


@pytest.mark.parametrize("method,reference,field", [
    ("cash", "", "reference"), ("cash", "   ", "reference"), ("cash", "x" * 129, "reference"),
    ("", "R1", "method"), ("cash money", "R1", "method")])
def test_bad_method_or_reference(engine: Any, method: str, reference: str, field: str) -> None:
    """The method is checked like a payment's; the reference is required, at most 128 characters."""
    w, cid, p = _setup(engine)
    with pytest.raises(ValidationError) as e:
        _sell(w, p.id, cid, method=method, reference=reference)
    assert e.value.field == field and w.read(vouchers.of_customer, w.org_id, cid) == []


def test_what_cannot_be_sold(engine: Any) -> None:
    """An inactive package, another org's package or customer: refused naming the field, nothing sold
    or booked."""
    w, cid, p = _setup(engine)
    o = make_world(engine, "other")
    ocid = o.customer()
    op = o.tx(packages.add, o.writer, o.org_id, T0, name="1 hour", price=1_00)
    off = w.tx(packages.add, w.writer, w.org_id, T0, name="old", price=1_00)
    w.tx(packages.update, w.org_id, off.id, T0, active=False)
    for pkg, cust, field in [(off.id, cid, "package_id"), (op.id, cid, "package_id"), (p.id, ocid, "customer_id")]:
        with pytest.raises(ValidationError) as e:
            _sell(w, pkg, cust)
        assert e.value.field == field
    assert w.read(vouchers.of_customer, w.org_id, cid) == [] and w.read(ledger.account_balances, w.org_id) == {}


def test_a_free_package_is_sold_without_a_journal_entry(engine: Any) -> None:
    """A package of price 0 sells a voucher and books nothing (its reference still counts once)."""
    w, cid, _ = _setup(engine)
    free = w.tx(packages.add, w.writer, w.org_id, T0, name="free", price=0)
    v = _sell(w, free.id, cid)
    assert v.price == 0 and _sell(w, free.id, cid).id == v.id
    with w.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(journal_entries)).scalar() == 0


def test_racing_submits_sell_one_voucher(engine: Any) -> None:
    """Two submits of the same sale at once (two tabs, a retry racing the first): one voucher, booked once."""
    w, cid, p = _setup(engine)

    def sell(c: Any) -> int:
        return int(voucher_sales.sell_at_counter(c, w.writer, w.org_id, p.id, cid, T0, method="cash",
                                                 reference="RB-9").id)
    out = race(engine, voucher_sales, "_counter_sale", sell, sell)
    assert all(isinstance(o, int) for o in out) and out[0] == out[1], out
    assert len(w.read(vouchers.of_customer, w.org_id, cid)) == 1
    assert w.read(ledger.account_balances, w.org_id)["cash:cash"] == 2_30 and w.check() == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=st.integers(min_value=1, max_value=10**10), bp=st.integers(min_value=0, max_value=10_000))
def test_cash_is_revenue_plus_vat_for_any_price_and_rate(engine: Any, price: int, bp: int) -> None:
    """For any price and VAT rate the sale's entry balances: cash = revenue + VAT, the VAT half-even as
    :func:`billing.voucher_sales.vat_in` rounds it."""
    with engine.connect() as c:
        org = c.execute(sa.text("SELECT id FROM orgs WHERE slug = 'prop'")).first()
    w = World(engine, int(org[0]), *_world_bits()) if org else make_world(engine, "prop")
    w.tx(billing_settings.update, w.org_id, T0, vat_bp=bp)
    n = next(_SEQ)
    cid = w.customer(f"c-{n}")
    p = w.tx(packages.add, w.writer, w.org_id, T0, name=f"p {n}", price=price)
    v = _sell(w, p.id, cid, reference=f"R-{n}")
    got = _sale_postings(w, v.id)
    vat = voucher_sales.vat_in(price, bp)
    assert got.get("cash:cash") == price and -got.get("revenue", 0) == price - vat
    assert -got.get("vat_payable", 0) == vat and sum(got.values()) == 0


def _world_bits() -> tuple[Any, Any]:
    from aaad.crypto import SecretBox
    from aaad.view.write import LoginWriter
    box = SecretBox(b"k" * 32)
    return LoginWriter(box), box
