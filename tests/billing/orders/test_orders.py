"""Orders: quoting with VAT, placing (pending services and their disabled logins), paying through
a gateway (services active from the payment date, once), the admin's approval with a later start
(the unused days credited), cancelling; another org's orders do not exist."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import NotFound, ValidationError
from billing import catalogue, money
from billing.gateways import store
from billing.gateways.base import SUCCESS
from billing.orders import orders
from billing.schema import credit_notes
from tests.billing.fixtures_c import World, at, make_world

D1 = date(2027, 1, 1)          # paid on 01/01 ...
D14 = date(2027, 1, 14)        # ... started on 14/01: 13 days credited


def _world(engine: Any, slug: str = "isp") -> tuple[World, int, int]:
    """Org ``slug`` (GHS, VAT 15 % on top, billing day 1) selling "Fibre 31" (310.00 a month,
    setup 50.00) on its portal; a customer.  (world, product id, customer id)."""
    w = make_world(engine, slug)
    w.tx(store.set_gateway, w.box, w.org_id, "test", at(D1))
    p = w.tx(catalogue.add_product, w.writer, w.org_id, at(D1), name="Fibre 31", type="internet", price=310_00,
             setup_fee=50_00, rate_limit="31M/31M")
    return w, int(p.id), w.customer("ama", "Ama Owusu")


def _place(w: World, pid: int, cid: int, **kw: Any) -> orders.Order:
    return w.tx(orders.place, w.writer, w.org_id, cid, [pid], at(D1), **kw)


def test_quote_is_price_and_setup_with_vat(engine: Any) -> None:
    """One period's price plus the setup fee, VAT 15 % on top, per line; totals add up."""
    w, pid, _ = _world(engine)
    q = w.read(orders.quote, w.org_id, [pid, pid])
    assert [(ln.net, ln.vat, ln.gross) for ln in q.lines] == [(360_00, 54_00, 414_00)] * 2
    assert (q.net, q.vat, q.total, q.currency) == (720_00, 108_00, 828_00, "GHS")


def test_quote_refuses_what_is_not_on_sale(engine: Any) -> None:
    """No products, an unknown one, one not on the portal, one no longer sold, one not sold in the zone:
    each a ValidationError on ``products``."""
    w, pid, _ = _world(engine)
    hidden = w.tx(catalogue.add_product, w.writer, w.org_id, at(D1), name="Staff", type="internet", price=1,
                  on_portal=False, rate_limit="1M/1M")
    north = w.tx(catalogue.add_product, w.writer, w.org_id, at(D1), name="North 5", type="internet", price=1,
                 zones=["north"], rate_limit="5M/5M")
    for ids, zone in (([], None), ([9999], None), ([hidden.id], None), ([north.id], "south")):
        with pytest.raises(ValidationError) as e:
            w.read(orders.quote, w.org_id, ids, zone=zone)
        assert e.value.field == "products"
    assert w.read(orders.quote, w.org_id, [north.id], zone="north").total == 1
    w.tx(catalogue.update_product, w.writer, w.org_id, pid, at(D1), active=False)
    with pytest.raises(ValidationError, match="no longer sold"):
        w.read(orders.quote, w.org_id, [pid])


def test_place_makes_pending_services_with_disabled_logins(engine: Any) -> None:
    """Placing makes one pending service per product, its login disabled, the order with its
    items at the quoted prices, and publishes order.placed."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid, method="gateway")
    assert (o.status, o.method, o.total, o.number) == ("placed", "gateway", 414_00, f"ORD-{o.id:06d}")
    (sid,) = o.service_ids
    assert w.service(sid).state == "pending" and w.login_of(sid).state == "disabled"
    assert w.event_payloads("order.placed") == [{"order_id": o.id, "customer_id": cid, "method": "gateway",
                                                 "total": 414_00, "currency": "GHS"}]
    assert w.read(orders.of_service, w.org_id, sid) == o
    assert w.read(orders.of_customer, w.org_id, cid) == [o]


def test_paying_starts_the_services_once(engine: Any) -> None:
    """The order's gateway payment, credited, starts its services from the payment date at once;
    the first invoice is paid from it; a duplicate report changes nothing."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid, method="gateway")
    tx = w.tx(store.create_for_order, w.box, w.org_id, cid, o.id, at(D1))
    assert (tx.purpose, tx.amount, tx.order_id) == ("order", 414_00, o.id)
    r = w.tx(store.settle, w.writer, w.org_id, tx.reference, SUCCESS, 414_00, "GHS", "p1", at(D1, 10))
    assert r.outcome == "credited"
    paid = w.read(orders.require, w.org_id, o.id)
    assert paid.status == "paid" and paid.paid_at == at(D1, 10)
    svc = w.service(o.service_ids[0])
    assert svc.state == "active" and svc.start_date == D1 and w.login_of(svc.id).state == "active"
    assert w.balance(cid) == 0        # 414.00 paid; Jan (310 + 50 setup + VAT) invoiced
    again = w.tx(store.settle, w.writer, w.org_id, tx.reference, SUCCESS, 414_00, "GHS", "p1", at(D1, 11))
    assert again.outcome == "duplicate" and w.balance(cid) == 0
    assert w.check() == []
    with pytest.raises(ValidationError) as e:       # paid: nothing more to pay
        w.tx(store.create_for_order, w.box, w.org_id, cid, o.id, at(D1))
    assert e.value.field == "order"


