"""The console's queues and voucher pages in headless Chromium against the real demo daemon: the demo owner
follows the dashboard's "Pending registrations" figure, approves the demo's pending registration with a
product, and the new customer's login (its password read off the customer's portal, as the customer would)
is accepted by radclient; the owner generates a voucher batch and prints it (the PDF link answers a PDF).
Every page the sections add is checked at phone and desktop width (axe-core: nothing serious or critical,
no sideways scrolling), a form with its errors too."""
from __future__ import annotations

import re
from typing import Any

import requests

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402
from tests.browser.test_admin_login import sign_in  # noqa: E402
from tests.e2e.test_auth_e2e import radclient  # noqa: E402
from tests.e2e.test_write_path_e2e import pap  # noqa: E402

PORTAL_PASSWORD = "Applicant-portal-2026"


def owner_signs_in(driver: Any, site: Site) -> None:
    """Sign in as the demo owner in a browser holding no console cookie (another test's is cleared on a
    console page: a cookie with Path=/admin/ is only seen there)."""
    driver.get(site.url("/admin/login"))
    driver.delete_all_cookies()
    sign_in(driver, site, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")


def choose(driver: Any, name: str, label: str) -> None:
    Select(kit.field(driver, name)).select_by_visible_text(label)


def _registration(site: Site) -> tuple[int, int, int, str]:
    """The approved demo registration: (id, customer id, service id, the service's login name)."""
    from aaad import orgs
    from billing import services
    from billing.signup import registrations
    e = site.engine()
    try:
        with e.connect() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            (reg,) = registrations.page(c, org.id, status="approved", q="Applicant 1").items
            assert reg.customer_id and reg.service_id
            svc = services.get(c, org.id, reg.service_id)
            assert svc is not None and svc.username
            return reg.id, reg.customer_id, reg.service_id, svc.username
    finally:
        e.dispose()


def test_owner_approves_a_registration_and_its_login_authenticates(driver: Any, demo_daemon: Site) -> None:
    """Dashboard → pending registrations → the registration → approve with a product; the new customer
    signs in to the portal, reads the login's password there, and radclient is accepted with it."""
    owner_signs_in(driver, demo_daemon)
    kit.click(driver, "Pending registrations")
    kit.wait_text(driver, "Applicant 1")
    assert "status=pending" in driver.current_url
    kit.audit(driver, "registrations")
    kit.click(driver, "^Applicant 1$")
    kit.wait_text(driver, "Registration of Applicant 1")
    kit.audit(driver, "registration")
    approve = kit.field(driver, "product_id")
    choose(driver, "product_id", "Home 10M")
    kit.submit(driver, approve)
    kit.wait_text(driver, "Approved.")
    kit.audit(driver, "registration-approved")

    _, customer_id, service_id, username = _registration(demo_daemon)
    assert f"customers/{customer_id}" in driver.page_source
    email = re.search(r"applicant1-\d+@example\.com", kit.body_text(driver))
    assert email is not None
    demo_daemon.set_password(email.group(0), PORTAL_PASSWORD)
    kit.go(driver, demo_daemon.url("/demo/portal/login"))
    ident = kit.field(driver, "identifier", "e-mail")
    kit.fill(ident, email.group(0))
    kit.fill(kit.field(driver, "password"), PORTAL_PASSWORD)
    kit.submit(driver, ident)
    kit.wait_text(driver, "Home 10M")
    secret = driver.find_element(By.CSS_SELECTOR, f"#pw-{service_id}").get_attribute("textContent")
    assert secret and username in kit.body_text(driver)
    out = kit.wait(driver, lambda d: (lambda s: s if "Access-Accept" in s else "")(
        str(radclient(demo_daemon.daemon, pap(username, secret.strip())).stdout)),
        "radclient accepted the new login", timeout=10)
    assert "Access-Accept" in out


def test_owner_generates_and_prints_a_voucher_batch(driver: Any, demo_daemon: Site) -> None:
    """Vouchers → generate a batch of the demo's "1 hour" package → its page lists the codes; the print link
    answers application/pdf starting with %PDF.  The packages, the vouchers, the orders and tickets pages
    are audited on the way."""
    owner_signs_in(driver, demo_daemon)
    kit.click(driver, "^Vouchers$")
    kit.wait_text(driver, "Look up a code")
    kit.click(driver, "^Batches$")
    kit.wait_text(driver, "Voucher batches")
    kit.audit(driver, "voucher-batches")
    kit.click(driver, "Generate a batch")
    kit.wait_text(driver, "Generate a voucher batch")
    kit.audit(driver, "voucher-batch-new")
    count = kit.field(driver, "count")
    kit.fill(count, "0")
    kit.submit(driver, count)
    kit.wait_text(driver, "Please correct")
    assert kit.message_for(driver, kit.field(driver, "package_id"))
    kit.audit(driver, "voucher-batch-errors")
    choose(driver, "package_id", "1 hour ($1.00)")
    kit.fill(kit.field(driver, "count"), "5")
    kit.fill(kit.field(driver, "note"), "browser test")
    kit.submit(driver, kit.field(driver, "count"))
    kit.wait_text(driver, "Generated: print the cards")
    kit.audit(driver, "voucher-batch")
    codes = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "table.list tbody td:first-child a")]
    assert len(codes) == 5
    link = driver.find_element(By.PARTIAL_LINK_TEXT, "Print the cards").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    pdf = requests.get(link, cookies=cookies, timeout=60)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    kit.click(driver, f"^{codes[0]}$")
    kit.wait_text(driver, f"Voucher {codes[0]}")
    kit.audit(driver, "voucher")
    kit.click(driver, "Vouchers and look-up")
    kit.audit(driver, "vouchers")
    code = kit.field(driver, "code")
    kit.fill(code, codes[1].lower())
    kit.submit(driver, code)
    kit.wait_text(driver, f"Voucher {codes[1]}")
    kit.click(driver, "^Packages$")
    kit.wait_text(driver, "Voucher packages")
    kit.audit(driver, "voucher-packages")
    kit.click(driver, "^Week pass$")
    kit.wait_text(driver, "Package Week pass")
    kit.audit(driver, "voucher-package")
    kit.click(driver, "^Packages$")
    kit.click(driver, "Add a package")
    name = kit.field(driver, "name")
    kit.submit(driver, name)
    kit.wait_text(driver, "Please correct")
    assert kit.message_for(driver, kit.field(driver, "name"))
    kit.audit(driver, "voucher-package-errors")

    for nav, heading, item in (("^Orders$", "Orders", r"^ORD-\d+$"), ("^Tickets$", "Tickets", "^Order ORD-")):
        kit.click(driver, nav)
        kit.wait_text(driver, heading)
        kit.audit(driver, heading.lower())
        kit.click(driver, item)
        kit.wait_text(driver, "ORD-")
        kit.audit(driver, heading.lower()[:-1])
