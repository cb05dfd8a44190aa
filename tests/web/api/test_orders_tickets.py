"""/orders, /shop-settings and /tickets: listing and reading, approving an order with the actual start date
(a paid order's later start credits the unused days), cancelling, the checkout settings, tickets opened,
replied and closed by admins; errors, the other org's ids and the read-only token."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from aaad.view.write import LoginWriter
from billing import catalogue, services
from billing.orders import orders, tickets
from tests.web.api.conftest import NOW, ApiClient, World
from tests.web.portal.conftest import customer_id


def place(world: World, org_id: int, email: str = "yaw@example.com", product: str = "Static IP",
          method: str = "request") -> orders.Order:
    cid = customer_id(world, org_id, email)
    with world.db.engine.begin() as c:
        p = catalogue.product_by_name(c, org_id, product)
        assert p is not None
        return orders.place(c, LoginWriter(world.box), org_id, cid, [p.id], NOW, method=method, note="api test")


@pytest.fixture
def order(world: World) -> orders.Order:
    return place(world, world.demo)


def test_list_and_get_orders(api: ApiClient, world: World, order: orders.Order) -> None:
    """An order is listed (newest first, by customer, status and method) and read with its items."""
    items = api.get(f"/orders?customer_id={order.customer_id}&status=placed&method=request").json()["items"]
    assert order.id in [o["id"] for o in items]
    got = api.get(f"/orders/{order.id}").json()
    assert (got["number"], got["status"], got["method"], got["currency"]) == (order.number, "placed", "request",
                                                                             "USD")
    assert [(i["name"], i["gross"]) for i in got["items"]] == [("Static IP", 575)] and got["total"] == 575
    assert got["items"][0]["service_id"] == order.items[0].service_id
    r = api.get("/orders?status=lost&sort=name")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"status", "sort"}


def test_approve_starts_the_services(api: ApiClient, world: World, order: orders.Order) -> None:
    """Approval with a start date: the order active, its pending service active from that date."""
    start = (NOW + timedelta(days=3)).date()
    r = api.post(f"/orders/{order.id}/approve", {"start": start.isoformat()})
    assert r.code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["approved_at"]
    with world.db.engine.connect() as c:
        svc = services.get(c, world.demo, order.items[0].service_id or 0)
    assert svc is not None and (svc.state, svc.start_date) == ("active", start)


def test_paid_order_approved_later_credits_unused_days(api: ApiClient, world: World) -> None:
    """Paid (services active from the payment date), then approved 13 days later: an unused-days credit note
    for the customer."""
    o = place(world, world.demo, email="akosua@example.com", product="Home 10M", method="gateway")
    paid_day = NOW.date()
    with world.db.engine.begin() as c:
        orders.paid(c, LoginWriter(world.box), world.demo, o.id, paid_day, NOW)
    before = {n["id"] for n in api.get(f"/credit-notes?customer_id={o.customer_id}").json()["items"]}
    r = api.post(f"/orders/{o.id}/approve", {"start": (paid_day + timedelta(days=13)).isoformat()})
    assert r.code == 200, r.text
    notes = [n for n in api.get(f"/credit-notes?customer_id={o.customer_id}").json()["items"]
             if n["id"] not in before]
    assert [n["kind"] for n in notes] == ["unused_days"] and notes[0]["total"] > 0


def test_approve_errors(api: ApiClient, world: World, order: orders.Order) -> None:
    """A bad date is 422 naming start; an unknown id and the other org's are 404; read-only is 403."""
    r = api.post(f"/orders/{order.id}/approve", {"start": "soon"})
    assert r.code == 422 and r.json()["error"]["errors"][0]["field"] == "start"
    assert api.post("/orders/999999/approve", {"start": "2026-12-01"}).code == 404
    theirs = place(world, world.other)
    assert api.post(f"/orders/{theirs.id}/approve", {"start": "2026-12-01"}).code == 404
    assert api.get(f"/orders/{theirs.id}").code == 404
    assert api.as_("demo_ro").post(f"/orders/{order.id}/approve", {"start": "2026-12-01"}).code == 403


def test_cancel_rejects_pending_services_and_not_twice(api: ApiClient, world: World, order: orders.Order) -> None:
    """Cancel: cancelled, its pending service rejected; cancelling again is 422 naming the order."""
    r = api.post(f"/orders/{order.id}/cancel", {"reason": "changed mind"})
    assert r.code == 200 and r.json()["status"] == "cancelled"
    with world.db.engine.connect() as c:
        svc = services.get(c, world.demo, order.items[0].service_id or 0)
    assert svc is not None and svc.state == "rejected"
    r = api.post(f"/orders/{order.id}/cancel", {})
    assert r.code == 422 and r.json()["error"]["errors"][0]["field"] == "order"


