"""The console's queues in process: registrations (approve one or many with a product, zone and start date,
reject with a reason, ask for more information, the ID document), orders (approve with the start date,
cancel) and tickets (reply, close); lists filtered, paged and exported as CSV; the dashboard's figures link
them; a role without the write permission gets the 403 page; every POST needs the CSRF token; an admin of
org "other" gets 404 for every demo id; a bad field gets its message next to it with what was typed kept."""
from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from aaad.view.write import LoginWriter
from billing import catalogue, customers, services
from billing.orders import orders, tickets
from billing.signup import registrations, uploads
from tests.web.admin.conftest import Admin
from tests.web.api.conftest import NOW, World
from web.apistore import audit_query

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# -- helpers ---------------------------------------------------------------------------------------

def _product(world: World) -> int:
    """An active internet product of the demo org sold everywhere."""
    with world.db.engine.connect() as c:
        return next(p.id for p in catalogue.list_products(c, world.demo, active_only=True)
                    if p.type == "internet" and not p.zones)


def _registration(world: World, document: Any = None) -> registrations.Registration:
    with world.db.engine.begin() as c:
        return registrations.seed_one(c, world.demo, NOW, document=document)


def _status(world: World, registration_id: int) -> registrations.Registration:
    with world.db.engine.connect() as c:
        r = registrations.get(c, world.demo, registration_id)
    assert r is not None
    return r


def _customer(world: World) -> int:
    with world.db.engine.begin() as c:
        return customers.add(c, world.demo, NOW, name="Queue Tester", status="active").id


def _order(world: World) -> orders.Order:
    cid, pid = _customer(world), _product(world)
    with world.db.engine.begin() as c:
        return orders.place(c, LoginWriter(world.box), world.demo, cid, [pid], NOW, method="request",
                            portal=False)


def _ticket(world: World) -> tickets.Ticket:
    cid = _customer(world)
    with world.db.engine.begin() as c:
        return tickets.open_ticket(c, world.demo, cid, "My line is slow", "Since Monday.", NOW).ticket


def _token(b: Admin) -> str:
    return b.form_csrf("/admin/")


def _audited(world: World, target: str) -> bool:
    with world.db.engine.connect() as c:
        return any(e.target == target and e.token_name.startswith("admin:")
                   for e in c.execute(audit_query(world.demo)).all())


def _error_next_to(page: str, name: str) -> bool:
    """The field has its message (id ``name-error``) and points to it."""
    return f'id="{name}-error"' in page and re.search(rf'id="{name}"[^>]*aria-describedby="{name}-error', page) \
        is not None


# -- registrations -------------------------------------------------------------------------------

def test_the_queue_shows_pending_first_and_filters(console_as: Any, people: Any) -> None:
    """The queue opens on the pending registrations; ?status=all shows every one, ?q= finds by e-mail."""
    world = people.world
    reg = _registration(world)
    b = console_as("support")
    page = b.get("/admin/registrations")
    assert page.code == 200 and f'registrations/{reg.id}"' in page.text and reg.name in page.text
    assert 'name="ids"' not in page.text             # support may not approve: no ticks, no form
    assert f'registrations/{reg.id}"' in b.get("/admin/registrations?status=all").text
    assert f'registrations/{reg.id}"' not in b.get("/admin/registrations?status=rejected").text
    found = b.get(f"/admin/registrations?status=all&q={reg.email}").text
    assert f'registrations/{reg.id}"' in found
    assert "No registration matches" in b.get("/admin/registrations?q=nobody-at-all").text
    assert b.get("/admin/registrations?after=not-a-cursor").code == 200


def test_the_queue_as_csv(console_as: Any, people: Any) -> None:
    """?format=csv: every pending registration of the org, one row each, as a download."""
    reg = _registration(people.world)
    r = console_as("owner").get("/admin/registrations?format=csv")
    assert r.code == 200 and r.header("Content-Type") == "text/csv; charset=utf-8"
    assert "attachment" in (r.header("Content-Disposition") or "")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["id", "status", "name"]
    assert [str(reg.id), "pending", reg.name] in [row[:3] for row in rows]


