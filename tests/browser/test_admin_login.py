"""The admin console's sign-in in headless Chromium against the real demo daemon: the demo owner enrols
two-factor login (the key read off the page, codes computed with pyotp), signs out and back in with a code;
a support account gets the 403 page on the accounts page.  Every page at phone and desktop width
(axe-core: nothing serious or critical, no sideways scrolling)."""
from __future__ import annotations

import re
import time
from typing import Any

from tests.browser.paths import require

require()

import pyotp  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402

LOGIN = "/admin/login"


def sign_in(driver: Any, site: Site, email: str, password: str) -> None:
    kit.go(driver, site.url(LOGIN))
    assert driver.find_elements(By.CSS_SELECTOR, "form input[type=hidden][name=csrf]")
    kit.fill(kit.field(driver, "email"), email)
    kit.fill(kit.field(driver, "password"), password)
    kit.submit(driver, kit.field(driver, "password"))


def test_owner_enrols_totp_and_signs_in_with_a_code(driver: Any, demo_daemon: Site) -> None:
    """The demo owner signs in, enrols TOTP from the key shown, keeps the recovery codes, signs out, and
    signs in again with a fresh code."""
    kit.go(driver, demo_daemon.url(LOGIN))
    kit.audit(driver, "login")
    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")
    kit.audit(driver, "dashboard")
    kit.click(driver, "set up two-factor login")
    kit.wait_text(driver, "Scan this QR code")
    assert driver.find_elements(By.CSS_SELECTOR, "figure.qr svg"), "no QR code"
    kit.audit(driver, "enrol")
    secret = driver.find_element(By.ID, "totp-secret").text.replace(" ", "")
    totp = pyotp.TOTP(secret)
    code = kit.field(driver, "code")
    kit.fill(code, totp.now())
    kit.submit(driver, code)
    text = kit.wait_text(driver, "shown only now")
    assert len(re.findall(r"\b[0-9a-f]{5}-[0-9a-f]{5}\b", text)) == 10
    kit.audit(driver, "recovery-codes")
    kit.click(driver, "go to the dashboard")
    kit.click(driver, "Sign out")
    kit.wait_text(driver, "Sign in to the console")
    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Your two-factor code")
    kit.audit(driver, "code")
    code = kit.field(driver, "code")
    kit.fill(code, totp.at(time.time() + 30))      # the next step's: the enrolment's code is used up
    kit.submit(driver, code)
    kit.wait_text(driver, "Dashboard")
    assert "set up two-factor login" not in kit.body_text(driver)
    kit.click(driver, "Accounts")
    kit.wait_text(driver, "Console accounts")
    kit.audit(driver, "accounts")
    kit.click(driver, "Audit log")
    kit.wait_text(driver, "admin:owner@demo.example")
    kit.audit(driver, "audit")


def test_support_gets_the_403_page_on_accounts(driver: Any, demo_daemon: Site) -> None:
    """A support account signs in and is refused the accounts page with a page naming the permission."""
    demo_daemon.daemon.cli("admin", "add", "support@demo.example", "--org", "demo", "--role", "support",
                           "--password", "support-pass")
    sign_in(driver, demo_daemon, "support@demo.example", "support-pass")
    kit.wait_text(driver, "Dashboard")
    assert "Accounts" not in driver.find_element(By.CSS_SELECTOR, "nav").text
    kit.go(driver, demo_daemon.url("/admin/accounts"))
    kit.wait_text(driver, "accounts.manage")
    kit.audit(driver, "forbidden")
