"""Tickets and the cart on SQLite and PostgreSQL: opening, replying, status, events, isolation by
customer and org; the cart's items, limits and the checkout settings."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aaad.errors import NotFound, ValidationError
from billing import catalogue
from billing.orders import cart, tickets
from tests.billing.fixtures_a import T0, World, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def test_open_ticket_keeps_first_message_and_publishes(world: World) -> None:
    """open_ticket: status open, the customer's first message with their name; ticket.opened."""
    c = world.customer("Ama Mensah")
    th = world.tx(tickets.open_ticket, world.org_id, c.id, "  No   signal ", "It drops every evening.\r\n", T0)
    assert (th.ticket.subject, th.ticket.status, th.ticket.customer_id) == ("No signal", "open", c.id)
    assert [(m.author, m.author_name, m.body) for m in th.messages] == [
        ("customer", "Ama Mensah", "It drops every evening.")]
    assert world.event_payloads("ticket.opened") == [
        {"ticket_id": th.ticket.id, "customer_id": c.id, "subject": "No signal", "order_id": None}]


@pytest.mark.parametrize("subject,body,field", [("", "x", "subject"), ("x" * 201, "x", "subject"),
                                                ("Hi", "   ", "body"), ("Hi", "x" * 5001, "body")])
def test_open_ticket_refuses_bad_fields(world: World, subject: str, body: str, field: str) -> None:
    """An empty or overlong subject or body is refused naming the field; nothing is written."""
    c = world.customer()
    with pytest.raises(ValidationError) as e:
        world.tx(tickets.open_ticket, world.org_id, c.id, subject, body, T0)
    assert e.value.field == field
    assert world.read(tickets.of_customer, world.org_id, c.id) == []


def test_replies_move_the_status_and_reopen(world: World) -> None:
    """An admin's reply answers, the customer's opens again, also after closing; ticket.replied each."""
    c = world.customer()
    t = world.tx(tickets.open_ticket, world.org_id, c.id, "Bill", "Why so high?", T0).ticket
    th = world.tx(tickets.reply, world.org_id, t.id, "admin", "Setup fee.", T0 + timedelta(hours=1),
                  author_name="Support")
    assert th.ticket.status == "answered" and th.ticket.updated_at == T0 + timedelta(hours=1)
    assert world.tx(tickets.close, world.org_id, t.id, T0).status == "closed"
    th = world.tx(tickets.reply, world.org_id, t.id, "customer", "Thanks, one more thing", T0, customer_id=c.id)
    assert th.ticket.status == "open"
    assert [m.author for m in th.messages] == ["customer", "admin", "customer"]
    assert [p["author"] for p in world.event_payloads("ticket.replied")] == ["admin", "customer"]


def test_another_customers_ticket_is_not_found(world: World) -> None:
    """With a customer_id, someone else's ticket is NotFound for reading, replying and closing."""
    a, b = world.customer("A One", seed=1), world.customer("B Two", seed=2)
    t = world.tx(tickets.open_ticket, world.org_id, a.id, "Mine", "text", T0).ticket
    with pytest.raises(NotFound):
        world.read(tickets.thread, world.org_id, t.id, b.id)
    with pytest.raises(NotFound):
        world.tx(tickets.reply, world.org_id, t.id, "customer", "hijack", T0, customer_id=b.id)
    with pytest.raises(NotFound):
        world.tx(tickets.close, world.org_id, t.id, T0, customer_id=b.id)
    assert len(world.read(tickets.messages, world.org_id, t.id)) == 1


def test_other_orgs_ticket_is_not_found(engine: Any) -> None:
    """A ticket of org A does not exist for org B, nor does its customer."""
    a, b = make_world(engine, "isp-a"), make_world(engine, "isp-b")
    c = a.customer()
    t = a.tx(tickets.open_ticket, a.org_id, c.id, "Mine", "text", T0).ticket
    assert b.read(tickets.get, b.org_id, t.id) is None
    with pytest.raises(NotFound):
        b.tx(tickets.reply, b.org_id, t.id, "admin", "x", T0)
    with pytest.raises(NotFound):
        b.tx(tickets.open_ticket, b.org_id, c.id, "x", "y", T0)
    assert b.read(tickets.page, b.org_id).items == []