def test_the_dashboard_links_the_queues(console_as: Any) -> None:
    """The pending registrations, orders to handle and open tickets figures link their lists."""
    page = console_as("owner").get("/admin/").text
    for key, href in (("pending_registrations", "registrations?status=pending"),
                      ("placed_orders", "orders?status=placed"), ("open_tickets", "tickets?status=open")):
        fig = page.split(f'id="figure-{key}"')[1].split("</li>")[0]
        assert f'<a href="../admin/{href}"' in fig, key
    menu = page.split('aria-label="Console"')[1].split("</nav>")[0]
    assert ">Registrations</a>" in menu and ">Orders</a>" in menu and ">Tickets</a>" in menu
    assert ">Vouchers</a>" in menu


def test_a_registration_page_and_its_document(console_as: Any, site: Any, people: Any, tmp_path: Any) -> None:
    """The page shows what the applicant sent and links the ID document, served as a download."""
    world = people.world
    site[1].conf = site[1].conf.replace("server", data_dir=str(tmp_path))
    doc = uploads.store(tmp_path, world.demo, "id card.pdf", PDF, 100_000)
    reg = _registration(world, doc)
    b = console_as("support")
    page = b.get(f"/admin/registrations/{reg.id}")
    assert page.code == 200 and reg.email in page.text and "1 Main Street" in page.text
    assert f'registrations/{reg.id}/document"' in page.text and "id card.pdf" in page.text
    assert "/approve" not in page.text               # support cannot decide
    r = b.get(f"/admin/registrations/{reg.id}/document")
    assert r.code == 200 and r.body == PDF and r.header("Content-Type") == "application/pdf"
    assert "attachment" in (r.header("Content-Disposition") or "")
    plain = _registration(world)
    assert b.get(f"/admin/registrations/{plain.id}/document").code == 404


def test_approve_one_with_product_zone_and_start(console_as: Any, people: Any) -> None:
    """Approving makes the customer and the service of the product from the start date; audited."""
    world = people.world
    reg, pid = _registration(world), _product(world)
    b = console_as("admin")
    r = b.post(f"/admin/registrations/{reg.id}/approve",
               {"csrf": _token(b), "product_id": str(pid), "zone": "", "start": "2026-12-01"})
    assert r.code == 303 and (r.header("Location") or "").endswith(f"admin/registrations/{reg.id}?done=approved")
    done = _status(world, reg.id)
    assert done.status == "approved" and done.product_id == pid and done.customer_id and done.service_id
    with world.db.engine.connect() as c:
        svc = services.get(c, world.demo, done.service_id)
    assert svc is not None and svc.start_date is not None and svc.start_date.isoformat() == "2026-12-01"
    page = b.get(f"/admin/registrations/{reg.id}?done=approved").text
    assert "Approved." in page and f"customers/{done.customer_id}" in page and "/approve" not in page
    assert _audited(world, f"registration {reg.id}")


def test_approve_many(console_as: Any, people: Any) -> None:
    """The ticked registrations are approved with one product; one decided already is reported."""
    world = people.world
    a, c, pid = _registration(world), _registration(world), _product(world)
    b = console_as("owner")
    b.post(f"/admin/registrations/{c.id}/reject", {"csrf": _token(b), "reason": "Duplicate"})
    r = b.post("/admin/registrations/bulk-approve",
               [("csrf", _token(b)), ("ids", str(a.id)), ("ids", str(c.id)), ("product_id", str(pid)),
                ("zone", ""), ("start", "")])
    assert r.code == 200 and "1 approved, 1 not." in r.text and f"Registration {c.id}:" in r.text
    assert _status(world, a.id).status == "approved" and _status(world, c.id).status == "rejected"
    r = b.post("/admin/registrations/bulk-approve", {"csrf": _token(b), "product_id": str(pid)})
    assert r.code == 400 and "Tick the registrations to approve." in r.text
    third = _registration(world)
    r = b.post("/admin/registrations/bulk-approve",
               [("csrf", _token(b)), ("ids", str(third.id)), ("product_id", str(pid)), ("start", "someday")])
    assert r.code == 400 and _error_next_to(r.text, "start") and 'value="someday"' in r.text
    assert f'value="{third.id}" id="tick-{third.id}" aria-label="Approve {third.name}" checked' in r.text
    assert _status(world, third.id).status == "pending"


