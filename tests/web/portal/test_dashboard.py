"""What a signed-in customer sees: the dashboard, their documents and graphs (and nobody else's), the
suspension page with the balance and the pay-now form."""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from twisted.internet import defer

from aaad import orgs
from aaad.errors import NotFound
from accounting import usage as um
from accounting.schema import usage as usage_t
from billing import customers, invoices, ledger, payments, services, settings
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import PASSWORD, PNG, Browser, FakeAccounting, customer_id


def ids_of(world: World, org_id: int, email: str) -> dict[str, list[int]]:
    """A customer's invoice (not draft), payment and login ids."""
    cid = customer_id(world, org_id, email)
    with world.db.engine.connect() as c:
        return {"invoices": [i.id for i in invoices.list_invoices(c, org_id, customer_id=cid) if i.state != "draft"],
                "payments": [p.id for p in payments.list_payments(c, org_id, customer_id=cid)],
                "logins": [s.login_id for s in services.list_services(c, org_id, customer_id=cid) if s.login_id]}


@pytest.fixture
def ama(browser: Browser) -> Browser:
    assert browser.login("demo", "ama@example.com").code == 303
    return browser


def test_dashboard_shows_services_credentials_money_and_documents(ama: Browser, world: World) -> None:
    """Ama's dashboard: her product and status, her login with the password behind a <details>, her balance,
    and links to each of her invoices (HTML and PDF) and receipts."""
    page = ama.get("/demo/portal/").text
    assert "Home 50M" in page and 'class="status">active<' in page
    assert "<code>ama</code>" in page
    assert re.search(r'<details><summary>Show password</summary><code class="secret" id="pw-\d+">ama-pass</code>',
                     page)
    assert "nothing to pay" in page
    mine = ids_of(world, world.demo, "ama@example.com")
    for i in mine["invoices"]:
        assert f'invoices/{i}.html"' in page and f'invoices/{i}.pdf"' in page
    for p in mine["payments"]:
        assert f'receipts/{p}.html"' in page
    assert "Yaw" not in page and "yaw-pass" not in page


def test_dashboard_shows_usage_today_cycle_and_total(ama: Browser, world: World) -> None:
    """Usage from the daily buckets: today's and older days add up in the total; the graph of the login is
    linked."""
    (login_id,) = ids_of(world, world.demo, "ama@example.com")["logins"]
    with world.db.engine.begin() as c:
        org = orgs.get(c, world.demo)
        assert org is not None
        today = um.day_start(NOW, ZoneInfo(org.timezone))
        c.execute(usage_t.delete().where(usage_t.c.login_id == login_id))
        c.execute(usage_t.insert(), [
            {"login_id": login_id, "level": "day", "start": today, "org_id": world.demo,
             "octets_in": 500_000_000, "octets_out": 1_000_000_000},
            {"login_id": login_id, "level": "day", "start": today - timedelta(days=40), "org_id": world.demo,
             "octets_in": 2_000_000_000, "octets_out": 0}])
    page = ama.get("/demo/portal/").text
    assert "<th scope=\"row\">Today</th><td>1.5 GB</td>" in page
    assert "<th scope=\"row\">In total</th><td>3.5 GB</td>" in page
    assert "<th scope=\"row\">This cycle</th>" in page
    assert f'usage/{login_id}.png"' in page


def test_balance_and_next_due_date_of_a_customer_who_owes(browser: Browser) -> None:
    """Yaw (unpaid) sees what he owes, the due date, and that his service is suspended with the reason."""
    assert browser.login("demo", "yaw@example.com").code == 303
    page = browser.get("/demo/portal/").text
    assert "to pay" in page and "Next due date" in page
    assert 'class="status">suspended<' in page and "What to do" in page


def test_usage_graph_is_the_customers_own_only(ama: Browser, world: World, accounting: FakeAccounting) -> None:
    """Her login's graph is a PNG; another customer's login of the same org and a login of another org are
    404s, and the graph is not even drawn for them."""
    (mine,) = ids_of(world, world.demo, "ama@example.com")["logins"]
    (yaws,) = ids_of(world, world.demo, "yaw@example.com")["logins"]
    (other,) = ids_of(world, world.other, "ama@example.com")["logins"]
    r = ama.get(f"/demo/portal/usage/{mine}.png")
    assert r.code == 200 and r.body == PNG and r.header("Content-Type") == "image/png"
    for login_id in (yaws, other, 999_999):
        assert ama.get(f"/demo/portal/usage/{login_id}.png").code == 404
    assert accounting.asked == [(world.demo, mine)]


