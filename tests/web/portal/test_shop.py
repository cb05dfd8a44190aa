"""The portal's shop and tickets in process: the catalogue, the cart (add, remove, count, total with VAT,
empty), checkout by the org's setting (gateway → the gateway's page; request → a ticket or not), the order
pages with pay-now, tickets (open, read, reply, close), forms keeping what was typed, CSRF, and nothing of
another customer or org reachable."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from billing import catalogue
from billing.orders import cart, orders, tickets
from billing.schema import cart_items
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import Browser, customer_id


def product_id(world: World, org_id: int, name: str) -> int:
    with world.db.engine.connect() as c:
        p = catalogue.product_by_name(c, org_id, name)
        assert p is not None
        return p.id


@pytest.fixture(autouse=True)
def empty_carts_and_default_checkout(world: World) -> Iterator[None]:
    """Each test starts with empty carts and the default checkout (gateway); settings put back after."""
    with world.db.engine.begin() as c:
        c.execute(cart_items.delete())
        for org in (world.demo, world.other):
            cart.update_shop_settings(c, org, NOW, checkout="gateway", request_via="ticket")
    yield


@pytest.fixture
def ama(browser: Browser) -> Browser:
    assert browser.login("demo", "ama@example.com").code == 303
    return browser


def add(b: Browser, pid: int, org: str = "demo") -> int:
    token = b.csrf(f"/{org}/portal/products")
    return b.post(f"/{org}/portal/cart/add", {"csrf": token, "product_id": str(pid)}).code


def set_checkout(world: World, checkout: str, request_via: str = "ticket") -> None:
    with world.db.engine.begin() as c:
        cart.update_shop_settings(c, world.demo, NOW, checkout=checkout, request_via=request_via)


# -- the catalogue ------------------------------------------------------------------------------------------

def test_catalogue_groups_portal_products_by_type(browser: Browser, world: World) -> None:
    """Visitors see the products on the portal as cards under their type's heading, with prices; a product
    not on the portal is not there; the VAT rule is said."""
    r = browser.get("/demo/portal/products")
    assert r.code == 200
    page = r.text
    assert page.index(">Internet</h2>") < page.index("Home 10M") < page.index(">Services</h2>") \
        < page.index("Static IP")
    assert "$25.00" in page and "Setup fee $10.00" in page
    assert "Router installation" not in page
    assert "Prices are before VAT (15 %)" in page
    assert "Add to cart" not in page and "login?next=products" in page


def test_product_details_and_other_orgs_product_is_404(browser: Browser, world: World) -> None:
    """A product's details page; another org's product, or one not on the portal, is a 404."""
    pid = product_id(world, world.demo, "Prepaid 30 days")
    page = browser.get(f"/demo/portal/products/{pid}").text
    assert "Prepaid 30 days" in page and "for 30 days" in page and "Sign in to order" in page
    assert browser.get(f"/other/portal/products/{pid}").code == 404
    hidden = product_id(world, world.demo, "Router installation")
    assert browser.get(f"/demo/portal/products/{hidden}").code == 404


# -- the cart ---------------------------------------------------------------------------------------------

def test_empty_cart_says_so(ama: Browser) -> None:
    """An empty cart says it is empty and links to the products; checkout sends back to the cart."""
    page = ama.get("/demo/portal/cart").text
    assert "Your cart is empty." in page and 'href="../../demo/portal/products"' in page
    r = ama.get("/demo/portal/checkout")
    assert r.code == 303 and r.required_header("Location").endswith("/demo/portal/cart")


def test_cart_add_remove_count_and_total_with_vat(ama: Browser, world: World) -> None:
    """Adding shows the count on the cart link and the total with VAT (price + setup fee, 15 % on top);
    remove takes one item out; "select more" links to the products."""
    p10, ip = product_id(world, world.demo, "Home 10M"), product_id(world, world.demo, "Static IP")
    assert add(ama, p10) == 303
    assert add(ama, ip) == 303
    page = ama.get("/demo/portal/cart").text
    assert '<span class="cart-count">2</span>' in page
    # (25 + 10 setup) * 1.15 = 40.25; 5 * 1.15 = 5.75 → 46.00
    assert re.search(r'id="cart-total">\$46\.00<', page)
    assert "Select more" in page
    assert '<span class="cart-count">2</span>' in ama.get("/demo/portal/").text   # on every page
    item = re.search(r'name="item_id" value="(\d+)"', page)
    assert item
    token = ama.csrf("/demo/portal/cart")
    assert ama.post("/demo/portal/cart/remove", {"csrf": token, "item_id": item.group(1)}).code == 303
    page = ama.get("/demo/portal/cart").text
    assert '<span class="cart-count">1</span>' in page and "Home 10M" not in page.split("<main>")[1]


def test_cart_refuses_a_product_not_on_sale(ama: Browser, world: World) -> None:
    """A product not on the portal, or another org's, is not added: 400 with the message on the cart page."""
    for pid in (product_id(world, world.demo, "Router installation"), product_id(world, world.other, "Home 10M")):
        token = ama.csrf("/demo/portal/cart")
        r = ama.post("/demo/portal/cart/add", {"csrf": token, "product_id": str(pid)})
        assert r.code == 400 and "not sold here" in r.text
    assert "Your cart is empty." in ama.get("/demo/portal/cart").text


