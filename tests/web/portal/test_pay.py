"""Paying the outstanding balance from the portal, in process (StubTreq over the real web root plus
the pay pages mounted as the Portal will mount them): the test gateway's hosted page, its buttons
and webhook, the return page, CSRF, and no reaching another customer's or org's payment."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import Forbidden
from werkzeug.routing import RequestRedirect

from aaad import app
from aaad.db import sync_engine
from aaad.health import HealthCheck
from aaad.metrics import Stats
from aaad.web import CoreWeb
from billing.gateways import store
from billing.gateways import test as test_gw
from billing.gateways.schema import gateway_transactions
from tests.billing.gateways.world import OWED, Suspended, suspended_world
from tests.dbtemplate import migrated
from tests.helpers import result_of
from tests.web.conftest import STARTED, FakeHealth, FakeView, Reply, _StubTreqApi
from web.api.app import Deps
from web.pages import Pages
from web.portal.pay import PayPages
from web.portal.visitor import Visitor
from web.root import build_root, resource_of

HOST = "http://aaad.test"
CUSTOMER_HEADER = b"x-test-customer"


class StubPortal:
    """The VisitorSource seam until the Portal's sessions land: the signed-in customer is
    named by a test header; the CSRF token is 'tok-<customer id>'."""

    def __init__(self, org: Any, read: Any):
        self.org = org
        self.read = read

    def visitor(self, request: IRequest) -> defer.Deferred[Visitor]:
        raw = cast(Any, request).getHeader(CUSTOMER_HEADER)
        cid = int(raw) if raw else None
        return defer.succeed(Visitor(self.org, cid, f"tok-{cid}"))

    def require_customer(self, request: IRequest) -> defer.Deferred[Visitor]:
        def signed_in(v: Visitor) -> Visitor:
            if v.customer_id is None:
                raise RequestRedirect(f"{HOST}/{self.org.slug}/portal/login?next=x")
            return v
        return self.visitor(request).addCallback(signed_in)

    def sign_in(self, request: IRequest, visitor: Visitor, customer_id: int) -> defer.Deferred[Visitor]:
        return defer.succeed(Visitor(self.org, customer_id, f"tok-{customer_id}"))

    def check_csrf(self, request: IRequest, visitor: Visitor) -> None:
        sent = (cast(Any, request).args or {}).get(b"csrf", [b""])[-1].decode()
        if sent != visitor.csrf:
            raise Forbidden("bad CSRF token")


class Harness(Resource):
    """The real web root, with /{org}/portal/pay/ going to the pay pages as the Portal mounts them."""
    isLeaf = True

    def __init__(self, root: IResource, deps: Deps, orgs_by_slug: dict[str, Any]):
        super().__init__()
        self.root, self.deps, self.orgs = root, deps, orgs_by_slug
        self.pages = Pages()
        self.portal_error: Any = None       # the Portal's own error handler, when a test gives one

    def render(self, request: Any) -> Any:
        segs = request.postpath
        if len(segs) >= 3 and segs[1:3] == [b"portal", b"pay"] and segs[0].decode() in self.orgs:
            slug = segs[0].decode()
            request.prepath, request.postpath = segs[:3], segs[3:]
            portal = StubPortal(self.orgs[slug], self.deps.db.read)
            if self.portal_error is not None:
                portal.error = self.portal_error  # type: ignore[attr-defined]
            pay = PayPages(portal, self.deps, self.pages, slug)
            return cast(Any, resource_of(pay.app)).render(request)
        return cast(Any, self.root).render(request)


@dataclass
class Env:
    a: Suspended
    b: Suspended                  # another org, same database
    treq: _StubTreqApi
    harness: Harness

    def request(self, method: str, url: str, customer: int | None = None, data: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
        h = dict(headers or {})
        if customer is not None:
            h["X-Test-Customer"] = str(customer)
        if not url.startswith("http"):
            url = HOST + url
        d = self.treq.request(method, url, headers=h, data=body if body is not None else data,
                              allow_redirects=False)
        self.treq.flush()
        resp = result_of(d)
        content = self.treq.content(resp)
        self.treq.flush()
        return Reply(resp.code, resp.headers, result_of(content))

    def pay(self, customer: int, csrf: str | None = None) -> Reply:
        return self.request("POST", "/isp/portal/pay/balance", customer,
                            {"csrf": f"tok-{customer}" if csrf is None else csrf})

    def start(self) -> str:
        """Pay-now as the suspended customer; the hosted page's absolute URL."""
        r = self.pay(self.a.customer_id)
        assert r.code == 303, r.text
        return urllib.parse.urljoin(HOST + "/isp/portal/pay/balance", r.required_header("Location"))

    def press(self, page_url: str, outcome: str) -> Reply:
        page = self.request("GET", page_url)
        assert page.code == 200, page.text
        token = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
        assert token, page.text
        return self.request("POST", page_url, data={"token": token.group(1), "outcome": outcome})

    def ref(self, page_url: str) -> str:
        return page_url.rsplit("/", 1)[-1]


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    e = sync_engine(migrated(f"sqlite:///{tmp_path / 'pay.db'}"))
    a = suspended_world(e, "isp", "ann")
    b = suspended_world(e, "isp-b", "bob")
    b.clock = a.clock
    conf = app.load_config(None, environ={})
    core = SimpleNamespace(db=a.db, clock=a.clock, box=a.w.box, login_writer=a.w.writer, stats=Stats(), conf=conf)
    deps = Deps(core, conf, {})
    web_core = CoreWeb(a.db, Stats(), FakeView(), STARTED, cast(HealthCheck, FakeHealth()))
    root = build_root(web_core, a.db.read, a.clock, STARTED, deps)
    harness = Harness(root, deps, {"isp": a.org, "isp-b": b.org})
    yield Env(a, b, cast(_StubTreqApi, StubTreq(harness)), harness)
    e.dispose()


