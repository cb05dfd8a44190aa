"""The console's customers section in process: search and the list (CSV), the customer's page and each of
its actions through the API's domain functions and permissions (a refused role gets the 403 page), CSRF on
every form, org isolation on every route, the lists of sessions, payments and invoices the dashboard links."""
from __future__ import annotations

import csv
import io
import random
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.schema import nas as nas_t
from accounting.schema import sessions as sessions_t
from billing import catalogue, customers, ledger, money, services
from billing.schema import credit_notes as credit_notes_t
from billing.schema import customers as customers_t
from billing.schema import invoices as invoices_t
from billing.schema import payments as payments_t
from billing.schema import services as services_t
from enforcement.schema import actions as actions_t
from tests.web.admin.conftest import Admin
from tests.web.api.conftest import NOW, World
from web.api.app import Deps


@dataclass(frozen=True)
class Ids:
    """One org's demo objects."""
    customer: int           # yaw, suspended
    service: int
    login: int
    payment: int
    invoice: int
    credit_note: int
    session: int


def _ids(world: World, org_id: int) -> Ids:
    with world.db.engine.begin() as c:
        cust = c.execute(sa.select(customers_t.c.id).where(customers_t.c.org_id == org_id,
                                                           customers_t.c.email == "yaw@example.com")).scalar_one()
        svc = c.execute(sa.select(services_t.c.id, services_t.c.login_id).where(
            services_t.c.org_id == org_id, services_t.c.customer_id == cust)).first()
        assert svc is not None
        pay = c.execute(sa.select(sa.func.min(payments_t.c.id)).where(payments_t.c.org_id == org_id)).scalar_one()
        inv = c.execute(sa.select(sa.func.min(invoices_t.c.id)).where(invoices_t.c.org_id == org_id)).scalar_one()
        cn = c.execute(sa.select(sa.func.min(credit_notes_t.c.id)).where(
            credit_notes_t.c.org_id == org_id)).scalar_one()
        nas_id = c.execute(sa.select(sa.func.min(nas_t.c.id)).where(nas_t.c.org_id == org_id)).scalar()
        if nas_id is None:
            nas_id = c.execute(nas_t.insert().values(org_id=org_id, name=f"test-{org_id}", address=f"192.0.2.{org_id}",
                                                     secret_enc=world.box.encrypt(b"s"), created_at=NOW)
                               ).inserted_primary_key[0]
        # an open session of the customer's login (accounting would write it from the router's Start)
        username = c.execute(sa.select(services_t.c.username).where(services_t.c.id == svc.id)).scalar_one()
        sid = c.execute(sessions_t.insert().values(
            session_key=uuid.uuid4().hex, org_id=org_id, nas_id=nas_id, session_id=uuid.uuid4().hex[:8],
            login_id=svc.login_id, username=username, framed_ip="100.64.9.9", start_time=NOW - timedelta(hours=1),
            last_update=NOW - timedelta(minutes=5), input_octets=1_000_000, output_octets=9_000_000)
        ).inserted_primary_key[0]
    return Ids(cust, svc.id, svc.login_id, pay, inv, cn, int(sid))


@pytest.fixture(scope="module")
def demo(world: World, people: Any) -> Ids:
    return _ids(world, world.demo)


@pytest.fixture(scope="module")
def other(world: World, people: Any) -> Ids:
    return _ids(world, world.other)


def _fresh(world: World, *, state: str = "active", email: str | None = "fresh@example.com",
           product: str = "Home 10M") -> tuple[int, services.Service]:
    """A new demo customer with a service of ``product``, active from a week ago or pending."""
    from aaad.view.write import LoginWriter
    w = LoginWriter(world.box)
    with world.db.engine.begin() as c:
        n = random.Random().randrange(10**6)
        cust = customers.add(c, world.demo, NOW, name=f"Fresh Person {n}",
                             email=email.replace("@", f"{n}@") if email else None, rng=random.Random(n))
        prod = catalogue.product_by_name(c, world.demo, product)
        assert prod is not None
        svc = services.add(c, w, world.demo, cust.id, prod.id, NOW,
                           start=None if state == "pending" else NOW.date() - timedelta(days=7),
                           username=f"fresh{n}", password="fresh-pass")
    return cust.id, svc