def test_usage_graph_without_data_is_a_stand_in_picture(ama: Browser, world: World,
                                                         accounting: FakeAccounting,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """While the login has no RRD file the graph URL answers a small SVG saying so (never a broken image)."""
    (mine,) = ids_of(world, world.demo, "ama@example.com")["logins"]
    monkeypatch.setattr(accounting, "graph", lambda *a, **kw: defer.succeed(None))
    r = ama.get(f"/demo/portal/usage/{mine}.png")
    assert r.code == 200 and r.header("Content-Type") == "image/svg+xml" and b"No traffic graph yet" in r.body


def test_invoice_html_and_pdf_are_the_customers_own_only(ama: Browser, world: World) -> None:
    """Her invoice as HTML and PDF; Yaw's invoice and an invoice id of org other are 404 pages."""
    mine = ids_of(world, world.demo, "ama@example.com")["invoices"][0]
    r = ama.get(f"/demo/portal/invoices/{mine}.html")
    assert r.code == 200 and r.header("Content-Type") == "text/html; charset=utf-8" and "INV-" in r.text
    pdf = ama.get(f"/demo/portal/invoices/{mine}.pdf")
    assert pdf.code == 200 and pdf.header("Content-Type") == "application/pdf" and pdf.body.startswith(b"%PDF")
    yaws = ids_of(world, world.demo, "yaw@example.com")["invoices"][0]
    others = ids_of(world, world.other, "ama@example.com")["invoices"][0]
    for i in (yaws, others):
        for ext in ("html", "pdf"):
            r = ama.get(f"/demo/portal/invoices/{i}.{ext}")
            assert r.code == 404 and "No such invoice" in r.text


def test_receipts_are_the_customers_own_only(ama: Browser, world: World) -> None:
    """Her receipt as HTML; another customer's payment and another org's are 404s."""
    mine = ids_of(world, world.demo, "ama@example.com")["payments"][0]
    r = ama.get(f"/demo/portal/receipts/{mine}.html")
    assert r.code == 200 and "RC-" in r.text
    for p in (ids_of(world, world.demo, "akosua@example.com")["payments"][0],
              ids_of(world, world.other, "ama@example.com")["payments"][0]):
        assert ama.get(f"/demo/portal/receipts/{p}.html").code == 404


def test_cookie_of_org_a_reaches_nothing_of_org_b(ama: Browser, world: World) -> None:
    """Ama's demo cookie sent to org other's portal: its invoice and graph URLs redirect to sign in there."""
    others = ids_of(world, world.other, "ama@example.com")
    for path in (f"invoices/{others['invoices'][0]}.html", f"usage/{others['logins'][0]}.png"):
        r = ama.get(f"/other/portal/{path}")
        assert r.code == 303 and "/other/portal/login?next=" in r.required_header("Location")


def test_empty_dashboard(browser: Browser, world: World) -> None:
    """A customer with nothing yet: a dashboard that says so for services, invoices and payments."""
    with world.db.engine.begin() as c:
        import random
        cust = customers.add(c, world.demo, NOW, name="Nana Empty", email="nana@example.com",
                             rng=random.Random(7))
        customers.set_password(c, world.demo, cust.id, PASSWORD, NOW)
    assert browser.login("demo", "nana@example.com").code == 303
    page = browser.get("/demo/portal/").text
    assert "You have no services yet" in page and "No invoices yet" in page and "No payments yet" in page
    assert "nothing to pay" in page


def test_suspension_page_for_a_signed_in_customer(browser: Browser) -> None:
    """Yaw on the suspension page: his suspended service with its reason, the outstanding balance and a Pay
    now form posting to pay/balance with his CSRF token."""
    assert browser.login("demo", "yaw@example.com").code == 303
    r = browser.get("/demo/portal/suspended?reason=unpaid")
    assert r.code == 200 and "unpaid balance" in r.text
    assert "Home 10M" in r.text and "<code>yaw</code>" in r.text
    assert "Outstanding balance" in r.text
    form = re.search(r'<form method="post" action="([^"]+)" class="pay-now">\s*'
                     r'<input type="hidden" name="csrf" value="([^"]+)">', r.text)
    assert form and form.group(1) == "../../demo/portal/pay/balance"
    assert form.group(2) == re.findall(r'name="csrf" value="([^"]+)"', r.text)[0]


def test_suspension_page_for_a_visitor(browser: Browser) -> None:
    """Without a session the suspension page names the org and offers to sign in (coming back after)."""
    r = browser.get("/demo/portal/suspended")
    assert r.code == 200 and "is suspended" in r.text and "Pay now" not in r.text
    assert 'login?next=suspended"' in r.text
    assert "aaad_portal" not in browser.cookies


def test_branding_from_billing_settings(browser: Browser, world: World) -> None:
    """The header shows the brand name of the billing settings; brand.css sets the org's colour."""
    with world.db.engine.connect() as c:
        colour = settings.get(c, world.demo).brand_colour
    assert colour
    page = browser.get("/demo/portal/").text
    assert '<span>Demo ISP</span>' in page and 'href="../../demo/portal/brand.css"' in page
    css = browser.get("/demo/portal/brand.css")
    assert css.code == 200 and css.header("Content-Type") == "text/css; charset=utf-8"
    assert f"--accent: {colour};" in css.text


@pytest.mark.parametrize("path", ["login", "forgot", "suspended", ""])
def test_every_input_has_a_label(browser: Browser, path: str) -> None:
    """Each visible input of the visitor pages has a <label for=...> naming its id."""
    page = browser.get(f"/demo/portal/{path}").text
    ids = re.findall(r'<input id="([^"]+)"', page)
    visible = [m for m in re.findall(r"<input [^>]*>", page) if 'type="hidden"' not in m]
    assert len(ids) == len(visible)
    for i in ids:
        assert f'<label for="{i}">' in page


def test_pages_carry_no_inline_script_and_the_strict_policy(browser: Browser) -> None:
    """Portal pages load only the static portal.js (no inline script) and send the CSP that forbids inline."""
    r = browser.get("/demo/portal/login")
    assert "<script>" not in r.text and re.findall(r"<script[^>]*>", r.text) == [
        '<script src="../../static/portal.js" defer>']
    assert r.header("Content-Security-Policy") == "default-src 'self'; frame-ancestors 'none'"




def test_dashboard_lists_the_customers_own_tickets(ama: Browser, world: World) -> None:
    """Ama's latest tickets are on her dashboard with their state and a link; another customer's are not;
    with none, the section offers a new ticket."""
    from billing.orders import tickets
    assert "No tickets." in ama.get("/demo/portal/").text
    ama_id, yaw_id = (customer_id(world, world.demo, f"{n}@example.com") for n in ("ama", "yaw"))
    with world.db.engine.begin() as c:
        mine = tickets.open_ticket(c, world.demo, ama_id, "Router blinks red", "Since this morning.", NOW)
        tickets.open_ticket(c, world.demo, yaw_id, "Yaw's secret question", "Hello.", NOW)
    page = ama.get("/demo/portal/").text
    assert "Router blinks red" in page and f'tickets/{mine.ticket.id}"' in page and "waiting for us" in page
    assert "Yaw's secret question" not in page


def test_the_dashboard_read_runs_a_bounded_number_of_statements(world: World) -> None:
    """The portal's busiest page reads everything in one transaction: the customer, services, logins,
    products, usage, money, documents, tickets, the cart and the voucher figures, in at most 8
    statements (each one costs the daemon's core some 150 us of SQLAlchemy, and a round trip on
    PostgreSQL), and the org's settings are not read again when the caller has them; the next due
    date and the open amount are the open invoices'."""
    from sqlalchemy import event

    from web.portal import accounts
    cid = customer_id(world, world.demo, "ama@example.com")
    statements: list[str] = []

    def count(_conn: object, _cur: object, stmt: str, *_a: object) -> None:
        statements.append(stmt)
    with world.db.engine.connect() as c:
        st = settings.get(c, world.demo)
        event.listen(world.db.engine, "before_cursor_execute", count)
        try:
            d, figures = accounts.dashboard_page(c, world.box, world.demo, cid, NOW, st=st)
        finally:
            event.remove(world.db.engine, "before_cursor_execute", count)
    assert d.customer.id == cid and d.services and figures.on_sale >= 0
    for who in ("ama@example.com", "yaw@example.com"):     # paid up, and owing
        who_id = customer_id(world, world.demo, who)
        with world.db.engine.connect() as c:
            opened = ledger.open_invoices(c, world.demo, who_id)
            got = accounts.dashboard(c, world.box, world.demo, who_id, NOW, st=st)
        assert got.next_due == min((i.due_date for i in opened), default=None)
        assert got.open_amount == sum(i.open_amount for i in opened)
    assert opened and isinstance(got.next_due, date) and got.open_amount > 0
    with world.db.engine.connect() as c:            # another org's id, and an unknown one: not found
        for org in (world.other, world.demo):
            for read in (accounts.dashboard, accounts.dashboard_page):
                with pytest.raises(NotFound):
                    read(c, world.box, org, cid if org != world.demo else 10 ** 9, NOW, st=st)
    assert len(statements) <= 8, statements
    assert not any("FROM billing_settings" in s for s in statements)


def test_a_returning_customers_dashboard_is_one_read(world: World, clock: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The session behind the cookie and the dashboard are read together: one hop to a database thread
    (the page's commonest request), on the portal's reader (``Database.portal_read``), not the read
    pool the console and the API share."""
    from tests.web.api.conftest import make_api
    reads: list[str] = []
    others: list[str] = []
    real = world.db.read

    def reader(seen: list[str]) -> Any:
        def read(fn: Any, *a: Any, **kw: Any) -> Any:
            seen.append(fn.__name__)
            return real(fn, *a, **kw)
        return read
    monkeypatch.setattr(world.db, "read", reader(others))
    browser = Browser(make_api(world, clock, portal_read=reader(reads))[0])
    assert browser.login("demo", "ama@example.com").code == 303
    reads.clear()
    page = browser.get("/demo/portal/").text
    assert "Hello" in page and "Home 50M" in page
    assert [r for r in reads if r != "portal_org"] == ["session_dashboard"]
    assert others == []