def test_reject_and_ask_for_more_information(console_as: Any, people: Any) -> None:
    """Reject with a reason; ask a question (the registration waits for the applicant's answer)."""
    world = people.world
    one, two = _registration(world), _registration(world)
    b = console_as("admin")
    r = b.post(f"/admin/registrations/{one.id}/reject", {"csrf": _token(b), "reason": "Outside our area"})
    assert r.code == 303
    assert (_status(world, one.id).status, _status(world, one.id).reason) == ("rejected", "Outside our area")
    r = b.post(f"/admin/registrations/{two.id}/request-info",
               {"csrf": _token(b), "question": "Which house is yours?", "days": "7"})
    assert r.code == 303
    asked = _status(world, two.id)
    assert (asked.status, asked.question) == ("info_requested", "Which house is yours?")
    assert "Which house is yours?" in b.get(f"/admin/registrations/{two.id}").text


def test_bad_fields_keep_what_was_typed(console_as: Any, people: Any) -> None:
    """A bad start date, an empty reason or question, bad days: 400, the message next to the field, the
    typed value kept, nothing decided."""
    world = people.world
    reg = _registration(world)
    b = console_as("owner")
    r = b.post(f"/admin/registrations/{reg.id}/approve",
               {"csrf": _token(b), "product_id": "", "zone": "", "start": "next tuesday"})
    assert r.code == 400 and _error_next_to(r.text, "start") and 'value="next tuesday"' in r.text
    r = b.post(f"/admin/registrations/{reg.id}/approve",
               {"csrf": _token(b), "product_id": "999999", "zone": "", "start": ""})
    assert r.code == 400 and _error_next_to(r.text, "product_id")
    r = b.post(f"/admin/registrations/{reg.id}/reject", {"csrf": _token(b), "reason": "   "})
    assert r.code == 400 and _error_next_to(r.text, "reason")
    r = b.post(f"/admin/registrations/{reg.id}/request-info",
               {"csrf": _token(b), "question": "Where exactly?", "days": "500"})
    assert r.code == 400 and _error_next_to(r.text, "days") and "Where exactly?</textarea>" in r.text
    assert _status(world, reg.id).status == "pending"
    b.post(f"/admin/registrations/{reg.id}/reject", {"csrf": _token(b), "reason": "No"})
    r = b.post(f"/admin/registrations/{reg.id}/reject", {"csrf": _token(b), "reason": "Again"})
    assert r.code == 400 and 'id="form-error"' in r.text and "rejected already" in r.text


# -- orders --------------------------------------------------------------------------------------

def test_orders_list_page_approve_and_cancel(console_as: Any, people: Any) -> None:
    """The list filters by status (CSV too); an order is approved with its start date, another cancelled."""
    world = people.world
    o, other = _order(world), _order(world)
    b = console_as("admin")
    listed = b.get("/admin/orders?status=placed")
    assert listed.code == 200 and f'orders/{o.id}"' in listed.text and "Queue Tester" in listed.text
    assert f'orders/{o.id}"' not in b.get("/admin/orders?status=cancelled").text
    rows = list(csv.reader(io.StringIO(b.get("/admin/orders?status=placed&format=csv").text)))
    assert rows[0][0] == "number" and o.number in [row[0] for row in rows]
    page = b.get(f"/admin/orders/{o.id}")
    assert page.code == 200 and o.number in page.text and "/approve" in page.text
    r = b.post(f"/admin/orders/{o.id}/approve", {"csrf": _token(b), "start": "2026-12-03"})
    assert r.code == 303
    with world.db.engine.connect() as c:
        assert orders.require(c, world.demo, o.id).status == "active"
    r = b.post(f"/admin/orders/{other.id}/cancel", {"csrf": _token(b), "reason": "Changed their mind"})
    assert r.code == 303
    with world.db.engine.connect() as c:
        assert orders.require(c, world.demo, other.id).status == "cancelled"
    assert _audited(world, f"order {o.id}") and _audited(world, f"order {other.id}")
    r = b.post(f"/admin/orders/{other.id}/cancel", {"csrf": _token(b), "reason": ""})
    assert r.code == 400 and "only a placed, unpaid order" in r.text