def test_cart_needs_sign_in_and_csrf(browser: Browser, world: World) -> None:
    """A visitor is sent to sign in; a signed-in POST without its token is 403 and adds nothing."""
    r = browser.get("/demo/portal/cart")
    assert r.code == 303 and "login?next=cart" in r.required_header("Location")
    browser.login("demo", "ama@example.com")
    pid = product_id(world, world.demo, "Home 10M")
    assert browser.post("/demo/portal/cart/add", {"product_id": str(pid)}).code == 403
    assert browser.post("/demo/portal/cart/add", {"csrf": "x" * 40, "product_id": str(pid)}).code == 403
    assert "Your cart is empty." in browser.get("/demo/portal/cart").text


# -- checkout ----------------------------------------------------------------------------------------------

def test_checkout_through_the_gateway_goes_to_its_page(ama: Browser, world: World) -> None:
    """Gateway checkout: the order placed (pending services), the cart emptied, 303 to the test gateway's
    hosted page for the order's total."""
    add(ama, product_id(world, world.demo, "Static IP"))
    page = ama.get("/demo/portal/checkout").text
    assert "Place order and pay" in page and "$5.75" in page
    token = ama.csrf("/demo/portal/checkout")
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "gateway", "note": ""})
    assert r.code == 303 and "/gateway/test/" in r.required_header("Location"), r.required_header("Location")
    cid = customer_id(world, world.demo, "ama@example.com")
    with world.db.engine.connect() as c:
        (o, *_) = orders.of_customer(c, world.demo, cid)
        assert (o.method, o.status, o.total) == ("gateway", "placed", 575)
        assert cart.count(c, world.demo, cid) == 0


def test_checkout_as_a_request_opens_a_ticket(ama: Browser, world: World) -> None:
    """Request checkout (org setting request, via ticket): the order's page says it reached the admins and
    links the ticket about it, which holds the order's lines and the note."""
    set_checkout(world, "request")
    add(ama, product_id(world, world.demo, "Home 10M"))
    token = ama.csrf("/demo/portal/checkout")
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "request", "note": "Saturdays please"})
    assert r.code == 303
    loc = r.required_header("Location")
    m = re.search(r"/demo/portal/orders/(\d+)\?placed=1$", loc)
    assert m, loc
    page = ama.get(f"/demo/portal/orders/{m.group(1)}?placed=1").text
    assert "has reached us" in page and "Pay now" in page and "$40.25" in page
    t = re.search(r'tickets/(\d+)">its ticket', page)
    assert t
    ticket = ama.get(f"/demo/portal/tickets/{t.group(1)}").text
    assert "Home 10M: $40.25" in ticket and "Saturdays please" in ticket


