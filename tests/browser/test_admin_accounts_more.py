"""Console accounts beyond sign-in, and the change-plan preview, in headless Chromium against the real demo
daemon: the owner gives the cashier another role and back (the select on the accounts page), changes its own
password (a wrong current one first: the message by the field)
and signs in with the new one; previews a plan change of a customer (credit and charge shown) and confirms
it.  Every page at phone and desktop width (axe-core: nothing serious or critical, no sideways scrolling)."""
from __future__ import annotations

from typing import Any

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402
from tests.browser.test_admin_login import sign_in  # noqa: E402


def test_roles_own_password_and_the_plan_change_preview(driver: Any, demo_daemon: Site) -> None:
    """Role change with its notice; own password (error, then changed, then a sign-in with it); the
    change-plan preview then its confirmation."""
    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")
    kit.click(driver, "^Accounts$")
    kit.wait_text(driver, "Console accounts")
    role = driver.find_element(By.CSS_SELECTOR, 'select[aria-label="Role of cashier@demo.example"]')
    Select(role).select_by_value("support")
    kit.submit(driver, role)
    kit.wait_text(driver, "cashier@demo.example is now support")
    kit.audit(driver, "accounts-role-changed")
    role = driver.find_element(By.CSS_SELECTOR, 'select[aria-label="Role of cashier@demo.example"]')
    Select(role).select_by_value("cashier")
    kit.submit(driver, role)
    kit.wait_text(driver, "cashier@demo.example is now cashier")

    kit.click(driver, "^Password$")
    kit.wait_text(driver, "Change your password")
    kit.audit(driver, "password")
    kit.fill(kit.field(driver, "current"), "not the password")
    kit.fill(kit.field(driver, "password"), "a brand new owner pass")
    kit.fill(kit.field(driver, "again"), "a brand new owner pass")
    kit.submit(driver, kit.field(driver, "again"))
    kit.wait_text(driver, "not your current password")
    kit.audit(driver, "password-error")
    kit.fill(kit.field(driver, "current"), "owner-pass")
    kit.fill(kit.field(driver, "password"), "a brand new owner pass")
    kit.fill(kit.field(driver, "again"), "a brand new owner pass")
    kit.submit(driver, kit.field(driver, "again"))
    kit.wait_text(driver, "Your password is changed")
    kit.audit(driver, "password-changed")
    kit.click(driver, "^Sign out")
    sign_in(driver, demo_daemon, "owner@demo.example", "a brand new owner pass")
    kit.wait_text(driver, "Dashboard")

    kit.click(driver, "^Customers$")
    q = kit.field(driver, "q")
    kit.fill(q, "yaw")
    kit.submit(driver, q)
    kit.click(driver, "Yaw Owusu")
    kit.wait_text(driver, "Record a payment")
    kit.click(driver, "^Change plan$", navigates=False)
    plan = kit.field(driver, "New plan")
    kit.submit(driver, plan)                       # the form's first button: Preview the cost
    text = kit.wait_text(driver, "Confirm the change")
    assert driver.find_elements(By.CSS_SELECTOR, "section.quote"), text[:500]
    kit.audit(driver, "change-plan-preview")
    kit.click(driver, "^Confirm the change$")
    kit.wait_text(driver, "The plan is changed")
