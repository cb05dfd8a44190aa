"""/{org}/portal/pay/...: the payment pages' mount point and the seam they use (web.portal.visitor)."""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from klein import Klein
from twisted.internet import defer

from tests.web.portal.conftest import Browser
from web.portal import app as portal_app
from web.portal.visitor import Visitor, VisitorSource


class FakePayPages:
    """What web/portal/pay.py provides: built per request with the portal, the Deps, the Pages and the slug."""

    built: list[tuple[Any, ...]] = []

    def __init__(self, portal: VisitorSource, deps: Any, pages: Any, org_slug: str):
        self.portal = portal
        FakePayPages.built.append((deps, pages, org_slug))

    app = Klein()

    @app.route("/balance", methods=["POST"])
    @defer.inlineCallbacks
    def balance(self, request: Any) -> Generator[Any, Any, bytes]:
        v: Visitor = yield self.portal.require_customer(request)
        self.portal.check_csrf(request, v)
        return f"paying for customer {v.customer_id} of {v.org.slug}".encode()

    @app.handle_errors(Exception)
    def error(self, request: Any, failure: Any) -> Any:
        """Errors go to the portal's own handler (a branded page, the sign-in redirect, the CSRF 403)."""
        return self.portal.error(request, failure)  # type: ignore[attr-defined]


@pytest.fixture
def pay_pages(monkeypatch: pytest.MonkeyPatch) -> type[FakePayPages]:
    FakePayPages.built = []
    monkeypatch.setattr(portal_app, "PayPages", FakePayPages)
    return FakePayPages


def test_pay_now_reaches_the_payment_pages_with_the_visitor(browser: Browser, pay_pages: Any) -> None:
    """The suspension page's Pay now form lands on pay/balance, which sees the signed-in customer and passes
    the CSRF check; built with the org's slug."""
    assert browser.login("demo", "yaw@example.com").code == 303
    token = browser.csrf("/demo/portal/suspended")
    r = browser.post("/demo/portal/pay/balance", {"csrf": token})
    assert r.code == 200 and r.text.startswith("paying for customer ") and r.text.endswith(" of demo")
    assert pay_pages.built[-1][2] == "demo"


def test_pay_pages_refuse_a_missing_token_and_a_visitor(browser: Browser, root: Any, pay_pages: Any) -> None:
    """Without the CSRF token: 403; without a session: a redirect to sign in, coming back to pay/balance."""
    assert browser.login("demo", "yaw@example.com").code == 303
    assert browser.post("/demo/portal/pay/balance", {}).code == 403
    r = Browser(root).post("/demo/portal/pay/balance", {"csrf": "x"})
    assert r.code == 303 and r.required_header("Location").endswith("login?next=pay%2Fbalance")