def test_suspended_customer_pays_and_is_resumed(env: Env) -> None:
    """Pay now -> the test gateway's page (amount shown) -> Succeed -> webhook -> back to the
    return page: Successful, the service active again, one payment recorded."""
    a = env.a
    page_url = env.start()
    assert page_url.startswith(f"{HOST}/gateway/test/isp/pay-")
    page = env.request("GET", page_url)
    assert page.code == 200 and "115.00" in page.text and "GHS" in page.text and "<script" not in page.text
    for label in ("Succeed", "Stay pending", "Fail"):
        assert f">{label}</button>" in page.text
    back = env.press(page_url, "success")
    ref = env.ref(page_url)
    assert back.code == 303 and back.required_header("Location") == f"{HOST}/isp/portal/pay/return/{ref}"
    assert a.count_payments() == 1 and a.w.service(a.service_id).state == "active"
    r = env.request("GET", back.required_header("Location"), a.customer_id)
    assert r.code == 200 and "Payment successful" in r.text and "Your service is active again." in r.text
    assert "<script" not in r.text and ref in r.text
    # the page again, and the gateway's button again: nothing more is credited
    assert env.request("GET", back.required_header("Location"), a.customer_id).code == 200
    again = env.request("GET", page_url)
    assert "already" in again.text and "succeeded" in again.text
    assert a.count_payments() == 1
    outcomes = [e.outcome for e in a.w.read(store.events_of, a.w.org_id, ref)]
    assert outcomes[:2] == ["started", "credited"]


def test_stay_pending_then_the_recheck_job_confirms(env: Env) -> None:
    """Stay pending -> Pending on the return page; the customer completes later and the webhook
    is lost: the re-check job credits it and the return page says Successful."""
    a = env.a
    page_url = env.start()
    ref = env.ref(page_url)
    back = env.press(page_url, "pending")
    r = env.request("GET", back.required_header("Location"), a.customer_id)
    assert r.code == 200 and "Payment pending" in r.text and a.count_payments() == 0
    a.w.tx(test_gw.press, a.w.org_id, ref, "success", a.now())          # decided at the gateway, no webhook
    assert result_of(a.gateways.recheck(a.w.org_id)) == 1
    assert a.count_payments() == 1 and a.w.service(a.service_id).state == "active"
    r = env.request("GET", back.required_header("Location"), a.customer_id)
    assert "Payment successful" in r.text and "active again" in r.text


def test_fail_credits_nothing(env: Env) -> None:
    """Fail -> Failed, nothing credited, the service still suspended, a try-again form (with its CSRF token)."""
    a = env.a
    page_url = env.start()
    back = env.press(page_url, "failed")
    r = env.request("GET", back.required_header("Location"), a.customer_id)
    assert r.code == 200 and "Payment failed" in r.text and "Nothing was charged" in r.text
    assert f'name="csrf" value="tok-{a.customer_id}"' in r.text and 'action="../balance"' in r.text
    assert a.count_payments() == 0 and a.w.service(a.service_id).state == "suspended"


