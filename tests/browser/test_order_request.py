"""Flow 3 of issue 13 end to end in headless Chromium against the real daemon (demo data, jobs on):
a customer orders a product as a request (the org's checkout setting) → a ticket about the order reaches
the admins → an admin replies over the API and the customer reads it in the ticket (and by e-mail) → the
customer pays the order on its page through the test gateway → the admin approves the order over the API
with a later start date → the unused-days credit note is on the order's invoices in the portal.

Every portal page on the way is checked at phone and desktop width (axe-core: nothing serious or
critical, no sideways scrolling) and kept as screenshots.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.browser.paths import require

require()

import requests  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site, mail_text  # noqa: E402
from tests.browser.test_portal_flows import sign_in  # noqa: E402

WHO, PASSWORD = "akosua@example.com", "Akosua-shop-2026"


class Admin:
    """The demo org's admin over the API (a token made in the database)."""

    def __init__(self, site: Site):
        from aaad import orgs
        from web import tokens
        self.site = site
        e = site.engine()
        try:
            with e.begin() as c:
                org = orgs.get_by_slug(c, "demo")
                assert org is not None
                self.token = tokens.create(c, org.id, "flow 3 admin", datetime.now(UTC)).secret
        finally:
            e.dispose()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, self.site.url("/api/v1" + path), json=body, timeout=30,
                             headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
def admin(demo_daemon: Site) -> Admin:
    return Admin(demo_daemon)


def test_order_as_request_ticket_pay_then_approve_later_credits_unused_days(driver: Any, demo_daemon: Site,
                                                                            admin: Admin) -> None:
    """Order Static IP as a request; the admin answers in its ticket; the customer pays on the order's page;
    the admin approves 13 days after the payment date; the order's page lists the unused-days credit note."""
    admin.call("PATCH", "/shop-settings", {"checkout": "request", "request_via": "ticket"})
    demo_daemon.set_password(WHO, PASSWORD)
    mails_before = len(demo_daemon.mails(WHO))

    # -- the customer orders as a request ---------------------------------------------------------------
    kit.go(driver, demo_daemon.url("/demo/portal/login?next=products"))
    sign_in(driver, WHO, PASSWORD)
    kit.wait_text(driver, r"Products")
    kit.audit(driver, "products")
    kit.click(driver, r"^Static IP$")
    kit.wait_text(driver, r"per month")
    kit.audit(driver, "product")
    kit.click(driver, r"^add to cart$")
    text = kit.wait_text(driver, r"your cart")
    assert "Static IP" in text and re.search(r"Total\s*\$5\.75", text), text      # $5 + 15 % VAT
    kit.audit(driver, "cart")
    kit.click(driver, r"^check out$")
    kit.wait_text(driver, r"as a request")
    kit.audit(driver, "checkout")
    kit.fill(kit.field(driver, "note"), "Any weekday morning.")
    kit.shot(driver, "checkout-filled")
    kit.submit(driver, kit.field(driver, "note"))
    kit.wait_text(driver, r"has reached us")
    order_id = int(kit.wait_url(driver, r"/demo/portal/orders/\d+").split("/orders/")[1].split("?")[0])
    kit.audit(driver, "order-placed")
    assert admin.call("GET", f"/orders/{order_id}")["status"] == "placed"

    # -- the ticket: the admin replies over the API, the customer reads it -----------------------------------
    kit.click(driver, r"^its ticket$")
    kit.wait_text(driver, r"Any weekday morning")
    (ticket,) = admin.call("GET", f"/tickets?order_id={order_id}")["items"]
    admin.call("POST", f"/tickets/{ticket['id']}/replies",
               {"body": "We can fit the static address on Monday.", "author_name": "Kojo"})
    driver.refresh()
    kit.wait_text(driver, r"We can fit the static address on Monday")
    assert "Answered" in kit.body_text(driver)
    kit.audit(driver, "ticket-answered")

    def reply_mail(_: Any) -> str:
        for msg in demo_daemon.mails(WHO)[mails_before:]:
            if "Monday" in mail_text(msg):
                return str(msg["Subject"])
        return ""
    subject = kit.wait(driver, reply_mail, "the ticket reply e-mail in the outbox", timeout=30)
    assert "Order ORD-" in subject

    # -- the customer pays the order on its page -------------------------------------------------------------
    kit.click(driver, r"^the order$")
    kit.wait_text(driver, r"pay now")
    kit.click(driver, r"^pay now$")
    kit.wait_url(driver, r"/gateway/test/[^/?#]+")
    kit.click(driver, r"^succeed")
    kit.wait_url(driver, r"/demo/portal/")
    kit.wait_text(driver, r"successful")
    kit.audit(driver, "paid")
    got = admin.call("GET", f"/orders/{order_id}")
    assert got["status"] == "paid"
    service = admin.call("GET", f"/services/{got['items'][0]['service_id']}")
    assert service["state"] == "active"
    paid_on = date.fromisoformat(service["start_date"])

    # -- the admin approves with a later start: the unused days are credited ---------------------------------
    start = paid_on + timedelta(days=13)
    assert admin.call("POST", f"/orders/{order_id}/approve", {"start": start.isoformat()})["status"] == "active"
    notes = admin.call("GET", f"/credit-notes?customer_id={got['customer_id']}&kind=unused_days")["items"]
    assert notes, "no unused-days credit note"
    kit.go(driver, demo_daemon.url(f"/demo/portal/orders/{order_id}"))
    text = kit.wait_text(driver, r"credit note")
    assert notes[0]["number"] in text and "(unused days)" in text, text
    kit.audit(driver, "order-credited")
    link = driver.find_element(By.CSS_SELECTOR, 'tr.credit-note a[href$=".html"]')
    driver.get(link.get_attribute("href"))
    kit.wait_text(driver, re.escape(notes[0]["number"]))
    kit.shot(driver, "credit-note")


def test_empty_cart_tickets_and_orders_pages_are_accessible(driver: Any, demo_daemon: Site) -> None:
    """The empty cart says so; a new ticket with no subject gets a message next to the field and keeps the
    message typed; the ticket opens; the tickets and orders lists: all accessible at both widths."""
    demo_daemon.set_password("efua@example.com", "Efua-shop-2026")
    kit.go(driver, demo_daemon.url("/demo/portal/login?next=cart"))
    sign_in(driver, "efua@example.com", "Efua-shop-2026")
    kit.wait_text(driver, r"your cart is empty")
    kit.audit(driver, "cart-empty")
    kit.click(driver, r"^tickets$")
    kit.wait_text(driver, r"no tickets yet")
    kit.audit(driver, "tickets-none")
    kit.click(driver, r"^new ticket$")
    kit.audit(driver, "ticket-new")
    body = kit.fill(kit.field(driver, "body"), "The router's light blinks red.")
    kit.submit(driver, body)
    subject = kit.field(driver, "subject")
    assert kit.message_for(driver, subject), "no message next to the subject"
    assert kit.field(driver, "body").get_attribute("value") == "The router's light blinks red."
    kit.audit(driver, "ticket-new-invalid")
    kit.fill(subject, "Red light")
    kit.submit(driver, subject)
    kit.wait_text(driver, r"waiting for us")
    kit.audit(driver, "ticket-open")
    kit.click(driver, r"^all tickets$")
    kit.wait_text(driver, r"Red light")
    kit.click(driver, r"^orders$")
    kit.wait_text(driver, r"your orders")
    kit.audit(driver, "orders")
