"""What orders and tickets tell people: the customer's order confirmation and the admins' order notice
(none for a request the admins get as a ticket), the admins' notice of a new ticket and of a customer's
reply, and the customer's notice of an admin's reply; once per event."""
from __future__ import annotations

import random
from typing import Any

import pytest

from billing import catalogue
from billing import customers as cust
from billing.notify import settings as ns
from billing.orders import cart, checkout, tickets
from tests.billing.notify.harness import Notify, make


@pytest.fixture
def n(engine: Any) -> Notify:
    n = make(engine, channels=("email",))
    n.w.tx(ns.update, n.org_id, n.now, admin_email="noc@isp.example")
    return n


def _setup(n: Notify) -> tuple[int, int]:
    c = n.w.tx(cust.add, n.org_id, n.now, name="Ama Mensah", email="ama@example.com", rng=random.Random(1))
    p = n.w.tx(catalogue.add_product, n.w.writer, n.org_id, n.now, name="Static IP", type="recurring",
               price=500)
    n.w.tx(cart.add, n.org_id, c.id, p.id, n.now)
    return int(c.id), p.id


def kinds(n: Notify) -> list[tuple[str, str]]:
    return sorted((m.kind, m.recipient) for m in n.messages() if m.kind != "customer.welcome")


def test_gateway_order_tells_customer_and_admins(n: Notify) -> None:
    """A paid-now order: the customer's confirmation with the order's number and total, the admins' notice."""
    cid, _ = _setup(n)
    placed = n.w.tx(checkout.place_cart, n.w.writer, n.org_id, cid, n.now, method="gateway")
    n.deliver()
    assert kinds(n) == [("admin.order_placed", "noc@isp.example"), ("order.placed", "ama@example.com")]
    (m,) = n.messages(kind="order.placed")
    assert m.vars["order"]["number"] == placed.order.number and m.vars["order"]["items"] == "Static IP"
    n.deliver()
    assert len(kinds(n)) == 2


def test_request_as_ticket_tells_admins_by_the_ticket(n: Notify) -> None:
    """A request the org takes as tickets: the admins get the new ticket (with the order's lines), not the
    order notice; a request by e-mail gets them the order notice with the note."""
    cid, pid = _setup(n)
    n.w.tx(cart.update_shop_settings, n.org_id, n.now, checkout="request")
    n.w.tx(checkout.place_cart, n.w.writer, n.org_id, cid, n.now, method="request", note="Saturday")
    n.deliver()
    assert kinds(n) == [("admin.ticket_opened", "noc@isp.example"), ("order.placed", "ama@example.com")]
    (m,) = n.messages(kind="admin.ticket_opened")
    assert "Static IP" in m.vars["message"] and "Saturday" in m.vars["message"]
    n.w.tx(cart.update_shop_settings, n.org_id, n.now, request_via="email")
    n.w.tx(cart.add, n.org_id, cid, pid, n.now)
    n.w.tx(checkout.place_cart, n.w.writer, n.org_id, cid, n.now, method="request", note="Sunday")
    n.deliver()
    (m,) = n.messages(kind="admin.order_placed")
    assert m.vars["order"]["note"] == "Sunday" and m.vars["customer_name"] == "Ama Mensah"


def test_replies_go_to_the_other_side(n: Notify) -> None:
    """An admin's reply goes to the customer with the ticket's portal address; the customer's to the admins;
    a ticket an admin opens tells no admin."""
    cid, _ = _setup(n)
    t = n.w.tx(tickets.open_ticket, n.org_id, cid, "Outage", "Tonight.", n.now, author="admin").ticket
    n.w.tx(tickets.reply, n.org_id, t.id, "customer", "Thanks", n.now)
    n.w.tx(tickets.reply, n.org_id, t.id, "admin", "Done now.", n.now)
    n.deliver()
    assert kinds(n) == [("admin.ticket_replied", "noc@isp.example"), ("ticket.reply", "ama@example.com")]
    (m,) = n.messages(kind="ticket.reply")
    assert m.vars["reply"] == "Done now." and m.vars["ticket"]["url"].endswith(f"/tickets/{t.id}")