def _csrf(b: Admin, path: str) -> str:
    return b.form_csrf(path)


def _service(world: World, service_id: int) -> services.Service:
    with world.db.engine.connect() as c:
        s = services.get(c, world.demo, service_id)
    assert s is not None
    return s


# -- search and the list ------------------------------------------------------------------------------

def test_search_finds_by_name_email_and_ip(as_: Any, demo: Ids) -> None:
    """The search box finds a customer by name, e-mail and the IP of an open session; nothing found says what
    to try."""
    b = as_("support")
    for q in ("yaw", "YAW@example.com", "100.64.9.9"):
        r = b.get(f"/admin/customers?q={q}")
        assert r.code == 200 and f'customers/{demo.customer}"' in r.text, q
    r = b.get("/admin/customers?q=nobody-at-all")
    assert r.code == 200 and "No customer matches" in r.text


def test_the_list_filters_by_status_and_exports_csv(as_: Any, demo: Ids) -> None:
    """Without a query: the customers, ?status=suspended only those, an unknown zone the empty state, a bad
    status 400 with the message by the field; ?format=csv every one of them."""
    b = as_("cashier")
    r = b.get("/admin/customers")
    assert r.code == 200 and "Yaw Owusu" in r.text and "Ama Mensah" in r.text and "Download CSV" in r.text
    r = b.get("/admin/customers?status=suspended")
    assert r.code == 200 and "Yaw Owusu" in r.text and "Ama Mensah" not in r.text
    r = b.get("/admin/customers?zone=nowhere")
    assert r.code == 200 and "No customer" in r.text
    r = b.get("/admin/customers?status=sleeping")
    assert r.code == 400 and 'id="f-status-error"' in r.text
    r = b.get("/admin/customers?status=suspended&format=csv")
    assert r.code == 200 and r.header("Content-Type").startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["id", "username", "name"] and any(x[2] == "Yaw Owusu" for x in rows[1:])
    assert all(x[3] == "suspended" for x in rows[1:])


# -- the customer's page ------------------------------------------------------------------------------

def test_the_customer_page(as_: Any, demo: Ids) -> None:
    """Details, services with their login, the live session with Disconnect (for a role that may), balance,
    invoices, payments, credit notes and the timeline; the usage graph's honest empty state."""
    r = as_("owner").get(f"/admin/customers/{demo.customer}")
    assert r.code == 200, r.text[:500]
    t = r.text
    for part in ("Yaw Owusu", "yaw@example.com", "Home 10M", "Live sessions", "100.64.9.9", "Disconnect",
                 "Balance", "Record a payment", "Invoices", "Payments", "Credit notes", "Timeline",
                 "Traffic graphs are off here", "Change plan", "Resume the service", "Reset portal password"):
        assert part in t, part
    assert re.search(r'href="[./]*admin/invoices/\d+\.html"', t)
    cashier = as_("cashier").get(f"/admin/customers/{demo.customer}").text
    assert "Record a payment" in cashier and "Change plan" not in cashier and "Disconnect" not in cashier


def test_unknown_customer_is_404(as_: Any) -> None:
    """A customer id that is not there: the 404 page."""
    assert as_("owner").get("/admin/customers/999999").code == 404


# -- recording a payment ------------------------------------------------------------------------------

