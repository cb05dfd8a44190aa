"""The portal's part (a) end to end in headless Chromium against the real daemon (demo data, jobs on):
sign in, a wrong password, a forgotten password through the e-mailed link, and a suspended customer
paying on the suspension page through the test gateway and being accepted by RADIUS at once.

Every page on the way is checked at phone and desktop width (axe-core: nothing serious or
critical, no sideways scrolling) and kept as screenshots.  Each test uses its own demo customer,
so they do not depend on each other's order.  Tests whose pages are not built yet are skipped,
naming the route they wait for (the portal's accounts and payment pages land in parts).
"""
from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site, links, mail_text  # noqa: E402
from tests.e2e.test_auth_e2e import radclient  # noqa: E402
from tests.e2e.test_write_path_e2e import pap  # noqa: E402


def route(app: Any, prefix: str) -> bool:
    """Does the Klein app have a route starting with ``prefix``?"""
    return any(str(r.rule).startswith(prefix) for r in app.url_map.iter_rules())


def _portal(prefix: str) -> bool:
    from web.portal.app import Portal
    return route(Portal.app, prefix)


def _root(prefix: str) -> bool:
    from web.root import Root
    return route(Root.app, prefix)


def waits_for(what: str, *present: bool) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not all(present), reason=f"waits for {what} (issue 13 part (a)), not on this branch yet")


needs_login = waits_for("P1's sign-in page /{org}/portal/login", _portal("/login"))
needs_reset = waits_for("P1's /{org}/portal/forgot and /{org}/portal/reset/<token>",
                        _portal("/login"), _portal("/forgot"), _portal("/reset/"))
needs_pay = waits_for("P2's /{org}/portal/pay/ and the test gateway's page /gateway/test/<reference>",
                      _portal("/login"), _portal("/pay/"), _root("/gateway"))

LOGIN = "/demo/portal/login"


def sign_in(driver: Any, who: str, password: str, shots: str | None = None) -> None:
    """Fill the sign-in form on the page and send it (the next page is loaded when this returns)."""
    ident = kit.field(driver, "identifier", "e-mail", "email")
    assert driver.find_elements(By.CSS_SELECTOR, "form input[type=hidden][name=csrf]"), "the form has no CSRF field"
    kit.fill(ident, who)
    kit.fill(kit.field(driver, "password"), password)
    if shots:
        kit.shot(driver, shots)
    kit.submit(driver, ident)


@needs_login
def test_sign_in_shows_the_dashboard_with_the_service_and_its_password(driver: Any, demo_daemon: Site) -> None:
    """A demo customer signs in with e-mail and password; the dashboard shows the service
    and, on asking, the PPPoE password."""
    demo_daemon.set_password("ama@example.com", "Ama-portal-2026")
    kit.go(driver, demo_daemon.url(LOGIN))
    kit.audit(driver, "login")
    sign_in(driver, "ama@example.com", "Ama-portal-2026", shots="login-filled")
    kit.wait_text(driver, "Ama Mensah")
    kit.wait_text(driver, "Home 50M")                 # upgraded from Home 10M mid-month in the demo
    kit.audit(driver, "dashboard")
    secret = driver.find_elements(By.XPATH, "//*[normalize-space(text())='ama-pass']")
    assert not any(e.is_displayed() for e in secret), "the password shows before asking"
    kit.click(driver, r"show|reveal", navigates=False)
    kit.wait(driver, lambda d: any(e.is_displayed() for e in d.find_elements(
        By.XPATH, "//*[normalize-space(text())='ama-pass']")), "the revealed password")
    assert "ama" in kit.body_text(driver)
    kit.audit(driver, "dashboard-revealed")


@needs_login
def test_sign_in_by_phone_number_as_typed(driver: Any, demo_daemon: Site) -> None:
    """The phone number works as people type it (normalised: the demo's country is the US)."""
    demo_daemon.set_password("kofi@example.com", "Kofi-portal-2026")
    kit.go(driver, demo_daemon.url(LOGIN))
    sign_in(driver, "(202) 555-0103", "Kofi-portal-2026")
    kit.wait_text(driver, "Kofi Boateng")
    kit.wait_text(driver, "Prepaid 30 days")
    kit.shot(driver, "dashboard")