def test_approval_with_a_later_start_credits_the_unused_days(engine: Any) -> None:
    """Paid 01/01, approved with the actual start 14/01: 13 of January's 31 days credited
    (130.00 + VAT); approving again with the same date changes nothing; earlier is refused."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid, method="gateway")
    tx = w.tx(store.create_for_order, w.box, w.org_id, cid, o.id, at(D1))
    w.tx(store.settle, w.writer, w.org_id, tx.reference, SUCCESS, 414_00, "GHS", None, at(D1, 10))
    done = w.tx(orders.approve, w.writer, w.org_id, o.id, D14, at(D14))
    assert done.status == "active" and done.approved_at == at(D14)
    assert w.service(o.service_ids[0]).start_date == D14
    notes = w.read(lambda c: c.execute(sa.select(credit_notes).where(credit_notes.c.org_id == w.org_id)).all())
    assert [(n.customer_id, n.subtotal, n.vat) for n in notes] == [(cid, 130_00, 19_50)]
    w.tx(orders.approve, w.writer, w.org_id, o.id, D14, at(D14))
    assert len(w.read(lambda c: c.execute(sa.select(credit_notes.c.id)).all())) == 1
    with pytest.raises(ValidationError) as e:
        w.tx(orders.approve, w.writer, w.org_id, o.id, D14 - timedelta(days=1), at(D14))
    assert e.value.field == "start"
    assert w.balance(cid) == -149_50 and w.check() == []


def test_unpaid_approval_invoices_from_the_start(engine: Any) -> None:
    """An order to be invoiced, approved with a start of 14/01: the service is active from then,
    invoiced for 18 of January's days (180.00) plus the setup fee, VAT on top."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid)
    assert o.method == "invoice"
    w.tx(orders.approve, w.writer, w.org_id, o.id, D14, at(D14))
    assert w.service(o.service_ids[0]).start_date == D14
    assert w.balance(cid) == money.line_amounts(180_00 + 50_00, 1500, False).total


def test_cancel_rejects_the_pending_services(engine: Any) -> None:
    """Cancelling a placed order rejects its services and removes their logins; a paid or
    cancelled order cannot be cancelled."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid, method="request")
    c = w.tx(orders.cancel, w.writer, w.org_id, o.id, at(D1), reason="changed my mind")
    assert c.status == "cancelled" and "changed my mind" in c.note
    assert w.service(o.service_ids[0]).state == "rejected"
    with pytest.raises(ValidationError):
        w.tx(orders.cancel, w.writer, w.org_id, o.id, at(D1))
    with pytest.raises(ValidationError):
        w.tx(store.create_for_order, w.box, w.org_id, cid, o.id, at(D1))
    p = _place(w, pid, cid, method="gateway")
    tx = w.tx(store.create_for_order, w.box, w.org_id, cid, p.id, at(D1))
    w.tx(store.settle, w.writer, w.org_id, tx.reference, SUCCESS, 414_00, "GHS", None, at(D1))
    with pytest.raises(ValidationError, match="paid"):
        w.tx(orders.cancel, w.writer, w.org_id, p.id, at(D1))


def test_another_customers_or_orgs_order_does_not_exist(engine: Any) -> None:
    """A customer cannot pay another's order; another org's order id is not found."""
    w, pid, cid = _world(engine)
    o = _place(w, pid, cid)
    other = w.customer("kofi", "Kofi")
    with pytest.raises(NotFound):
        w.tx(store.create_for_order, w.box, w.org_id, other, o.id, at(D1))
    w2, _, _ = _world(engine, "isp2")
    assert w2.read(orders.get, w2.org_id, o.id) is None
    with pytest.raises(NotFound):
        w2.tx(orders.approve, w2.writer, w2.org_id, o.id, D14, at(D14))
    assert w2.read(orders.page, w2.org_id).items == []
    assert [x.id for x in w.read(orders.page, w.org_id).items] == [o.id]


def test_closed_customer_and_bad_method_are_refused(engine: Any) -> None:
    """No order for a closed customer or with an unknown method."""
    w, pid, cid = _world(engine)
    with pytest.raises(ValidationError) as e:
        _place(w, pid, cid, method="barter")
    assert e.value.field == "method"
    with pytest.raises(NotFound):
        w.tx(orders.place, w.writer, w.org_id, 9999, [pid], at(D1))