def test_webhook_endpoint(env: Env) -> None:
    """POST /gateway/test/webhook: 403 unless signed with the org's key, else settled and 200,
    any number of times."""
    a = env.a
    page_url = env.start()
    ref = env.ref(page_url)
    p = a.w.tx(test_gw.press, a.w.org_id, ref, "success", a.now())
    gw = result_of(a.gateways.gateway(a.org, "test"))
    assert isinstance(gw, test_gw.TestGateway)
    headers, body = gw.webhook(p)
    forged = env.request("POST", "/gateway/test/webhook", headers={**headers, test_gw.SIGNATURE_HEADER: "f" * 64},
                         body=body)
    assert forged.code == 403 and forged.json()["error"]["code"] == "bad_signature" and a.count_payments() == 0
    assert env.request("POST", "/gateway/test/webhook", body=b"{}").code == 403
    assert env.request("POST", "/gateway/test/webhook", body=b"not json").code == 403
    ok = env.request("POST", "/gateway/test/webhook", headers=headers, body=body)
    assert ok.code == 200 and ok.json() == {"outcome": "credited"}
    again = env.request("POST", "/gateway/test/webhook", headers=headers, body=body)
    assert again.code == 200 and again.json() == {"outcome": "duplicate"} and a.count_payments() == 1


def test_hosted_page_refuses_unsigned_presses_and_strangers(env: Env) -> None:
    """A button without the page's signed field is 403; unknown references and another org's
    slug are 404; an unknown outcome is 400; nothing is credited."""
    a = env.a
    page_url = env.start()
    ref = env.ref(page_url)
    assert env.request("POST", page_url, data={"token": "0" * 64, "outcome": "success"}).code == 403
    assert env.request("POST", page_url, data={"outcome": "success"}).code == 403
    assert env.request("GET", f"/gateway/test/isp/{ref}x").code == 404
    assert env.request("GET", f"/gateway/test/isp-b/{ref}").code == 404
    assert env.request("GET", f"/gateway/test/nobody/{ref}").code == 404
    page = env.request("GET", page_url)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert token
    assert env.request("POST", page_url, data={"token": token.group(1), "outcome": "maybe"}).code == 400
    assert a.count_payments() == 0 and a.tx(ref).status == "pending"


def test_csrf_and_sign_in_are_required(env: Env) -> None:
    """Pay-now without the CSRF token is 403 and without a signed-in customer a redirect to the
    login page; neither creates a transaction."""
    a = env.a
    assert env.pay(a.customer_id, csrf="").code == 403
    assert env.pay(a.customer_id, csrf="tok-999").code == 403
    r = env.request("POST", "/isp/portal/pay/balance", None, {"csrf": "tok-None"})
    assert r.code in (302, 303, 307, 308) and "login" in r.required_header("Location")
    assert a.count_tx() == 0


def test_nothing_to_pay(env: Env) -> None:
    """A customer who owes nothing gets a page saying so, and no transaction."""
    a = env.a
    a.w.pay(a.customer_id, OWED, "bank-1", now=a.now())
    r = env.pay(a.customer_id)
    assert r.code == 409 and "nothing to pay" in r.text and a.count_tx() == 0


def test_no_one_sees_another_customers_or_orgs_payment(env: Env) -> None:
    """The return page of another customer's transaction, or of another org's (through that
    org's portal), is a 404 exactly like an unknown reference; nothing is revealed."""
    a, b = env.a, env.b
    page_url = env.start()
    ref = env.ref(page_url)
    other = a.w.customer("carol", "Carol")
    mine = env.request("GET", f"/isp/portal/pay/return/{ref}", a.customer_id)
    assert mine.code == 200
    for r in (env.request("GET", f"/isp/portal/pay/return/{ref}", other),
              env.request("GET", f"/isp-b/portal/pay/return/{ref}", b.customer_id),
              env.request("GET", "/isp/portal/pay/return/pay-unknown", a.customer_id)):
        assert r.code == 404 and ref not in r.text and "115.00" not in r.text
    assert env.request("GET", f"/isp/portal/pay/return/{ref}").code in (302, 303, 307, 308)
    with a.w.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(gateway_transactions)).scalar_one() == 1


def test_gateway_pages_need_the_services(client: Any) -> None:
    """A root built without the API's services (no database writer) answers 404 under /gateway/."""
    assert client.get("/gateway/test/isp-a/pay-x").code == 404
    assert client.request("POST", "/gateway/test/webhook").code == 404