def test_record_payment_gives_the_receipt(world: World, as_: Any) -> None:
    """A cashier records what the customer owes, typed as a person types money: the payment is allocated,
    the page links the receipt, which the console serves."""
    cid, _ = _fresh(world)
    with world.db.engine.connect() as c:
        owed = ledger.balance(c, world.demo, cid)
    assert owed > 0
    b = as_("cashier")
    page = f"/admin/customers/{cid}"
    r = b.post(f"{page}/payment", {"csrf": _csrf(b, page), "amount": money.format_amount(owed, "USD"),
                                   "method": "cash", "reference": f"book-{cid}", "note": ""})
    assert r.code == 303, r.text[:500]
    assert re.search(r"customers/\d+\?receipt=\d+$", r.header("Location") or "")
    pid = int((r.header("Location") or "").rsplit("=", 1)[1])
    after = b.get(f"{page}?receipt={pid}")
    assert "recorded" in after.text and f"payments/{pid}.pdf" in after.text and "Nothing owed" in after.text
    doc = b.get(f"/admin/payments/{pid}.html")
    assert doc.code == 200 and "text/html" in doc.header("Content-Type") and "default-src 'none'" in (
        doc.header("Content-Security-Policy") or "")
    with world.db.engine.connect() as c:
        assert ledger.balance(c, world.demo, cid) == 0


@pytest.mark.parametrize("typed,where", [("12,3x", "amount"), ("", "amount"), ("-5", "amount"),
                                         ("1.234", "amount"), ("10.00", "reference")])
def test_a_bad_payment_keeps_what_was_typed(world: World, as_: Any, demo: Ids, typed: str, where: str) -> None:
    """A bad amount (or a missing reference): 400, the message next to its field, what was typed kept."""
    b = as_("cashier")
    page = f"/admin/customers/{demo.customer}"
    r = b.post(f"{page}/payment", {"csrf": _csrf(b, page), "amount": typed, "method": "bank",
                                   "reference": "" if where == "reference" else "ref-typed", "note": "my note"})
    assert r.code == 400
    assert f'id="payment-{where}-error"' in r.text and f'aria-describedby="payment-{where}-error' in r.text
    assert f'value="{typed}"' in r.text and 'value="my note"' in r.text
    assert re.search(r'<option value="bank" selected>', r.text)


def test_the_same_reference_twice_is_refused_by_its_field(world: World, as_: Any) -> None:
    """The domain's duplicate check (the same method and reference) comes back next to the reference."""
    cid, _ = _fresh(world)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    form = {"amount": "1.00", "method": "cash", "reference": f"dup-{cid}", "note": ""}
    assert b.post(f"{page}/payment", {**form, "csrf": _csrf(b, page)}).code == 303
    r = b.post(f"{page}/payment", {**form, "csrf": _csrf(b, page)})
    assert r.code == 400 and 'id="payment-reference-error"' in r.text


# -- a service's life ---------------------------------------------------------------------------------

def test_suspend_and_resume(world: World, as_: Any) -> None:
    """An admin suspends with a reason (none: 400 by the field) and resumes."""
    cid, svc = _fresh(world)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    r = b.post(f"{page}/services/{svc.id}/suspend", {"csrf": _csrf(b, page), "reason": ""})
    assert r.code == 400 and f'id="suspend-{svc.id}-reason-error"' in r.text
    r = b.post(f"{page}/services/{svc.id}/suspend", {"csrf": _csrf(b, page), "reason": "asked to pause"})
    assert r.code == 303 and (r.header("Location") or "").endswith("done=suspended")
    assert _service(world, svc.id).state == "suspended"
    assert "is suspended" in b.get(f"{page}?done=suspended").text
    r = b.post(f"{page}/services/{svc.id}/resume", {"csrf": _csrf(b, page), "reason": ""})
    assert r.code == 303 and _service(world, svc.id).state == "active"


def test_change_plan(world: World, as_: Any) -> None:
    """An admin moves a service to another plan of its type (a bad plan or day: 400 by its field)."""
    cid, svc = _fresh(world)
    with world.db.engine.connect() as c:
        big = catalogue.product_by_name(c, world.demo, "Home 50M")
    assert big is not None
    b = as_("owner")
    page = f"/admin/customers/{cid}"
    text = b.get(page).text
    assert f'<option value="{big.id}"' in text
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": "999999", "on": ""})
    assert r.code == 400 and f'id="change-plan-{svc.id}-product_id-error"' in r.text
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": str(big.id),
                                                          "on": "not a day"})
    assert r.code == 400 and f'id="change-plan-{svc.id}-on-error"' in r.text and 'value="not a day"' in r.text
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": str(big.id),
                                                          "on": NOW.date().isoformat()})
    assert r.code == 303 and _service(world, svc.id).product_id == big.id
    assert 'Home 50M <span class="status">active' in b.get(page).text