def test_checkout_request_by_email_opens_no_ticket(ama: Browser, world: World) -> None:
    """With requests by e-mail, no ticket is opened for the order."""
    set_checkout(world, "request", "email")
    add(ama, product_id(world, world.demo, "Static IP"))
    token = ama.csrf("/demo/portal/checkout")
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "request", "note": ""})
    oid = int(r.required_header("Location").split("/orders/")[1].split("?")[0])
    with world.db.engine.connect() as c:
        assert tickets.page(c, world.demo, order_id=oid).items == []


def test_checkout_bad_fields_keep_what_was_typed(ama: Browser, world: World) -> None:
    """Both methods offered: none chosen is a message next to the choice; an overlong note one next to the
    note; the note typed is kept; the cart is untouched."""
    set_checkout(world, "both")
    add(ama, product_id(world, world.demo, "Static IP"))
    token = ama.csrf("/demo/portal/checkout")
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "", "note": "ring the bell <b>"})
    assert r.code == 400
    assert 'id="method-error"' in r.text and "ring the bell &lt;b&gt;</textarea>" in r.text
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "request", "note": "x" * 1200})
    assert r.code == 400 and 'id="note-error"' in r.text and 'value="request" checked' in r.text
    assert '<span class="cart-count">1</span>' in ama.get("/demo/portal/cart").text


def test_checkout_without_csrf_is_403(ama: Browser, world: World) -> None:
    """No token: 403 and no order."""
    add(ama, product_id(world, world.demo, "Static IP"))
    cid = customer_id(world, world.demo, "ama@example.com")
    with world.db.engine.connect() as c:
        before = len(orders.of_customer(c, world.demo, cid))
    assert ama.post("/demo/portal/checkout", {"method": "gateway"}).code == 403
    with world.db.engine.connect() as c:
        assert len(orders.of_customer(c, world.demo, cid)) == before


# -- orders -----------------------------------------------------------------------------------------------

def test_orders_list_and_other_customers_order_is_404(ama: Browser, world: World, root: Any) -> None:
    """The orders page lists the customer's orders; another customer's order, or another org's, is 404."""
    set_checkout(world, "request")
    add(ama, product_id(world, world.demo, "Static IP"))
    token = ama.csrf("/demo/portal/checkout")
    oid = ama.post("/demo/portal/checkout", {"csrf": token, "method": "request"}).required_header(
        "Location").split("/orders/")[1].split("?")[0]
    assert f"ORD-{int(oid):06d}" in ama.get("/demo/portal/orders").text
    assert ama.get(f"/other/portal/orders/{oid}").code in (303, 404)    # not signed in there: never the order
    other = Browser(root)
    assert other.login("demo", "yaw@example.com").code == 303
    assert other.get(f"/demo/portal/orders/{oid}").code == 404
    assert "Pay now" in ama.get(f"/demo/portal/orders/{oid}").text


def test_paid_order_approved_later_shows_its_credit_note(ama: Browser, world: World, root: Any) -> None:
    """Paid (services active from the payment date), approved with a start 13 days later: the order's page
    lists its invoice and the unused-days credit note, which opens (HTML); not for another customer."""
    from datetime import timedelta

    from aaad.view.write import LoginWriter
    add(ama, product_id(world, world.demo, "Static IP"))
    token = ama.csrf("/demo/portal/checkout")
    r = ama.post("/demo/portal/checkout", {"csrf": token, "method": "gateway"})
    assert r.code == 303
    cid = customer_id(world, world.demo, "ama@example.com")
    with world.db.engine.begin() as c:
        o = orders.of_customer(c, world.demo, cid)[0]
        orders.paid(c, LoginWriter(world.box), world.demo, o.id, NOW.date(), NOW)
        orders.approve(c, LoginWriter(world.box), world.demo, o.id, NOW.date() + timedelta(days=13), NOW)
    page = ama.get(f"/demo/portal/orders/{o.id}").text
    assert "Invoice " in page and "(unused days)" in page
    m = re.search(r'href="([^"]*orders/credit-notes/(\d+)\.html)"', page)
    assert m
    doc = ama.get(f"/demo/portal/orders/credit-notes/{m.group(2)}.html")
    assert doc.code == 200 and "Static IP" in doc.text
    other = Browser(root)
    other.login("demo", "yaw@example.com")
    assert other.get(f"/demo/portal/orders/credit-notes/{m.group(2)}.html").code == 404
    assert other.get(f"/demo/portal/orders/{o.id}").code == 404


