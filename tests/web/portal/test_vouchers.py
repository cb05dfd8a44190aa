"""The voucher pages in process: packages as cards with the org's money, buying one through the test gateway
(the voucher shown once paid, with copy buttons and "Connect now"), no double sale on a second return, the
history and the dashboard's figures; CSRF, sign-in, and nobody else's purchase."""
from __future__ import annotations

import html
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from aaad.view.write import LoginWriter
from billing import customer_accounts, customers
from billing.gateways import store
from billing.gateways import test as test_gw
from billing.vouchers import packages, vouchers
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import PASSWORD, Browser

PAGE = "/demo/portal/vouchers"


@pytest.fixture(scope="module")
def package(world: World) -> Iterator[Any]:
    """demo sells a 1-hour, 500 MB voucher at 2.50 with the test gateway; other sells one too: (demo's,
    other's)."""
    with world.db.engine.begin() as c:
        store.set_gateway(c, world.box, world.demo, "test", NOW)
        w = LoginWriter(world.box)
        p = packages.add(c, w, world.demo, NOW, name="Hour pass", price=2_50, time_limit=3600,
                         data_limit=500_000_000)
        other = packages.add(c, w, world.other, NOW, name="Other pass", price=1_00)
    yield p, other


def mine(world: World, email: str) -> list[Any]:
    """The vouchers of demo's customer with this e-mail."""
    with world.db.engine.connect() as c:
        cust = customers.find(c, world.demo, email)
        assert cust is not None
        return list(vouchers.of_customer(c, world.demo, cust.id, NOW, box=world.box))


def _buy(browser: Browser, package_id: int) -> str:
    """Buy as the signed-in browser; the reference of the transaction the gateway page is for."""
    r = browser.post(f"{PAGE}/buy", {"csrf": browser.csrf(PAGE), "package_id": str(package_id)})
    assert r.code == 303, r.text
    location = r.headers.getRawHeaders("location")[0]
    assert "gateway/test/demo/" in location
    return location.rsplit("/", 1)[1]


def _pay(world: World, reference: str, status: str = "success") -> None:
    """The customer presses a button on the test gateway's page."""
    with world.db.engine.begin() as c:
        test_gw.press(c, world.demo, reference, status, NOW)


def test_packages_show_as_cards_with_the_orgs_money(browser: Browser, package: Any) -> None:
    """A visitor sees each package's time, data and price in the org's format, and is asked to sign in or
    register; another org's packages are not there."""
    r = browser.get(PAGE)
    assert r.code == 200
    text = html.unescape(r.text)
    assert "Hour pass" in text and "1 hour" in text and "500 MB" in text and "2.50" in text
    assert "Other pass" not in text and "register" in text and "vouchers/buy" not in text


def test_buying_shows_the_voucher_once_and_sells_it_once(browser: Browser, world: World,
                                                         package: Any) -> None:
    """Signed in, Buy goes to the gateway; back from a successful payment the page shows the code and the
    password with copy buttons and a Connect-now link to the hotspot with the code filled in; coming back
    again sells nothing more; the history and the dashboard show it."""
    assert browser.login("demo", "ama@example.com").code == 303
    before = len(mine(world, "ama@example.com"))
    ref = _buy(browser, package[0].id)
    _pay(world, ref)
    r = browser.get(f"{PAGE}/bought/{ref}")
    assert r.code == 200 and "Your voucher is ready" in r.text
    code = re.search(r'class="voucher-code" id="voucher-code">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    password = re.search(r'class="voucher-password" id="voucher-password">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert 'data-copy="voucher-code"' in r.text
    link = html.unescape(re.search(r'class="pay-button pay-primary connect" href="([^"]+)"', r.text).group(1))  # type: ignore[union-attr]
    assert link.startswith("http://hotspot.lan/login?")
    assert urllib.parse.parse_qs(link.split("?", 1)[1]) == {"username": [code], "password": [password]}
    assert browser.get(f"{PAGE}/bought/{ref}").code == 200
    assert code in [v.code for v in mine(world, "ama@example.com")]
    assert len(mine(world, "ama@example.com")) == before + 1
    hist = browser.get(f"{PAGE}/history")
    assert hist.code == 200 and code in hist.text and password in hist.text and "2.50" in html.unescape(hist.text)
    dash = browser.get("/demo/portal/")
    assert f'class="vouchers-purchased">{before + 1}<' in dash.text and code in dash.text


def test_pending_and_failed_payments_sell_nothing(browser: Browser, world: World,
                                                  package: Any) -> None:
    """While pending the page says so and offers to check again; a failed payment offers to try again."""
    browser.login("demo", "ama@example.com")
    before = len(mine(world, "ama@example.com"))
    ref = _buy(browser, package[0].id)
    r = browser.get(f"{PAGE}/bought/{ref}")
    assert r.code == 200 and "not confirmed yet" in r.text
    _pay(world, ref, "failed")
    r = browser.get(f"{PAGE}/bought/{ref}")
    assert "did not go through" in r.text and "Try again" in r.text and len(mine(world, "ama@example.com")) == before


def test_what_is_refused(browser: Browser, world: World, package: Any) -> None:
    """Buying needs a signed-in customer (else the login page) and the CSRF token (else 403); an unknown
    or other org's package is a 404 page; another customer's purchase is a 404."""
    r = browser.post(f"{PAGE}/buy", {"csrf": "none", "package_id": str(package[0].id)})
    assert r.code in (302, 303) and "login" in r.headers.getRawHeaders("location")[0]
    browser.login("demo", "ama@example.com")
    assert browser.post(f"{PAGE}/buy", {"csrf": "forged", "package_id": str(package[0].id)}).code == 403
    other = package[1]
    r = browser.post(f"{PAGE}/buy", {"csrf": browser.csrf(PAGE), "package_id": str(other.id)})
    assert r.code == 404 and "not on sale" in r.text
    ref = _buy(browser, package[0].id)
    browser.login("demo", "yaw@example.com")
    assert browser.get(f"{PAGE}/bought/{ref}").code == 404
    assert browser.get(f"{PAGE}/bought/pay-nothing").code == 404


def test_closing_a_customer_ends_portal_access_and_keeps_the_vouchers(browser: Browser, world: World,
                                                                      package: Any) -> None:
    """A customer made with a voucher signs in and sees it; once closed, their next request is sent to the
    sign-in page and the password no longer works, while the voucher and its history stay."""
    email = f"closing-{uuid.uuid4().hex[:8]}@example.com"
    with world.db.engine.begin() as c:
        done = customer_accounts.create(c, LoginWriter(world.box), world.box, world.demo, NOW,
                                        package_id=package[0].id, name="Closing Soon", email=email)
        customers.set_password(c, world.demo, done.customer.id, PASSWORD, NOW)
    assert browser.login("demo", email).code == 303
    (v,) = mine(world, email)
    assert v.code in browser.get(f"{PAGE}/history").text
    with world.db.engine.begin() as c:
        customers.close(c, LoginWriter(world.box), world.demo, done.customer.id, NOW)
    r = browser.get(f"{PAGE}/history")
    assert r.code in (302, 303) and "login" in r.headers.getRawHeaders("location")[0]
    assert browser.login("demo", email).code == 400         # the wrong-credentials answer
    assert [x.code for x in mine(world, email)] == [v.code]