def test_change_plan_preview_shows_what_the_change_books(world: World, as_: Any) -> None:
    """Preview: the credit for the old plan's unused days and the new plan's charge, nothing written, the
    choice kept with a Confirm button; confirming books exactly those amounts; a bad plan in the preview
    gets its message next to the field (400)."""
    cid, svc = _fresh(world)
    with world.db.engine.connect() as c:
        big = catalogue.product_by_name(c, world.demo, "Home 50M")
        before = (c.execute(sa.select(sa.func.count()).select_from(invoices_t)).scalar_one(),
                  c.execute(sa.select(sa.func.count()).select_from(credit_notes_t)).scalar_one())
        q = services.quote_change(c, world.demo, svc.id, big.id, NOW, on=NOW.date()) if big else None
    assert big is not None and q is not None and q.credit_total > 0 and q.charge_total > 0
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    assert 'name="preview" value="1"' in b.get(page).text
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": "999999",
                                                          "on": "", "preview": "1"})
    assert r.code == 400 and f'id="change-plan-{svc.id}-product_id-error"' in r.text
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": str(big.id),
                                                          "on": NOW.date().isoformat(), "preview": "1"})
    fmt = money.format_amount
    assert r.code == 200 and f'id="quote-{svc.id}"' in r.text and "Confirm the change" in r.text
    assert fmt(q.credit_total, q.currency) in r.text and fmt(q.charge_total, q.currency) in r.text
    assert f'<option value="{big.id}" selected' in r.text
    assert _service(world, svc.id).product_id == svc.product_id
    with world.db.engine.connect() as c:
        assert (c.execute(sa.select(sa.func.count()).select_from(invoices_t)).scalar_one(),
                c.execute(sa.select(sa.func.count()).select_from(credit_notes_t)).scalar_one()) == before
    r = b.post(f"{page}/services/{svc.id}/change-plan", {"csrf": _csrf(b, page), "product_id": str(big.id),
                                                          "on": NOW.date().isoformat()})
    assert r.code == 303 and _service(world, svc.id).product_id == big.id
    with world.db.engine.connect() as c:
        inv = c.execute(sa.select(invoices_t.c.total).where(invoices_t.c.customer_id == cid)
                        .order_by(invoices_t.c.id.desc())).first()
        cn = c.execute(sa.select(credit_notes_t.c.total).where(credit_notes_t.c.customer_id == cid)).scalars().all()
    assert inv is not None and inv.total == q.charge_total and cn == [q.credit_total]


def test_approve_a_pending_service_with_a_start_date(world: World, as_: Any) -> None:
    """A pending service: approved from the day chosen (a missing day: 400 by the field)."""
    cid, svc = _fresh(world, state="pending")
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    assert f"services/{svc.id}/approve" in b.get(page).text
    r = b.post(f"{page}/services/{svc.id}/approve", {"csrf": _csrf(b, page), "start": ""})
    assert r.code == 400 and f'id="approve-{svc.id}-start-error"' in r.text
    start = NOW.date() + timedelta(days=1)
    r = b.post(f"{page}/services/{svc.id}/approve", {"csrf": _csrf(b, page), "start": start.isoformat()})
    assert r.code == 303
    s = _service(world, svc.id)
    assert s.state == "active" and s.start_date == start


# -- credit notes, passwords, credentials -------------------------------------------------------------