def test_shop_settings_read_and_change(api: ApiClient) -> None:
    """Defaults, a change of one field keeps the other, bad values are 422; read-only cannot change."""
    r = api.patch("/shop-settings", {"checkout": "both"})
    assert r.code == 200 and r.json()["checkout"] == "both"
    r = api.patch("/shop-settings", {"request_via": "email"})
    assert (r.json()["checkout"], r.json()["request_via"]) == ("both", "email")
    assert api.get("/shop-settings").json()["request_via"] == "email"
    assert api.as_("other").get("/shop-settings").json()["checkout"] in ("gateway", "request", "both")
    r = api.patch("/shop-settings", {"checkout": "cash"})
    assert r.code == 422 and r.json()["error"]["errors"][0]["field"] == "checkout"
    assert api.as_("demo_ro").patch("/shop-settings", {"checkout": "gateway"}).code == 403
    api.patch("/shop-settings", {"checkout": "gateway", "request_via": "ticket"})


def test_tickets_create_reply_close_list(api: ApiClient, world: World) -> None:
    """An admin writes to a customer (answered), the customer replies (open), the admin replies and closes;
    the list filters by customer and status; a ticket reads with its messages oldest first."""
    cid = customer_id(world, world.demo, "efua@example.com")
    r = api.post("/tickets", {"customer_id": cid, "subject": "Maintenance", "body": "Tonight 2-4am.",
                              "author_name": "NOC"})
    assert r.code == 201, r.text
    t = r.json()
    assert (t["status"], t["messages"][0]["author"], t["messages"][0]["author_name"]) == ("answered", "admin",
                                                                                          "NOC")
    with world.db.engine.begin() as c:
        tickets.reply(c, world.demo, t["id"], "customer", "OK, thanks", NOW)
    assert api.get(f"/tickets?customer_id={cid}&status=open").json()["items"][0]["id"] == t["id"]
    r = api.post(f"/tickets/{t['id']}/replies", {"body": "You're welcome."})
    assert r.code == 200 and r.json()["status"] == "answered"
    assert [m["author"] for m in r.json()["messages"]] == ["admin", "customer", "admin"]
    r = api.post(f"/tickets/{t['id']}/close")
    assert r.code == 200 and r.json()["status"] == "closed"
    assert api.get(f"/tickets/{t['id']}").json()["messages"][1]["body"] == "OK, thanks"


def test_ticket_errors_and_isolation(api: ApiClient, world: World) -> None:
    """Empty fields are 422 naming them; a customer of the other org is 422 naming customer_id; the other
    org's ticket is 404 to read, reply and close; read-only cannot write."""
    r = api.post("/tickets", {"customer_id": 1, "subject": "", "body": ""})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"subject", "body"}
    other_cid = customer_id(world, world.other, "ama@example.com")
    r = api.post("/tickets", {"customer_id": other_cid, "subject": "x", "body": "y"})
    assert r.code == 422 and r.json()["error"]["errors"][0]["field"] == "customer_id"
    with world.db.engine.begin() as c:
        theirs = tickets.open_ticket(c, world.other, other_cid, "Theirs", "private", NOW).ticket.id
    assert api.get(f"/tickets/{theirs}").code == 404
    assert api.post(f"/tickets/{theirs}/replies", {"body": "hi"}).code == 404
    assert api.post(f"/tickets/{theirs}/close").code == 404
    assert theirs not in [t["id"] for t in api.get("/tickets?limit=500").json()["items"]]
    assert api.get("/tickets/999999").code == 404
    mine = api.post("/tickets", {"customer_id": customer_id(world, world.demo, "efua@example.com"),
                                 "subject": "s", "body": "b"}).json()["id"]
    assert api.as_("demo_ro").post(f"/tickets/{mine}/replies", {"body": "x"}).code == 403
    assert api.as_("demo_ro").get(f"/tickets/{mine}").code == 200


def test_approve_start_date_type(api: ApiClient, order: orders.Order) -> None:
    """The start must be a calendar date within range (422 otherwise)."""
    assert api.post(f"/orders/{order.id}/approve", {"start": "1999-01-01"}).code == 422
    assert api.post(f"/orders/{order.id}/approve", {"start": date(2026, 12, 1).isoformat()}).code == 200