# -- tickets ------------------------------------------------------------------------------------------------

def test_open_read_reply_close_a_ticket(ama: Browser, world: World) -> None:
    """Open a ticket, read it with an admin's reply, reply, close it; the list shows it."""
    token = ama.csrf("/demo/portal/tickets/new")
    r = ama.post("/demo/portal/tickets/new", {"csrf": token, "subject": "Slow evenings", "body": "Since Monday."})
    assert r.code == 303
    tid = int(r.required_header("Location").rsplit("/", 1)[1])
    with world.db.engine.begin() as c:
        tickets.reply(c, world.demo, tid, "admin", "We are looking into it.", NOW, author_name="Kojo")
    page = ama.get(f"/demo/portal/tickets/{tid}").text
    assert "Since Monday." in page and "We are looking into it." in page and "Kojo" in page
    assert ">Answered<" in page
    token = ama.csrf(f"/demo/portal/tickets/{tid}")
    assert ama.post(f"/demo/portal/tickets/{tid}/reply", {"csrf": token, "body": "Thanks!"}).code == 303
    assert ama.post(f"/demo/portal/tickets/{tid}/close", {"csrf": token}).code == 303
    page = ama.get(f"/demo/portal/tickets/{tid}").text
    assert "Thanks!" in page and ">Closed<" in page
    assert "Slow evenings" in ama.get("/demo/portal/tickets").text


def test_ticket_form_messages_next_to_fields_keep_typed(ama: Browser) -> None:
    """An empty subject and body get messages next to them; what was typed stays; a reply too."""
    token = ama.csrf("/demo/portal/tickets/new")
    r = ama.post("/demo/portal/tickets/new", {"csrf": token, "subject": "My <router>", "body": "  "})
    assert r.code == 400
    assert 'id="body-error"' in r.text and 'value="My &lt;router&gt;"' in r.text and 'id="subject-error"' not in r.text
    r = ama.post("/demo/portal/tickets/new", {"csrf": token, "subject": "", "body": "kept text"})
    assert r.code == 400 and 'id="subject-error"' in r.text and "kept text</textarea>" in r.text
    r = ama.post("/demo/portal/tickets/new", {"csrf": token, "subject": "ok", "body": "x"})
    tid = r.required_header("Location").rsplit("/", 1)[1]
    r = ama.post(f"/demo/portal/tickets/{tid}/reply", {"csrf": token, "body": "x" * 5001})
    assert r.code == 400 and 'id="body-error"' in r.text and "x" * 5001 + "</textarea>" in r.text


def test_tickets_csrf_and_other_customers_and_orgs_tickets(ama: Browser, world: World) -> None:
    """Without a token: 403; another customer's ticket and another org's are 404 to read, reply and close."""
    assert ama.post("/demo/portal/tickets/new", {"subject": "s", "body": "b"}).code == 403
    yaw_id = customer_id(world, world.demo, "yaw@example.com")
    other_org = customer_id(world, world.other, "ama@example.com")
    with world.db.engine.begin() as c:
        t1 = tickets.open_ticket(c, world.demo, yaw_id, "Yaw's", "private", NOW).ticket.id
        t2 = tickets.open_ticket(c, world.other, other_org, "Other org", "private", NOW).ticket.id
    token = ama.csrf("/demo/portal/tickets/new")
    for tid in (t1, t2):
        assert ama.get(f"/demo/portal/tickets/{tid}").code == 404
        assert ama.post(f"/demo/portal/tickets/{tid}/reply", {"csrf": token, "body": "hi"}).code == 404
        assert ama.post(f"/demo/portal/tickets/{tid}/close", {"csrf": token}).code == 404
    assert "private" not in ama.get("/demo/portal/tickets").text
    with world.db.engine.connect() as c:
        assert len(tickets.messages(c, world.demo, t1)) == 1
