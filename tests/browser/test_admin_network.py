"""The console's catalogue and network pages in headless Chromium against the real demo daemon: the demo
owner adds a product with a FUP tier, looks at the RADIUS profiles, the routers list, a router and its
dry-run provisioning preview, the router forms, the action queue and the message outbox.  Every page at
phone and desktop width (axe-core: nothing serious or critical, no sideways scrolling)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402


def sign_in(driver: Any, site: Site) -> None:
    kit.go(driver, site.url("/admin/login"))
    kit.fill(kit.field(driver, "email"), "owner@demo.example")
    kit.fill(kit.field(driver, "password"), "owner-pass")
    kit.submit(driver, kit.field(driver, "password"))
    kit.wait_text(driver, "Dashboard")


def open_first(driver: Any, css: str) -> bool:
    """Follow the first link matching ``css`` if the list has one."""
    links = driver.find_elements(By.CSS_SELECTOR, css)
    if not links:
        return False
    kit.go(driver, links[0].get_attribute("href"))
    return True


def queue_an_action(site: Site) -> None:
    """A Disconnect for the demo NAS, as enforcement queues one (the demo has no router: it times out)."""
    import sqlalchemy as sa

    from aaad import orgs
    from aaad.schema import nas
    from enforcement import actions
    with site.engine().begin() as c:
        org = orgs.get_by_slug(c, "demo")
        assert org is not None
        nas_id = c.execute(sa.select(nas.c.id).where(nas.c.org_id == org.id)).scalars().first()
        actions.queue(c, org.id, actions.DISCONNECT, "manual", None,
                      [actions.OpenSession(0, None, "alice", nas_id, "browser-1", None)], datetime.now(UTC),
                      reason="browser test")


def test_catalogue_and_network_pages(driver: Any, demo_daemon: Site) -> None:
    """Add a product with a tier, then the profiles, routers (with a dry-run preview), actions and
    messages: each page audited at phone and desktop width."""
    queue_an_action(demo_daemon)
    sign_in(driver, demo_daemon)

    kit.click(driver, "^Products$")
    kit.wait_text(driver, "Home 10M")
    kit.audit(driver, "products")
    kit.click(driver, "^Add a product$")
    kit.wait_text(driver, "Price per period")
    kit.audit(driver, "product-new")
    kit.submit(driver, kit.field(driver, "name"))              # empty: the errors next to their fields
    kit.wait_text(driver, "Please correct the fields")
    kit.audit(driver, "product-new-errors")
    kit.fill(kit.field(driver, "name"), "Fibre 200")
    kit.fill(kit.field(driver, "price"), "1,250.00")
    kit.fill(kit.field(driver, "data_cap"), "1T")
    kit.fill(kit.field(driver, "rate_limit"), "200M/200M")
    kit.submit(driver, kit.field(driver, "name"))
    kit.wait_text(driver, "FUP tiers")
    assert "Fibre 200" in driver.find_element(By.TAG_NAME, "h1").text
    tier = kit.field(driver, "after")
    kit.fill(tier, "500G")
    kit.fill(kit.field(driver, "rate_limit"), "20M/20M")
    kit.submit(driver, tier)
    kit.wait_text(driver, "20M/20M")
    assert "500G" in kit.body_text(driver)
    kit.audit(driver, "product")
    kit.click(driver, "^Edit the product$")
    kit.wait_text(driver, "Still sold")
    kit.audit(driver, "product-edit")

    kit.click(driver, "^RADIUS profiles$")
    kit.wait_text(driver, "Fibre 200")
    kit.audit(driver, "profiles")
    kit.click(driver, "^Fibre 200$")
    kit.wait_text(driver, "500G")
    kit.audit(driver, "profile")
    kit.go(driver, demo_daemon.url("/admin/profiles/new"))
    kit.audit(driver, "profile-new")

    kit.click(driver, "^Routers$")
    kit.wait_text(driver, "loopback")
    kit.audit(driver, "routers")
    kit.click(driver, "^loopback$")
    kit.wait_text(driver, "Sessions open on this router")
    kit.audit(driver, "router")
    kit.click(driver, "Provision")
    address = kit.field(driver, "radius_address")
    kit.fill(address, "127.0.0.1")
    kit.submit(driver, address)
    kit.wait_text(driver, "/radius add")
    assert "testing123" not in kit.body_text(driver)          # the demo NAS's secret is masked
    kit.audit(driver, "provision-preview")
    kit.go(driver, demo_daemon.url("/admin/routers/new"))
    kit.audit(driver, "router-new")
    kit.go(driver, demo_daemon.url("/admin/routers"))
    kit.click(driver, "^loopback$")
    kit.click(driver, "^Edit$")
    kit.wait_text(driver, "RADIUS shared secret")
    assert "testing123" not in driver.page_source
    kit.audit(driver, "router-edit")

    kit.click(driver, "^Router actions$")
    kit.wait_text(driver, "Router actions")
    kit.audit(driver, "actions")
    assert open_first(driver, "table.list a[href*='actions/']")
    kit.wait_text(driver, "browser test")
    kit.audit(driver, "action")
    kit.click(driver, "^Messages$")
    kit.wait_text(driver, "Messages")
    kit.audit(driver, "messages")
    if open_first(driver, "table.list a[href*='messages/']"):
        kit.audit(driver, "message")