def test_issue_a_credit_note(world: World, as_: Any) -> None:
    """An admin credits an amount with a reason against an open invoice; a missing reason is refused."""
    cid, _ = _fresh(world)
    with world.db.engine.connect() as c:
        (inv,) = ledger.open_invoices(c, world.demo, cid)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    r = b.post(f"{page}/credit-note", {"csrf": _csrf(b, page), "amount": "5.00", "reason": "", "invoice_id": ""})
    assert r.code == 400 and 'id="credit-reason-error"' in r.text and 'value="5.00"' in r.text
    r = b.post(f"{page}/credit-note", {"csrf": _csrf(b, page), "amount": "5.00", "reason": "outage",
                                       "invoice_id": str(inv.id)})
    assert r.code == 303
    text = b.get(page).text
    assert "outage" in text and re.search(r"credit-notes/\d+\.html", text)
    with world.db.engine.connect() as c:
        n = c.execute(sa.select(credit_notes_t.c.id).where(credit_notes_t.c.customer_id == cid)).scalar_one()
    assert b.get(f"/admin/credit-notes/{n}.html").code == 200


def test_reset_portal_password_shows_it_once(world: World, as_: Any) -> None:
    """A new portal password is shown on the answer (and works), never written in the audit log."""
    cid, _ = _fresh(world)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    r = b.post(f"{page}/password", {"csrf": _csrf(b, page)})
    assert r.code == 200
    m = re.search(r'<code class="secret">([^<]+)</code>', r.text)
    assert m
    with world.db.engine.connect() as c:
        assert customers.verify_password(c, world.demo, cid, m.group(1))
    assert m.group(1) not in b.get(page).text
    assert m.group(1) not in as_("owner").get("/admin/audit").text


def test_resend_credentials(world: World, as_: Any) -> None:
    """The sign-in details go again by e-mail; without an e-mail address the page says so (400)."""
    cid, _ = _fresh(world)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    r = b.post(f"{page}/credentials", {"csrf": _csrf(b, page)})
    assert r.code == 303 and (r.header("Location") or "").endswith("done=credentials")
    bare, _ = _fresh(world, email=None)
    page = f"/admin/customers/{bare}"
    r = b.post(f"{page}/credentials", {"csrf": _csrf(b, page)})
    assert r.code == 400 and "e-mail address" in r.text


# -- sessions -----------------------------------------------------------------------------------------

def test_sessions_online_now_and_disconnect(world: World, as_: Any, demo: Ids) -> None:
    """?state=open (the dashboard's link) lists the open session with its customer; support disconnects it
    (a Disconnect-Request queued); the CSV has it."""
    b = as_("support")
    r = b.get("/admin/sessions?state=open")
    assert r.code == 200 and "100.64.9.9" in r.text and "Yaw Owusu" in r.text and "Disconnect" in r.text
    assert "Download CSV" in r.text
    rows = list(csv.reader(io.StringIO(b.get("/admin/sessions?state=open&format=csv").text)))
    assert rows[0][0] == "id" and any(x[3] == "100.64.9.9" for x in rows[1:])
    assert b.get("/admin/sessions?state=sleeping").code == 400

    def queued() -> int:
        with world.db.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(actions_t).where(
                actions_t.c.login_id == demo.login, actions_t.c.kind == "disconnect")).scalar_one())
    before = queued()
    r = b.post(f"/admin/sessions/{demo.session}/disconnect", {"csrf": _csrf(b, "/admin/sessions?state=open")})
    assert r.code == 303 and (r.header("Location") or "").endswith("sessions?state=open")
    page = f"/admin/customers/{demo.customer}"
    r = b.post(f"{page}/logins/{demo.login}/disconnect", {"csrf": _csrf(b, page)})
    assert r.code == 303 and "done=disconnected" in (r.header("Location") or "")
    assert queued() == before + 2


def test_the_usage_graph_without_rrd_is_404(as_: Any, demo: Ids) -> None:
    """No accounting service here: the graph's route answers 404 (the page says why instead of an <img>)."""
    assert as_("owner").get(f"/admin/customers/{demo.customer}/usage/{demo.login}.png").code == 404


