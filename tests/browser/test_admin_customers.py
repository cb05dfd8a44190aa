"""The console's customers section in headless Chromium against the real demo daemon: the demo owner finds
the suspended customer yaw by search, records a payment covering the arrears, and radclient (the real binary,
against the daemon's auth port) is then accepted for yaw at the plan's rate; a cashier sells a voucher at
the counter and gets the 403 page on a change of plan, and the API refuses a cashier's token the same
change.  Every page of the section at phone and desktop width (axe-core: nothing serious or critical, no
sideways scrolling)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402
from tests.browser.test_admin_login import sign_in  # noqa: E402
from tests.e2e.test_auth_e2e import radclient  # noqa: E402
from tests.e2e.test_write_path_e2e import pap  # noqa: E402


def test_owner_records_the_arrears_and_radius_accepts_at_the_plan_rate(driver: Any, demo_daemon: Site) -> None:
    """Search → the suspended customer → record what is owed → the receipt; RADIUS accepts yaw at 10M/10M."""
    d = demo_daemon.daemon
    before = str(radclient(d, pap("yaw", "yaw-pass")).stdout)
    assert 'Mikrotik-Address-List = "suspended"' in before, before
    owed = demo_daemon.balance("yaw@example.com")
    assert owed > 0

    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")
    kit.click(driver, "^Customers$")
    kit.wait_text(driver, "All customers")
    kit.audit(driver, "customers")
    q = kit.field(driver, "q")
    kit.fill(q, "yaw")
    kit.submit(driver, q)
    kit.wait_text(driver, "Found for")
    kit.audit(driver, "customers-search")
    kit.click(driver, "Yaw Owusu")
    text = kit.wait_text(driver, "Record a payment")
    assert "suspended" in text
    kit.audit(driver, "customer")
    kit.click(driver, "Record a payment", navigates=False)
    amount = kit.field(driver, "amount")
    assert amount.get_attribute("value") == f"{owed // 100}.{owed % 100:02d}"
    kit.fill(amount, "not money")
    kit.fill(kit.field(driver, "reference"), "browser-till-1")
    kit.submit(driver, amount)
    kit.wait_text(driver, "is not an amount")
    assert kit.field(driver, "amount").get_attribute("value") == "not money"
    kit.audit(driver, "customer-payment-error")
    kit.fill(kit.field(driver, "amount"), f"{owed // 100}.{owed % 100:02d}")
    kit.fill(kit.field(driver, "reference"), "browser-till-1")
    kit.submit(driver, kit.field(driver, "reference"))
    kit.wait_text(driver, r"Payment \S+ recorded")
    assert driver.find_elements(By.PARTIAL_LINK_TEXT, "PDF")
    kit.audit(driver, "customer-paid")
    assert demo_daemon.balance("yaw@example.com") <= 0

    def accepted(_: Any) -> str:
        out = str(radclient(d, pap("yaw", "yaw-pass")).stdout)
        return out if 'Mikrotik-Rate-Limit = "10M/10M"' in out else ""
    out = kit.wait(driver, accepted, "radclient accepted at 10M/10M", timeout=10)
    assert "Access-Accept" in out and "suspended" not in out

    # the lists the dashboard links
    kit.click(driver, "^Dashboard$")
    kit.click(driver, "^Online sessions$")
    kit.wait_text(driver, "Online now")
    kit.audit(driver, "sessions")
    kit.click(driver, "^Payments$")
    kit.wait_text(driver, "browser-till-1")
    kit.audit(driver, "payments")
    kit.click(driver, "^Invoices$")
    kit.wait_text(driver, "Invoices")
    kit.audit(driver, "invoices")


def _service_of(site: Site, customer_id: int) -> int:
    """The id of the customer's first service (read from the daemon's database)."""
    import sqlalchemy as sa

    from billing.schema import services
    e = site.engine()
    try:
        with e.connect() as c:
            return int(c.execute(sa.select(sa.func.min(services.c.id)).where(
                services.c.customer_id == customer_id)).scalar_one())
    finally:
        e.dispose()


def test_a_cashier_is_refused_a_plan_change_in_the_console_and_the_api(driver: Any, demo_daemon: Site) -> None:
    """The cashier sees no plan change on a customer's page; the request sent anyway gets the 403 page
    naming services.write; the API refuses a cashier token the same change (403)."""
    _, cid = demo_daemon.customer("ama@example.com")
    sign_in(driver, demo_daemon, "cashier@demo.example", "cashier-pass")
    kit.wait_text(driver, "Dashboard")
    kit.go(driver, demo_daemon.url(f"/admin/customers/{cid}"))
    text = kit.wait_text(driver, "Record a payment")
    assert "Change plan" not in text
    # a cashier sells a voucher at the counter: its code and password once, the card linked
    kit.click(driver, "Sell a voucher", navigates=False)
    kit.fill(kit.field(driver, "reference"), "browser-voucher-1")
    kit.submit(driver, kit.field(driver, "reference"))
    kit.wait_text(driver, "Voucher sold")
    assert driver.find_elements(By.PARTIAL_LINK_TEXT, "Print the card")
    kit.audit(driver, "customer-voucher-sold")
    kit.click(driver, "^Vouchers$")
    kit.click(driver, "^Sell a voucher$")
    kit.wait_text(driver, "Paid by")
    kit.audit(driver, "vouchers-sell")
    service_id = _service_of(demo_daemon, cid)
    # the form a cashier does not get, sent as a hand-made request with the session's own CSRF token
    token = driver.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
    driver.execute_script(
        "var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "[['csrf', arguments[1]], ['product_id', '1'], ['on', '']].forEach(function (kv) {"
        " var i = document.createElement('input'); i.type = 'hidden'; i.name = kv[0]; i.value = kv[1];"
        " f.appendChild(i); }); document.body.appendChild(f); f.submit();",
        demo_daemon.url(f"/admin/customers/{cid}/services/{service_id}/change-plan"), token)
    kit.wait_text(driver, "services.write")
    kit.audit(driver, "forbidden-change-plan")

    made = json.loads(demo_daemon.daemon.cli("token", "create", "--org", "demo", "--name", "till",
                                             "--role", "cashier", "--json").stdout)
    req = urllib.request.Request(demo_daemon.url(f"/api/v1/services/{service_id}/change-plan"), method="POST",
                                 data=json.dumps({"product_id": 1}).encode(),
                                 headers={"Authorization": f"Bearer {made['token']}",
                                          "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("the API let a cashier change a plan")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.read()