def test_order_approval_needs_a_date(console_as: Any, people: Any) -> None:
    """No or a bad start date: 400 with the message next to the field and the text kept."""
    o = _order(people.world)
    b = console_as("owner")
    r = b.post(f"/admin/orders/{o.id}/approve", {"csrf": _token(b), "start": "soon"})
    assert r.code == 400 and _error_next_to(r.text, "start") and 'value="soon"' in r.text
    r = b.post(f"/admin/orders/{o.id}/approve", {"csrf": _token(b), "start": ""})
    assert r.code == 400 and _error_next_to(r.text, "start")


# -- tickets -------------------------------------------------------------------------------------

def test_tickets_list_reply_and_close(console_as: Any, people: Any) -> None:
    """Support reads the open tickets, replies (answered, the reply in the thread) and closes the ticket."""
    world = people.world
    t = _ticket(world)
    b = console_as("support")
    listed = b.get("/admin/tickets?status=open")
    assert listed.code == 200 and f'tickets/{t.id}"' in listed.text
    rows = list(csv.reader(io.StringIO(b.get("/admin/tickets?format=csv").text)))
    assert [str(t.id), "open", "My line is slow"] in [row[:3] for row in rows]
    page = b.get(f"/admin/tickets/{t.id}")
    assert page.code == 200 and "Since Monday." in page.text
    r = b.post(f"/admin/tickets/{t.id}/reply", {"csrf": _token(b), "body": "We are looking at it."})
    assert r.code == 303
    page = b.get(f"/admin/tickets/{t.id}?done=replied").text
    assert "We are looking at it." in page and "Replied" in page and "Support" in page
    r = b.post(f"/admin/tickets/{t.id}/reply", {"csrf": _token(b), "body": "  "})
    assert r.code == 400 and _error_next_to(r.text, "body")
    assert b.post(f"/admin/tickets/{t.id}/close", {"csrf": _token(b)}).code == 303
    with world.db.engine.connect() as c:
        assert tickets.require(c, world.demo, t.id).status == "closed"
    assert f'tickets/{t.id}"' in b.get("/admin/tickets?status=closed").text
    assert _audited(world, f"ticket {t.id}")


# -- roles, CSRF, isolation ------------------------------------------------------------------------

def test_roles_without_the_write_permission_get_the_403_page(console_as: Any, people: Any) -> None:
    """Support may not decide registrations or orders; a cashier may not answer tickets. Nothing changes."""
    world = people.world
    reg, o, t = _registration(world), _order(world), _ticket(world)
    support = console_as("support")
    token = _token(support)
    for path, data, permission in (
            (f"/admin/registrations/{reg.id}/approve", {"start": ""}, "registrations.write"),
            (f"/admin/registrations/{reg.id}/reject", {"reason": "x"}, "registrations.write"),
            (f"/admin/registrations/{reg.id}/request-info", {"question": "x"}, "registrations.write"),
            ("/admin/registrations/bulk-approve", {"ids": str(reg.id)}, "registrations.write"),
            (f"/admin/orders/{o.id}/approve", {"start": "2026-12-01"}, "orders.write"),
            (f"/admin/orders/{o.id}/cancel", {"reason": "x"}, "orders.write")):
        r = support.post(path, {**data, "csrf": token})
        assert r.code == 403 and permission in r.text, path
    cashier = console_as("cashier")
    token = _token(cashier)
    for path, data in ((f"/admin/tickets/{t.id}/reply", {"body": "hi"}), (f"/admin/tickets/{t.id}/close", {})):
        r = cashier.post(path, {**data, "csrf": token})
        assert r.code == 403 and "tickets.write" in r.text, path
    assert _status(world, reg.id).status == "pending"
    with world.db.engine.connect() as c:
        assert orders.require(c, world.demo, o.id).status == "placed"
        assert tickets.require(c, world.demo, t.id).status == "open"


