"""Flow 1 of issue 13 end to end in headless Chromium against the real daemon (demo data, jobs on):
sign-up with approval → an admin approves over the API → the applicant signs in → the dashboard shows
the service → radclient authenticates the new login.  And the admin's request for more information:
the e-mailed link opens the prefilled form with the question; the answer makes it pending again.

The registration form is checked at phone and desktop width (axe-core: nothing serious or critical)
empty, with its messages next to the fields, and filled; screenshots are kept.
"""
from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import requests

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site, links, mail_text  # noqa: E402
from tests.e2e.api_world import make_tokens  # noqa: E402
from tests.e2e.test_auth_e2e import radclient  # noqa: E402
from tests.e2e.test_write_path_e2e import pap  # noqa: E402

PASSWORD = "Abena-portal-2026"


class Admin:
    """The demo org's admin over the API (a read-write token)."""

    def __init__(self, site: Site):
        self.site = site
        self.token = make_tokens(site.daemon.config_path)["a"]

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        r = requests.request(method, self.site.url("/api/v1" + path), json=body, params=params or None,
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


def test_sign_up_with_approval_then_sign_in_and_radius(driver: Any, demo_daemon: Site) -> None:
    """An applicant registers (messages next to the fields first), waits for approval; the admin finds the
    registration over the API and approves it with a product; the applicant signs in with the password
    they chose, sees the service on the dashboard, and radclient is accepted with its login."""
    admin = Admin(demo_daemon)
    products = admin.call("GET", "/products", type="internet", limit=100)["items"]
    product = next(p for p in products if p["active"] and not p["zones"])
    admin.call("PATCH", "/signup-settings", {"enabled": True, "approval": "required", "phone_field": "optional"})
    email = f"abena-{uuid.uuid4().hex[:6]}@example.com"

    kit.go(driver, demo_daemon.url("/demo/portal/register"))
    kit.wait_text(driver, r"Register with")
    kit.audit(driver, "register")
    name = kit.field(driver, "name")
    kit.fill(name, "Abena Owusu")
    kit.fill(kit.field(driver, "email"), "abena-at-example")
    kit.fill(kit.field(driver, "password"), "short")
    kit.submit(driver, name)
    kit.wait_text(driver, r"Please correct")
    email_box = kit.field(driver, "email")
    assert "e-mail address like" in kit.message_for(driver, email_box)
    assert "8 to 200" in kit.message_for(driver, kit.field(driver, "password"))
    assert kit.field(driver, "name").get_attribute("value") == "Abena Owusu"
    assert email_box.get_attribute("value") == "abena-at-example"
    assert kit.field(driver, "password").get_attribute("value") == ""
    kit.audit(driver, "register-errors")

    kit.fill(kit.field(driver, "email"), email)
    kit.fill(kit.field(driver, "address"), "5 Oxford Street, Osu")
    kit.fill(kit.field(driver, "password"), PASSWORD)
    kit.fill(kit.field(driver, "confirm"), PASSWORD)
    kit.shot(driver, "register-filled")
    kit.submit(driver, kit.field(driver, "name"))
    kit.wait_text(driver, r"We received your registration")
    kit.audit(driver, "register-done")

    (reg,) = admin.call("GET", "/registrations", status="pending", q=email)["items"]
    assert reg["name"] == "Abena Owusu" and reg["customer_id"] is None
    done = admin.call("POST", f"/registrations/{reg['id']}/approve", {"product_id": product["id"]})
    assert done["status"] == "approved" and done["service_id"]
    service = admin.call("GET", f"/services/{done['service_id']}")
    assert service["state"] == "active"

    kit.go(driver, demo_daemon.url("/demo/portal/login"))
    ident = kit.field(driver, "identifier", "e-mail")
    kit.fill(ident, email.upper())
    kit.fill(kit.field(driver, "password"), PASSWORD)
    kit.submit(driver, ident)
    kit.wait_text(driver, "Abena Owusu")
    kit.wait_text(driver, product["name"])
    kit.audit(driver, "dashboard-new-customer")
    secret = driver.find_element(By.CSS_SELECTOR, f"#pw-{done['service_id']}").get_attribute("textContent")
    username = service["username"]
    assert secret and username and username in kit.body_text(driver)

    out = kit.wait(driver, lambda d: (lambda s: s if "Access-Accept" in s else "")(
        str(radclient(demo_daemon.daemon, pap(username, secret.strip())).stdout)),
        "radclient accepted the new login", timeout=10)
    assert "Access-Accept" in out


def test_more_information_through_the_emailed_link(driver: Any, demo_daemon: Site) -> None:
    """The admin asks for more information over the API; the applicant's e-mail (the demo's file outbox)
    carries a link to the form, prefilled, with the question above it; the answer makes the registration
    pending again with the change, and the link then says it no longer works."""
    admin = Admin(demo_daemon)
    admin.call("PATCH", "/signup-settings", {"enabled": True, "approval": "required"})
    email = f"kojo-{uuid.uuid4().hex[:6]}@example.com"
    kit.go(driver, demo_daemon.url("/demo/portal/register"))
    kit.fill(kit.field(driver, "name"), "Kojo Asante")
    kit.fill(kit.field(driver, "email"), email)
    kit.fill(kit.field(driver, "address"), "Near the market")
    kit.fill(kit.field(driver, "password"), PASSWORD)
    kit.fill(kit.field(driver, "confirm"), PASSWORD)
    kit.submit(driver, kit.field(driver, "name"))
    kit.wait_text(driver, r"We received your registration")

    (reg,) = admin.call("GET", "/registrations", q=email)["items"]
    asked = admin.call("POST", f"/registrations/{reg['id']}/request-info",
                       {"question": "Which house is yours near the market?"})
    assert asked["status"] == "info_requested"

    def more_link(_: Any) -> str:
        for msg in demo_daemon.mails(email):
            for url in links(mail_text(msg)):
                if "/demo/portal/register/more/" in url:
                    return url
        return ""
    url = kit.wait(driver, more_link, "the e-mail asking for more information", timeout=30)
    path = urllib.parse.urlsplit(url).path
    kit.go(driver, demo_daemon.url(path))
    kit.wait_text(driver, "Which house is yours near the market?")
    assert kit.field(driver, "email").get_attribute("value") == email
    assert kit.field(driver, "name").get_attribute("value") == "Kojo Asante"
    kit.audit(driver, "register-more-information")
    kit.fill(kit.field(driver, "address"), "House 12, near the market")
    kit.fill(kit.field(driver, "password"), PASSWORD)
    kit.fill(kit.field(driver, "confirm"), PASSWORD)
    kit.submit(driver, kit.field(driver, "name"))
    kit.wait_text(driver, r"We received your registration")
    again = admin.call("GET", f"/registrations/{reg['id']}")
    assert (again["status"], again["address"]) == ("pending", "House 12, near the market")
    kit.go(driver, demo_daemon.url(path))
    kit.wait_text(driver, r"does not work any more")
    kit.audit(driver, "register-link-used")