def test_pay_now_partial_posts_the_balance_form(env: Env) -> None:
    """The pay-now include (for P1's suspension page) renders a POST form to pay/balance with the
    CSRF token; posted from the suspension page's address it starts the payment."""
    html = Pages().env.get_template("portal/pay_now.html").render(csrf="tok-1", pay_url="pay/balance")
    assert 'action="pay/balance"' in html and 'name="csrf" value="tok-1"' in html and ">Pay now</button>" in html
    assert "<script" not in html
    target = urllib.parse.urljoin(f"{HOST}/isp/portal/suspended", "pay/balance")
    r = env.request("POST", target, env.a.customer_id, {"csrf": f"tok-{env.a.customer_id}"})
    assert r.code == 303 and "gateway/test/isp/" in r.required_header("Location")


def test_errors_go_to_the_portals_own_handler(env: Env) -> None:
    """When the Portal has an error handler (its redirects, its branded pages), the pay pages use it."""
    seen: list[Any] = []

    def error(request: Any, failure: Any) -> bytes:
        seen.append(failure.value)
        request.setResponseCode(418)
        return b"the portal's page"
    env.harness.portal_error = error
    r = env.request("GET", "/isp/portal/pay/return/pay-unknown", env.a.customer_id)
    assert r.code == 418 and r.text == "the portal's page" and type(seen[0]).__name__ == "NotFound"


def _order(env: Env, who: Suspended | None = None) -> Any:
    """An order of a 50.00 portal product (57.50 with VAT) by ``who`` (env.a), to pay online."""
    from billing import catalogue
    from billing.orders import orders
    s = who or env.a
    p = s.w.tx(catalogue.add_product, s.w.writer, s.w.org_id, s.now(), name="Extra 5M", type="internet",
               price=50_00, rate_limit="5M/5M")
    return s.w.tx(orders.place, s.w.writer, s.w.org_id, s.customer_id, [p.id], s.now(), method="gateway")


def test_paying_an_order_starts_its_service(env: Env) -> None:
    """Pay an order -> the test gateway for its total -> Succeed -> the return page names the
    order as paid and its service as active; one payment; paying it again is refused (409)."""
    from billing.orders import orders
    a = env.a
    o = _order(env)
    r = env.request("POST", f"/isp/portal/pay/order/{o.id}", a.customer_id, {"csrf": f"tok-{a.customer_id}"})
    assert r.code == 303, r.text
    page_url = urllib.parse.urljoin(HOST + "/isp/portal/pay/order/1", r.required_header("Location"))
    assert "57.50" in env.request("GET", page_url).text
    back = env.press(page_url, "success")
    done = env.request("GET", back.required_header("Location"), a.customer_id)
    assert done.code == 200 and "Payment successful" in done.text
    assert o.number in done.text and "is paid" in done.text and "active now" in done.text, done.text
    assert a.w.read(orders.require, a.w.org_id, o.id).status == "paid"
    assert a.w.service(o.service_ids[0]).state == "active"
    again = env.request("POST", f"/isp/portal/pay/order/{o.id}", a.customer_id, {"csrf": f"tok-{a.customer_id}"})
    assert again.code == 409 and "nothing to pay" in again.text


def test_an_order_is_paid_only_by_its_customer_with_csrf(env: Env) -> None:
    """No CSRF token: 403; another org's customer (same id space): 404; nothing started."""
    a, b = env.a, env.b
    o = _order(env)
    assert env.request("POST", f"/isp/portal/pay/order/{o.id}", a.customer_id, {"csrf": "nope"}).code == 403
    r = env.request("POST", f"/isp-b/portal/pay/order/{o.id}", b.customer_id, {"csrf": f"tok-{b.customer_id}"})
    assert r.code == 404
    assert a.count_tx() == 0


def test_a_failed_order_payment_offers_to_pay_the_order_again(env: Env) -> None:
    """Fail -> Failed; the try-again form posts to the order, not the balance."""
    a = env.a
    o = _order(env)
    r = env.request("POST", f"/isp/portal/pay/order/{o.id}", a.customer_id, {"csrf": f"tok-{a.customer_id}"})
    page_url = urllib.parse.urljoin(HOST + "/isp/portal/pay/order/1", r.required_header("Location"))
    back = env.press(page_url, "failed")
    done = env.request("GET", back.required_header("Location"), a.customer_id)
    assert "Payment failed" in done.text and f'action="../order/{o.id}"' in done.text
    assert a.w.service(o.service_ids[0]).state == "pending"
