"""The console's settings pages in headless Chromium against the real demo daemon: the demo owner changes a
billing setting and sees it saved, previews a notification template, adds a custom field to the sign-up form
(and the portal's registration form asks for it); the demo cashier gets the 403 page.  Every settings page
(and a form with errors) at phone and desktop width: axe-core finds nothing serious or critical, no sideways
scrolling."""
from __future__ import annotations

from typing import Any

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402
from tests.browser.test_admin_login import sign_in  # noqa: E402


def _read(site: Site, fn: Any, *args: Any) -> Any:
    from aaad import orgs
    e = site.engine()
    try:
        with e.connect() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            return fn(c, org.id, *args)
    finally:
        e.dispose()


def test_owner_changes_settings(driver: Any, demo_daemon: Site) -> None:
    """Billing: the grace days and VAT changed and read back (the page says what changed); a bad VAT rate gets
    its message next to the field; a template preview with sample data; a custom sign-up field added that the
    portal's registration form then asks for; every settings page audited."""
    from billing import settings as billing_settings
    from billing.signup import contracts, coverage
    from billing.signup import forms as signup
    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")
    kit.click(driver, "^Settings$")
    kit.wait_text(driver, "Payment gateway")
    kit.audit(driver, "settings")

    kit.click(driver, "^Billing$")
    kit.wait_text(driver, "Billing settings")
    kit.audit(driver, "settings-billing")
    kit.fill(kit.field(driver, "vat_percent"), "fifteen")
    kit.submit(driver, kit.field(driver, "vat_percent"))
    assert "percentage" in kit.message_for(driver, kit.field(driver, "vat_percent"))
    kit.audit(driver, "settings-billing-error")
    kit.fill(kit.field(driver, "vat_percent"), "12.5")
    kit.fill(kit.field(driver, "grace_days"), "5")
    kit.submit(driver, kit.field(driver, "grace_days"))
    kit.wait_text(driver, "grace days 3 → 5")
    assert "VAT rate 15 % → 12.5 %" in kit.body_text(driver)
    s = _read(demo_daemon, billing_settings.get)
    assert (s.grace_days, s.vat_bp) == (5, 1250)

    kit.go(driver, demo_daemon.url("/admin/settings/notifications"))
    kit.audit(driver, "settings-notifications")
    for channel in ("email", "sms", "whatsapp"):
        kit.go(driver, demo_daemon.url(f"/admin/settings/notifications/channels/{channel}"))
        kit.audit(driver, f"settings-channel-{channel}")
    kit.go(driver, demo_daemon.url("/admin/settings/notifications/channels/sms?provider=generic"))
    kit.audit(driver, "settings-channel-sms-generic")
    kit.go(driver, demo_daemon.url("/admin/settings/notifications/templates/invoice.issued/sms"))
    body = kit.field(driver, "body")
    kit.fill(body, "Hello {{ customer.first_name }}, invoice {{ invoice.number }} is ready.")
    kit.submit(driver, body)                        # the form's first button: Preview
    kit.wait_text(driver, "Hello Ama, invoice INV-000123 is ready.")
    kit.audit(driver, "settings-template-preview")
    kit.go(driver, demo_daemon.url("/admin/settings/notifications/templates/invoice.issued/email"))
    kit.click(driver, "^Preview$")
    kit.wait_text(driver, "Preview with sample data")
    kit.audit(driver, "settings-template-email")

    kit.go(driver, demo_daemon.url("/admin/settings/portal"))
    kit.audit(driver, "settings-portal")
    kit.fill(kit.field(driver, "label"), "Nearest landmark")
    key = kit.field(driver, "key")
    kit.fill(key, "landmark")
    kit.submit(driver, key)
    kit.wait_text(driver, "Nearest landmark.*added to the sign-up form")
    assert any(f.key == "landmark" for f in _read(demo_daemon, signup.list_fields))
    kit.go(driver, demo_daemon.url("/demo/portal/register"))
    kit.wait_text(driver, "Nearest landmark")

    kit.go(driver, demo_daemon.url("/admin/settings/zones"))
    kit.audit(driver, "settings-zones")
    zone = _read(demo_daemon, coverage.list_zones)[0]
    kit.go(driver, demo_daemon.url(f"/admin/settings/zones/{zone.id}"))
    kit.audit(driver, "settings-zone")
    kit.go(driver, demo_daemon.url("/admin/settings/contracts"))
    kit.audit(driver, "settings-contracts")
    version = _read(demo_daemon, contracts.current)
    kit.go(driver, demo_daemon.url(f"/admin/settings/contracts/{version.id}"))
    kit.audit(driver, "settings-contract")
    kit.go(driver, demo_daemon.url("/admin/settings/gateways"))
    kit.audit(driver, "settings-gateways")


def test_cashier_gets_the_403_page_on_settings(driver: Any, demo_daemon: Site) -> None:
    """The demo cashier has no Settings in the menu and gets the 403 page naming settings.read."""
    sign_in(driver, demo_daemon, "cashier@demo.example", "cashier-pass")
    kit.wait_text(driver, "Dashboard")
    assert "Settings" not in driver.find_element(By.CSS_SELECTOR, "nav").text
    kit.go(driver, demo_daemon.url("/admin/settings/billing"))
    kit.wait_text(driver, "settings.read")
    assert "Not allowed" in kit.body_text(driver)
    kit.audit(driver, "settings-forbidden")