def test_the_usage_graph_is_the_accounting_services(site: tuple[Any, Deps], demo: Ids, tmp_path: Any) -> None:
    """With the accounting service's RRD file there: an <img> on the page, the PNG rrdtool drew at its route."""
    root, deps = site

    class Rrd:
        def path_for(self, org_id: int, login_id: int) -> str:
            p = tmp_path / f"{org_id}-{login_id}.rrd"
            p.write_bytes(b"")
            return str(p)

    class Acct:
        rrd = Rrd()

        def graph(self, org_id: int, login_id: int, start: Any, end: Any, **kw: Any) -> Any:
            from twisted.internet import defer
            return defer.succeed(b"\x89PNG fake " + str(login_id).encode())
    deps.services["accounting"] = Acct()
    b = Admin(root)
    assert b.sign_in("owner@demo.example").code == 303
    page = b.get(f"/admin/customers/{demo.customer}").text
    assert f'usage/{demo.login}.png"' in page and "Traffic graphs are off" not in page
    r = b.get(f"/admin/customers/{demo.customer}/usage/{demo.login}.png")
    assert r.code == 200 and r.header("Content-Type") == "image/png" and r.body.startswith(b"\x89PNG")


# -- payments and invoices ----------------------------------------------------------------------------

def test_payments_list_with_the_dashboards_filters(as_: Any, world: World) -> None:
    """The revenue figures' links (?since=) list the payments received since then; CSV too; a bad date 400."""
    b = as_("cashier")
    dash = b.get("/admin/").text
    m = re.search(r'href="[./]*admin/(payments\?since=[^"]+)"', dash)
    assert m, "the dashboard links the payments list"
    link = m.group(1).replace("&amp;", "&")
    r = b.get("/admin/" + link)
    assert r.code == 200
    r = b.get("/admin/payments")
    assert r.code == 200 and "Receipt" in r.text and re.search(r"payments/\d+\.html", r.text)
    rows = list(csv.reader(io.StringIO(b.get("/admin/payments?format=csv").text)))
    assert rows[0][0] == "receipt" and len(rows) > 1
    assert b.get("/admin/payments?since=yesterday").code == 400
    r = b.get("/admin/payments?since=2999-01-01T00:00:00%2B00:00")
    assert r.code == 200 and "No payments match" in r.text


def test_invoices_list_open_and_overdue(as_: Any, demo: Ids) -> None:
    """?state=open and the arrears' ?due_before= list open invoices; CSV; the documents are served."""
    b = as_("support")
    dash = b.get("/admin/").text
    assert re.search(r'href="[./]*admin/invoices\?state=open"', dash)
    r = b.get(f"/admin/invoices?state=open&due_before={NOW.date().isoformat()}")
    assert r.code == 200 and "Yaw Owusu" in r.text
    rows = list(csv.reader(io.StringIO(b.get("/admin/invoices?state=open&format=csv").text)))
    assert rows[0][0] == "number" and all(x[3] == "open" for x in rows[1:]) and len(rows) > 1
    assert b.get("/admin/invoices?due_before=soon").code == 400
    assert b.get(f"/admin/invoices/{demo.invoice}.html").code == 200
    assert b.get(f"/admin/invoices?customer_id={demo.customer}").code == 200


def test_menu_entries(as_: Any) -> None:
    """The menu names Customers, Online sessions, Payments and Invoices."""
    text = as_("support").get("/admin/").text
    for label in ("Customers", "Online sessions", "Payments", "Invoices"):
        assert f">{label}</a>" in text


# -- who may do what ----------------------------------------------------------------------------------

def _writes(ids: Ids) -> dict[str, tuple[str, dict[str, str]]]:
    """Every POST of the section: name -> (path, a valid form without the CSRF token)."""
    c = f"/admin/customers/{ids.customer}"
    return {
        "payment": (f"{c}/payment", {"amount": "1.00", "method": "cash", "reference": f"r-{uuid.uuid4().hex}"}),
        "credit-note": (f"{c}/credit-note", {"amount": "1.00", "reason": "x", "invoice_id": ""}),
        "password": (f"{c}/password", {}),
        "credentials": (f"{c}/credentials", {}),
        "suspend": (f"{c}/services/{ids.service}/suspend", {"reason": "x"}),
        "resume": (f"{c}/services/{ids.service}/resume", {"reason": ""}),
        "change-plan": (f"{c}/services/{ids.service}/change-plan", {"product_id": "1", "on": ""}),
        "change-plan-preview": (f"{c}/services/{ids.service}/change-plan", {"product_id": "1", "on": "",
                                                                           "preview": "1"}),
        "approve": (f"{c}/services/{ids.service}/approve", {"start": date(2026, 12, 1).isoformat()}),
        "disconnect": (f"{c}/logins/{ids.login}/disconnect", {}),
        "disconnect-session": (f"/admin/sessions/{ids.session}/disconnect", {}),
    }