@needs_login
def test_wrong_password_says_so_and_keeps_the_email(driver: Any, demo_daemon: Site) -> None:
    """A wrong password gets a message beside the form's fields; the e-mail typed is kept, the
    password is not; the page stays accessible with the message."""
    demo_daemon.set_password("akosua@example.com", "Akosua-portal-2026")
    kit.go(driver, demo_daemon.url(LOGIN))
    sign_in(driver, "akosua@example.com", "not-her-password")
    kit.wait_text(driver, r"wrong|incorrect|not right")
    ident, password = kit.field(driver, "identifier", "e-mail", "email"), kit.field(driver, "password")
    assert ident.get_attribute("value") == "akosua@example.com"
    assert password.get_attribute("value") == ""
    near = kit.message_for(driver, password) or kit.message_for(driver, ident)
    alert = [e.text for e in kit.form_of(password).find_elements(By.XPATH, "preceding-sibling::*[@role='alert']")
             if e.is_displayed()]
    assert near or alert, "no message beside the fields (aria-describedby, the field's box, or the form's alert)"
    assert "Akosua" not in kit.body_text(driver)
    kit.audit(driver, "login-wrong-password")


@needs_reset
def test_forgotten_password_through_the_emailed_link(driver: Any, demo_daemon: Site) -> None:
    """Forgot password → the reset e-mail lands in the demo's file outbox → its link opens the
    new-password form → the new password is set and the customer is signed in; the old one is gone."""
    demo_daemon.set_password("efua@example.com", "Efua-old-2026")
    before = len(demo_daemon.mails("efua@example.com"))
    kit.go(driver, demo_daemon.url(LOGIN))
    kit.click(driver, r"forgot")
    kit.audit(driver, "forgot")
    ident = kit.field(driver, "identifier", "e-mail", "email")
    kit.fill(ident, "efua@example.com")
    kit.submit(driver, ident)
    kit.wait_text(driver, r"link")
    kit.audit(driver, "forgot-sent")

    def reset_link(_: Any) -> str:
        for msg in demo_daemon.mails("efua@example.com")[before:]:
            for url in links(mail_text(msg)):
                if "/demo/portal/reset" in url:
                    return url
        return ""
    url = kit.wait(driver, reset_link, "the reset e-mail in the outbox", timeout=30)
    parts = urllib.parse.urlsplit(url)
    kit.go(driver, demo_daemon.url(parts.path + (f"?{parts.query}" if parts.query else "")))
    kit.audit(driver, "reset")
    for el in driver.find_elements(By.CSS_SELECTOR, "input[type=password]"):
        kit.fill(el, "Efua-new-2026")
    kit.shot(driver, "reset-filled")
    kit.submit(driver, kit.field(driver, "password"))
    kit.wait_text(driver, "Efua Nyarko")
    kit.wait_text(driver, "Hotspot day")
    kit.audit(driver, "dashboard-after-reset")
    assert demo_daemon.password_is("efua@example.com", "Efua-new-2026")
    assert not demo_daemon.password_is("efua@example.com", "Efua-old-2026")


@needs_pay
def test_suspended_customer_pays_and_radius_accepts_at_the_plans_rate(driver: Any, demo_daemon: Site) -> None:
    """yaw (unpaid, in the walled garden) signs in from the suspension page, sees the balance and
    pays it through the test gateway (Succeed); back on the portal it says Successful, and the
    next radclient request is accepted at Home 10M's rate."""
    d = demo_daemon.daemon
    before = radclient(d, pap("yaw", "yaw-pass")).stdout
    assert "Access-Accept" in before and 'Mikrotik-Address-List = "suspended"' in before, before
    owed = demo_daemon.balance("yaw@example.com")
    assert owed > 0
    demo_daemon.set_password("yaw@example.com", "Yaw-portal-2026")

    kit.go(driver, demo_daemon.url("/demo/portal/suspended?reason=unpaid"))
    kit.click(driver, r"sign in")
    sign_in(driver, "yaw@example.com", "Yaw-portal-2026")
    if "/suspended" not in driver.current_url:          # signed in to the dashboard: its link to the page
        kit.click(driver, r"what to do|suspend|pay")
    text = kit.wait_text(driver, r"pay now")
    assert f"{owed / 100:,.2f}" in text, f"the balance {owed / 100:,.2f} is not on the page"
    kit.audit(driver, "suspension-signed-in")
    kit.click(driver, r"^pay now$")
    kit.wait_url(driver, r"/gateway/test/[^/?#]+")
    kit.wait_text(driver, r"succeed")
    kit.audit(driver, "gateway")
    kit.click(driver, r"^succeed")
    kit.wait_url(driver, r"/demo/portal/")
    kit.wait_text(driver, r"successful")
    kit.audit(driver, "paid")

    def accepted(_: Any) -> str:
        out = str(radclient(d, pap("yaw", "yaw-pass")).stdout)
        return out if 'Mikrotik-Rate-Limit = "10M/10M"' in out else ""
    out = kit.wait(driver, accepted, "radclient accepted at 10M/10M", timeout=10)
    assert "Access-Accept" in out and "suspended" not in out
    assert demo_daemon.balance("yaw@example.com") <= 0
    assert re.search(r"successful", kit.body_text(driver), re.I)