def test_every_post_needs_the_csrf_token(console_as: Any, people: Any) -> None:
    """Each form's POST without the session's token: 403, nothing changes."""
    world = people.world
    reg, o, t = _registration(world), _order(world), _ticket(world)
    b = console_as("owner")
    for path, data in ((f"/admin/registrations/{reg.id}/approve", {"start": ""}),
                       (f"/admin/registrations/{reg.id}/reject", {"reason": "x"}),
                       (f"/admin/registrations/{reg.id}/request-info", {"question": "x"}),
                       ("/admin/registrations/bulk-approve", {"ids": str(reg.id)}),
                       (f"/admin/orders/{o.id}/approve", {"start": "2026-12-01"}),
                       (f"/admin/orders/{o.id}/cancel", {"reason": "x"}),
                       (f"/admin/tickets/{t.id}/reply", {"body": "hi"}),
                       (f"/admin/tickets/{t.id}/close", {})):
        assert b.post(path, data).code == 403, path
        assert b.post(path, {**data, "csrf": "forged"}).code == 403, path
    assert _status(world, reg.id).status == "pending"
    with world.db.engine.connect() as c:
        assert orders.require(c, world.demo, o.id).status == "placed"
        assert tickets.require(c, world.demo, t.id).status == "open"


@pytest.fixture
def demo_ids(people: Any) -> dict[str, int]:
    """A registration, order and ticket of the demo org."""
    world = people.world
    return {"registration": _registration(world).id, "order": _order(world).id, "ticket": _ticket(world).id}


def test_an_admin_of_another_org_reaches_nothing_of_demo(console_as: Any, people: Any,
                                                        demo_ids: dict[str, int]) -> None:
    """The owner of org "other" gets 404 for every demo id on every route, reading and writing."""
    b = console_as("other")
    token = _token(b)
    rid, oid, tid = demo_ids["registration"], demo_ids["order"], demo_ids["ticket"]
    for path in (f"/admin/registrations/{rid}", f"/admin/registrations/{rid}/document", f"/admin/orders/{oid}",
                 f"/admin/tickets/{tid}"):
        assert b.get(path).code == 404, path
    for path, data in ((f"/admin/registrations/{rid}/approve", {"start": ""}),
                       (f"/admin/registrations/{rid}/reject", {"reason": "x"}),
                       (f"/admin/registrations/{rid}/request-info", {"question": "x"}),
                       (f"/admin/orders/{oid}/approve", {"start": "2026-12-01"}),
                       (f"/admin/orders/{oid}/cancel", {"reason": "x"}),
                       (f"/admin/tickets/{tid}/reply", {"body": "hi"}),
                       (f"/admin/tickets/{tid}/close", {})):
        assert b.post(path, {**data, "csrf": token}).code == 404, path
    r = b.post("/admin/registrations/bulk-approve", {"csrf": token, "ids": str(rid)})
    assert r.code == 200 and f"no registration {rid}" in r.text
    assert f'registrations/{rid}"' not in b.get("/admin/registrations?status=all").text
    assert f'orders/{oid}"' not in b.get("/admin/orders").text
    assert f'tickets/{tid}"' not in b.get("/admin/tickets").text
    world = people.world
    assert _status(world, rid).status == "pending"