FORBIDDEN = "does not have the permission"
REFUSED = {
    "cashier": ("credit-note", "password", "credentials", "suspend", "resume", "change-plan",
                "change-plan-preview", "approve", "disconnect", "disconnect-session"),
    "support": ("payment", "credit-note", "password", "credentials", "suspend", "resume", "change-plan",
                "change-plan-preview", "approve"),
}


@pytest.mark.parametrize("role", sorted(REFUSED))
def test_a_role_without_the_permission_gets_the_403_page(world: World, as_: Any, demo: Ids, role: str) -> None:
    """Each write a role may not do: the 403 page naming the permission, nothing changed (a cashier is
    refused change plan and suspend, as the API refuses its token)."""
    b = as_(role)
    page = f"/admin/customers/{demo.customer}"
    token = _csrf(b, page)
    before = _service(world, demo.service)
    for name in REFUSED[role]:
        path, form = _writes(demo)[name]
        r = b.post(path, {**form, "csrf": token})
        assert r.code == 403 and FORBIDDEN in r.text, (name, r.text[:300])
    assert _service(world, demo.service) == before
    assert "services.write" in b.post(_writes(demo)["change-plan"][0], {"csrf": token, "product_id": "1"}).text


def test_every_post_needs_the_csrf_token(as_: Any, demo: Ids) -> None:
    """Without the form's token (or with another's) every write is refused 403."""
    b = as_("owner")
    for name, (path, form) in _writes(demo).items():
        assert b.post(path, form).code == 403, name
        assert b.post(path, {**form, "csrf": "not-the-token"}).code == 403, name


def test_another_orgs_admin_reaches_nothing(as_: Any, demo: Ids, other: Ids) -> None:
    """The owner of org "other" gets 404 for every demo customer, service, login, session, payment, invoice
    and credit note on every route, and never sees them in the lists or the search."""
    b = as_("other")
    page = f"/admin/customers/{other.customer}"
    assert b.get(page).code == 200
    token = _csrf(b, page)
    gets = [f"/admin/customers/{demo.customer}", f"/admin/customers/{demo.customer}/usage/{demo.login}.png",
            f"/admin/customers/{other.customer}/usage/{demo.login}.png",
            f"/admin/invoices/{demo.invoice}.html", f"/admin/invoices/{demo.invoice}.pdf",
            f"/admin/payments/{demo.payment}.html", f"/admin/payments/{demo.payment}.pdf",
            f"/admin/credit-notes/{demo.credit_note}.html", f"/admin/invoices?customer_id={demo.customer}",
            f"/admin/payments?customer_id={demo.customer}"]
    for path in gets:
        r = b.get(path)
        if "customer_id=" in path:
            assert r.code == 200 and "Yaw" not in r.text, path
        else:
            assert r.code == 404, path
    for name, (path, form) in _writes(demo).items():
        assert b.post(path, {**form, "csrf": token}).code == 404, name
    # the other org's own customer with the demo's service, login and session ids
    mixed = _writes(Ids(other.customer, demo.service, demo.login, 0, 0, 0, demo.session))
    for name, (path, form) in mixed.items():
        if name in ("payment", "credit-note", "password", "credentials"):
            continue                    # the other org's own customer: its own writes
        assert b.post(path, {**form, "csrf": token}).code == 404, name
    assert f"sessions/{demo.session}/" not in b.get("/admin/sessions").text
    assert f"customers/{demo.customer}\"" not in b.get("/admin/customers?q=100.64.9.9").text
