"""Buying a voucher through a gateway, on SQLite and PostgreSQL: the transaction names the package and
its price; a success sells exactly one voucher in the settle transaction (repeated and racing reports
sell nothing more) and books the sale, not customer credit; what cannot be sold is kept as credit."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaad.errors import NotFound, ValidationError
from billing import ledger, voucher_sales
from billing.gateways import store
from billing.gateways.base import FAILED, SUCCESS
from billing.vouchers import packages, vouchers
from tests.billing.fixtures_a import race
from tests.billing.fixtures_c import T0, World, make_world


def _setup(engine: Any, gateway: str = "test") -> tuple[World, int, Any]:
    w = make_world(engine)
    w.tx(store.set_gateway, w.box, w.org_id, gateway, T0)
    cid = w.customer()
    p = w.tx(packages.add, w.writer, w.org_id, T0, name="1 hour", price=2_30, time_limit=3600)
    return w, cid, p


def _settle(w: World, ref: str, status: str = SUCCESS, amount: int = 2_30) -> store.Settled:
    return w.tx(store.settle, w.writer, w.org_id, ref, status, amount, "GHS", "tgw_1", T0, gateway="test")


def test_a_paid_purchase_sells_one_voucher_and_books_the_sale(engine: Any) -> None:
    """The transaction is purpose voucher for the package's price; success sells one voucher (its id on
    the transaction, no billing payment) and books cash against revenue and the VAT inside the price;
    the customer's balance is untouched; a repeated success sells nothing more."""
    w, cid, p = _setup(engine)
    tx = w.tx(store.create_for_voucher, w.box, w.org_id, cid, p.id, T0)
    assert (tx.purpose, tx.amount, tx.currency, tx.package_id, tx.voucher_id) == ("voucher", 2_30, "GHS", p.id, None)
    assert _settle(w, tx.reference).outcome == "credited"
    after = w.read(store.get, w.org_id, tx.reference)
    assert after.status == SUCCESS and after.payment_id is None and after.voucher_id is not None
    (v,) = w.read(vouchers.of_customer, w.org_id, cid)
    assert v.id == after.voucher_id and v.package_name == "1 hour"
    assert w.read(voucher_sales.of_transaction, w.box, w.org_id, cid, after.voucher_id, T0).code == v.code
    books = w.read(ledger.account_balances, w.org_id)
    assert books["cash:test"] == 2_30 and books["vat_payable"] == -30 and books["revenue"] == -2_00
    assert w.balance(cid) == 0 and w.check() == []
    assert _settle(w, tx.reference).outcome == "duplicate"
    assert len(w.read(vouchers.of_customer, w.org_id, cid)) == 1


def test_racing_reports_sell_one_voucher(engine: Any) -> None:
    """Two successes of the same purchase settled at once (webhook and return page) sell one voucher."""
    w, cid, p = _setup(engine)
    ref = w.tx(store.create_for_voucher, w.box, w.org_id, cid, p.id, T0).reference
    def settle(c: Any) -> str:
        return store.settle(c, w.writer, w.org_id, ref, SUCCESS, 2_30, "GHS", "tgw_1", T0, gateway="test").outcome
    outcomes = race(engine, store, "_find", settle, settle)
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["credited", "duplicate"]
    assert len(w.read(vouchers.of_customer, w.org_id, cid)) == 1


def test_what_cannot_be_bought(engine: Any) -> None:
    """A package not on the portal (or another org's) is not found; an org without a gateway refuses;
    a failed payment sells nothing."""
    w, cid, p = _setup(engine)
    hidden = w.tx(packages.add, w.writer, w.org_id, T0, name="staff", price=1_00, on_portal=False)
    with pytest.raises(NotFound):
        w.tx(store.create_for_voucher, w.box, w.org_id, cid, hidden.id, T0)
    ref = w.tx(store.create_for_voucher, w.box, w.org_id, cid, p.id, T0).reference
    assert _settle(w, ref, FAILED).outcome == "failed" and w.read(vouchers.of_customer, w.org_id, cid) == []
    w.tx(store.set_gateway, w.box, w.org_id, "none", T0)
    with pytest.raises(ValidationError) as e:
        w.tx(store.create_for_voucher, w.box, w.org_id, cid, p.id, T0)
    assert e.value.field == "gateway"


def test_a_package_withdrawn_before_payment_keeps_the_money_as_credit(engine: Any) -> None:
    """If the voucher cannot be sold when the payment arrives, the payment is recorded as the customer's
    credit (nothing paid is lost) and the reason logged."""
    w, cid, p = _setup(engine)
    ref = w.tx(store.create_for_voucher, w.box, w.org_id, cid, p.id, T0).reference
    w.tx(packages.update, w.org_id, p.id, T0, active=False)
    assert _settle(w, ref).outcome == "credited"
    after = w.read(store.get, w.org_id, ref)
    assert after.voucher_id is None and after.payment_id is not None and w.credit(cid) == 2_30
    assert "sell" in [e.source for e in w.read(store.events_of, w.org_id, ref)]


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10_000))
def test_vat_in_a_price_is_rounded_half_even(gross: int, bp: int) -> None:
    """The VAT inside a gross price is gross × bp / (10000 + bp) rounded half-even, never above the price."""
    expected = (Decimal(gross) * bp / (10_000 + bp)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) if bp else 0
    assert voucher_sales.vat_in(gross, bp) == expected and 0 <= voucher_sales.vat_in(gross, bp) <= gross