def test_page_filters_and_sorts(world: World) -> None:
    """page: newest first by default, by status and customer, with a cursor."""
    c1, c2 = world.customer("A One", seed=1), world.customer("B Two", seed=2)
    ids = [world.tx(tickets.open_ticket, world.org_id, c, f"T{i}", "b", T0).ticket.id
           for i, c in enumerate((c1.id, c2.id, c1.id))]
    world.tx(tickets.reply, world.org_id, ids[0], "admin", "ok", T0)
    assert [t.id for t in world.read(tickets.page, world.org_id).items] == ids[::-1]
    assert [t.id for t in world.read(tickets.page, world.org_id, status="answered").items] == [ids[0]]
    first = world.read(tickets.page, world.org_id, customer_id=c1.id, limit=1)
    assert [t.id for t in first.items] == [ids[2]] and first.next_cursor
    rest = world.read(tickets.page, world.org_id, customer_id=c1.id, limit=1, cursor=first.next_cursor)
    assert [t.id for t in rest.items] == [ids[0]]


def test_cart_add_remove_count(world: World) -> None:
    """Items in the order added (a product twice is two items), removed one by one; only the owner's."""
    c, other = world.customer("A One", seed=1), world.customer("B Two", seed=2)
    p, q = world.product("Home 10M"), world.product("Phone", type="voice", price=5_00)
    i1 = world.tx(cart.add, world.org_id, c.id, p.id, T0)
    world.tx(cart.add, world.org_id, c.id, q.id, T0)
    world.tx(cart.add, world.org_id, c.id, p.id, T0)
    assert [i.product.name for i in world.read(cart.items, world.org_id, c.id)] == ["Home 10M", "Phone", "Home 10M"]
    assert world.tx(cart.remove, world.org_id, other.id, i1.id) is False
    assert world.tx(cart.remove, world.org_id, c.id, i1.id) is True
    assert world.read(cart.count, world.org_id, c.id) == 2
    world.tx(cart.clear, world.org_id, c.id)
    assert world.read(cart.items, world.org_id, c.id) == []


def test_cart_refuses_what_is_not_sold_and_a_full_cart(world: World) -> None:
    """A product hidden from the portal, no longer sold or unknown is refused (and one hidden after it was
    added neither counts nor shows); item 21 is refused."""
    c = world.customer()
    hidden = world.product("Hidden", on_portal=False)
    gone = world.product("Gone", active=False)
    for pid in (hidden.id, gone.id, 999999):
        with pytest.raises(ValidationError) as e:
            world.tx(cart.add, world.org_id, c.id, pid, T0)
        assert e.value.field == "product"
    p = world.product()
    world.tx(cart.add, world.org_id, c.id, p.id, T0)
    world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, on_portal=False)
    assert world.read(cart.count, world.org_id, c.id) == 0 and world.read(cart.items, world.org_id, c.id) == []
    world.tx(cart.clear, world.org_id, c.id)
    world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, on_portal=True)
    for _ in range(cart.MAX_ITEMS):
        world.tx(cart.add, world.org_id, c.id, p.id, T0)
    with pytest.raises(ValidationError):
        world.tx(cart.add, world.org_id, c.id, p.id, T0)


def test_shop_settings_default_and_update(world: World) -> None:
    """Gateway and ticket until set; updates keep what is not given; bad values name the field."""
    s = world.read(cart.shop_settings, world.org_id)
    assert (s.checkout, s.request_via, s.methods()) == ("gateway", "ticket", ("gateway",))
    s = world.tx(cart.update_shop_settings, world.org_id, T0, checkout="both")
    s = world.tx(cart.update_shop_settings, world.org_id, T0, request_via="email")
    assert (s.checkout, s.request_via, s.methods()) == ("both", "email", ("gateway", "request"))
    with pytest.raises(ValidationError) as e:
        world.tx(cart.update_shop_settings, world.org_id, T0, checkout="cash")
    assert e.value.field == "checkout"
