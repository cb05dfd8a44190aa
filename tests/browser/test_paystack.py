"""Browser flow 5 (issue 13 part (d)): a Paystack payment left pending is confirmed by the re-check job.

Headless Chromium against the real demo daemon whose org ``demo`` uses Paystack — the fake
Paystack of tests/fake_paystack.py on loopback, set up as an operator would (``aaad billing
gateway --paystack-secret-key-file ... --paystack-url ... --use paystack``).  yaw (unpaid,
suspended) signs in, presses Pay now, lands on the Paystack checkout and pays; the payment stays
in progress at Paystack (as a mobile-money payment awaiting approval) and its webhook is withheld,
so the portal's return page says Pending.  Paystack then completes it, still without a webhook;
the admin runs ``aaad jobs run billing.gateway_recheck --org demo``; the return page now says
Successful and RADIUS accepts yaw at the plan's rate.

The module has its own demo daemon (jobs on, but ``billing.gateway_recheck`` skipped by the
daemon's own ticks, so that the admin's run is what confirms the payment).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.paths import require

require()

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site, start_demo_daemon  # noqa: E402
from tests.browser.test_portal_flows import sign_in  # noqa: E402
from tests.e2e.test_auth_e2e import radclient  # noqa: E402
from tests.e2e.test_write_path_e2e import pap  # noqa: E402
from tests.fake_paystack import FakePaystack  # noqa: E402


@pytest.fixture(scope="module")
def paystack_site(tmp_path_factory: Any) -> Iterator[tuple[Site, FakePaystack]]:
    """A demo daemon (jobs on, the re-check left to the admin) whose org ``demo`` pays through the fake
    Paystack, and the fake."""
    folder: Path = tmp_path_factory.mktemp("browser-paystack")
    with FakePaystack() as fake:
        f, d = start_demo_daemon(folder, '[jobs]\nenabled = true\nskip = ["billing.gateway_recheck"]')
        try:
            fake.webhook_url = d.url("/gateway/paystack/demo/webhook")
            key = folder / "paystack.key"
            key.write_text(fake.secret_key + "\n")
            d.cli("billing", "gateway", "--org", "demo", "--paystack-secret-key-file", str(key),
                  "--paystack-url", fake.url, "--use", "paystack")
            yield Site(d), fake
        finally:
            f.close()


def test_pending_paystack_payment_confirmed_by_the_recheck_job(driver: Any,
                                                               paystack_site: tuple[Site, FakePaystack]) -> None:
    site, fake = paystack_site
    d = site.daemon
    before = radclient(d, pap("yaw", "yaw-pass")).stdout
    assert "Access-Accept" in before and 'Mikrotik-Address-List = "suspended"' in before, before
    owed = site.balance("yaw@example.com")
    assert owed > 0
    site.set_password("yaw@example.com", "Yaw-paystack-2026")
    fake.pay_outcome = "ongoing"            # in progress at Paystack
    fake.send_webhooks = False              # and its webhook withheld

    kit.go(driver, site.url("/demo/portal/login"))
    sign_in(driver, "yaw@example.com", "Yaw-paystack-2026")
    if "/suspended" not in driver.current_url:
        kit.click(driver, r"what to do|suspend|pay")
    kit.wait_text(driver, r"pay now")
    kit.click(driver, r"^pay now$")
    kit.wait_url(driver, r"/checkout/[0-9a-f]+")
    text = kit.wait_text(driver, r"pay usd")
    assert f"{owed // 100}.{owed % 100:02d}" in text and "yaw@example.com" in text
    kit.shot(driver, "paystack-checkout")
    kit.click(driver, r"^pay usd")
    kit.wait_url(driver, r"/demo/portal/pay/return/")
    kit.wait_text(driver, r"payment pending")
    kit.audit(driver, "return-pending")
    (reference,) = list(fake.payments)
    assert fake.payment(reference).status == "ongoing" and fake.delivered == []
    assert site.balance("yaw@example.com") == owed

    fake.complete(reference, "success", webhook=False)      # approved at Paystack; no webhook ever comes
    r = d.cli("jobs", "run", "billing.gateway_recheck", "--org", "demo")
    assert "done" in r.stdout, r.stdout

    driver.refresh()
    kit.wait_text(driver, r"payment successful")
    kit.audit(driver, "return-successful")
    assert site.balance("yaw@example.com") <= 0 and fake.delivered == []

    def accepted(_: Any) -> str:
        out = str(radclient(d, pap("yaw", "yaw-pass")).stdout)
        return out if 'Mikrotik-Rate-Limit = "10M/10M"' in out else ""
    out = kit.wait(driver, accepted, "radclient accepted at 10M/10M", timeout=10)
    assert "Access-Accept" in out and "suspended" not in out
