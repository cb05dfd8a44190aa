"""Checkout on SQLite and PostgreSQL: the cart becomes an order in one transaction, by a method the org's
setting allows; a request opens a ticket about the order when the org takes requests as tickets."""
from __future__ import annotations

from typing import Any

import pytest

from aaad.errors import ValidationError
from billing import services
from billing.orders import cart, checkout, orders, tickets
from tests.billing.fixtures_a import T0, World, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine, vat_bp=1500)


def filled(world: World) -> tuple[int, int]:
    c = world.customer("Ama Mensah")
    p = world.product("Home 10M", price=25_00, setup_fee=10_00)
    world.tx(cart.add, world.org_id, c.id, p.id, T0)
    return c.id, p.id


def test_gateway_checkout_places_the_order_and_empties_the_cart(world: World) -> None:
    """The default (gateway): an order of the cart's products at the quoted price, one pending service each,
    the cart emptied, no ticket."""
    cid, pid = filled(world)
    placed = world.tx(checkout.place_cart, world.writer, world.org_id, cid, T0, method="gateway", note=" hi ")
    o = placed.order
    assert (o.method, o.status, o.total, o.note, placed.ticket_id) == ("gateway", "placed", 40_25, "hi", None)
    assert [i.product_id for i in o.items] == [pid]
    svc = world.read(services.get, world.org_id, o.items[0].service_id)
    assert svc is not None and svc.state == "pending"
    assert world.read(cart.count, world.org_id, cid) == 0


def test_request_checkout_opens_a_ticket_about_the_order(world: World) -> None:
    """A request (org setting request, via ticket): a ticket in the customer's name about the order, its
    first message listing the products, the total and the note."""
    cid, _ = filled(world)
    world.tx(cart.update_shop_settings, world.org_id, T0, checkout="request")
    placed = world.tx(checkout.place_cart, world.writer, world.org_id, cid, T0, method="request", note="Sat")
    th = world.read(tickets.thread, world.org_id, placed.ticket_id, cid)
    assert th.ticket.order_id == placed.order.id and th.ticket.subject == f"Order {placed.order.number}"
    body = th.messages[0].body
    assert "Home 10M" in body and "40.25" in body and body.endswith("Sat")


def test_request_by_email_opens_no_ticket(world: World) -> None:
    """Requests by e-mail: the order is placed, no ticket."""
    cid, _ = filled(world)
    world.tx(cart.update_shop_settings, world.org_id, T0, checkout="request", request_via="email")
    placed = world.tx(checkout.place_cart, world.writer, world.org_id, cid, T0, method="request")
    assert placed.ticket_id is None and placed.order.method == "request"


@pytest.mark.parametrize("method,note,field", [("request", "", "method"), ("", "", "method"),
                                               ("gateway", "x" * 1001, "note")])
def test_refused_checkout_changes_nothing(world: World, method: str, note: str, field: str) -> None:
    """A method the org does not allow, none, or an overlong note: refused naming the field; the cart kept,
    no order."""
    cid, _ = filled(world)
    with pytest.raises(ValidationError) as e:
        world.tx(checkout.place_cart, world.writer, world.org_id, cid, T0, method=method, note=note)
    assert e.value.field == field
    assert world.read(cart.count, world.org_id, cid) == 1
    assert world.read(orders.of_customer, world.org_id, cid) == []


def test_empty_cart_is_refused(world: World) -> None:
    """Nothing in the cart: ValidationError('cart')."""
    c = world.customer()
    with pytest.raises(ValidationError) as e:
        world.tx(checkout.place_cart, world.writer, world.org_id, c.id, T0, method="gateway")
    assert e.value.field == "cart"


def test_order_of_customer_is_only_theirs(world: World) -> None:
    """order_of_customer finds the customer's own order and nobody else's."""
    cid, _ = filled(world)
    o = world.tx(checkout.place_cart, world.writer, world.org_id, cid, T0, method="gateway").order
    other = world.customer("Yaw Boateng", seed=2)
    assert world.read(checkout.order_of_customer, world.org_id, cid, o.id) == o
    assert world.read(checkout.order_of_customer, world.org_id, other.id, o.id) is None


def test_cli_billing_shop_shows_and_changes(tmp_path: Any, capsys: Any) -> None:
    """``aaad billing shop``: the defaults, then --checkout/--request-via change them (JSON output)."""
    import json

    from aaad import cli
    conf = tmp_path / "aaad.toml"
    conf.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(conf), "org", "add", "isp", "--timezone", "UTC", "--currency", "USD"]) == 0
    capsys.readouterr()
    assert cli.main(["-c", str(conf), "billing", "shop", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkout"] == "gateway"
    assert cli.main(["-c", str(conf), "billing", "shop", "--checkout", "both", "--request-via", "email",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["checkout"], out["request_via"]) == ("both", "email")
