"""/gateway/test/...: the built-in test gateway's hosted page and webhook (at the web root).

    GET  /gateway/test/{org}/{reference}   the hosted page: amount, Succeed / Stay pending / Fail
    POST /gateway/test/{org}/{reference}   a button: the gateway decides the payment, sends its
                                           signed webhook, and sends the customer back to the portal
    POST /gateway/test/webhook             the test gateway's webhook: signature checked (403
                                           otherwise), settled, 200 (any number of times)
    POST /gateway/paystack/{org}/webhook   Paystack's webhook for the org (the URL to set on the org's
                                           Paystack dashboard): x-paystack-signature checked with the
                                           org's secret key (403 otherwise), settled, 200

The buttons carry a signed field (HMAC of the reference under the org's test
key), so only a page the daemon served can press them.  A button delivers the
webhook in process, through exactly the code the webhook endpoint runs
(``Gateways.receive_webhook``: parse_webhook -> settle) rather than over HTTP
to itself: the daemon may not know an address at which it reaches itself, and
the result is the same signed bytes checked the same way.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

from klein import Klein
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import Forbidden

from aaad import orgs
from aaad.clock import utcnow
from aaad.errors import NotFound
from billing.gateways import paystack
from billing.gateways import test as test_gw
from billing.gateways.base import STATUSES, BadSignature
from billing.gateways.service import Gateways
from billing.money import format_amount
from web.api.app import Deps
from web.errors import apply, classify, set_header
from web.pages import Pages, json_body

_LABELS = {"success": "Succeeded", "pending": "Pending", "failed": "Failed"}


def form_value(request: IRequest, name: str) -> str:
    """A POSTed (or query) field's last value, '' if absent."""
    values = (cast(Any, request).args or {}).get(name.encode("ascii"), [])
    return values[-1].decode("utf-8", "replace") if values else ""


def headers_of(request: IRequest) -> dict[str, str]:
    """The request's headers by lower-case name (the last value of each)."""
    out: dict[str, str] = {}
    for name, values in cast(Any, request).requestHeaders.getAllRawHeaders():
        if values:
            out[name.decode("latin-1").lower()] = values[-1].decode("latin-1")
    return out


class GatewayPages:
    """The test gateway's pages, built per request with the services."""

    app = Klein()

    def __init__(self, deps: Deps | None, pages: Pages):
        self.deps = deps
        self.pages = pages
        self.gateways = None if deps is None else Gateways(deps.db, deps.box, deps.clock, deps.login_writer)

    def _gateways(self) -> Gateways:
        if self.gateways is None:
            raise NotFound("page", "gateway")
        return self.gateways

    @defer.inlineCallbacks
    def _payment(self, slug: str, reference: str) -> Generator[Any, Any, tuple[Any, Any, Any]]:
        """The org, its test gateway and the gateway's record of ``reference``; NotFound otherwise."""
        gws = self._gateways()
        org = yield gws.db.read(orgs.get_by_slug, slug)
        if org is None:
            raise NotFound("payment", reference)
        p = yield gws.db.read(test_gw.provider_get, org.id, reference)
        if p is None:
            raise NotFound("payment", reference)
        gw = yield gws.existing(org, test_gw.NAME)
        return org, gw, p

    @app.route("/test/webhook", methods=["POST"])
    @defer.inlineCallbacks
    def webhook(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The test gateway's webhook: 403 unless signed with the org's key; else settled, 200."""
        body = cast(Any, request).content.read()
        try:
            settled = yield self._gateways().receive_webhook(test_gw.NAME, test_gw.org_of(body), headers_of(request),
                                                             body)
        except BadSignature:
            request.setResponseCode(403)
            return json_body(request, {"error": {"code": "bad_signature", "message": "The signature does not "
                                                 "verify.", "field": None}})
        return json_body(request, {"outcome": settled.outcome})

    @app.route("/paystack/<slug>/webhook", methods=["POST"])
    @defer.inlineCallbacks
    def paystack_webhook(self, request: IRequest, slug: str) -> Generator[Any, Any, bytes]:
        """Paystack's webhook for org ``slug``: 403 unless signed with the org's secret key; else settled, 200."""
        body = cast(Any, request).content.read()
        try:
            settled = yield self._gateways().receive_webhook(paystack.NAME, slug, headers_of(request), body)
        except BadSignature:
            request.setResponseCode(403)
            return json_body(request, {"error": {"code": "bad_signature", "message": "The signature does not "
                                                 "verify.", "field": None}})
        return json_body(request, {"outcome": settled.outcome})

    @app.route("/test/<slug>/<reference>", methods=["GET"])
    @defer.inlineCallbacks
    def hosted(self, request: IRequest, slug: str, reference: str) -> Generator[Any, Any, bytes]:
        """The hosted page: what is paid to whom, and the three buttons (or the decision made)."""
        org, gw, p = yield self._payment(slug, reference)
        return self.page(request, org, gw, p)

    def page(self, request: IRequest, org: orgs.Org, gw: test_gw.TestGateway, p: test_gw.ProviderPayment) -> bytes:
        set_header(request, "Cache-Control", "no-store")
        return self.pages.render(request, "gateway_test.html", brand="aaad test gateway", org_name=org.name,
                                 amount=format_amount(p.amount, p.currency), currency=p.currency,
                                 reference=p.reference, status=p.status, status_label=_LABELS[p.status],
                                 token=gw.page_token(p.reference), return_url=p.return_url)

    @app.route("/test/<slug>/<reference>", methods=["POST"])
    @defer.inlineCallbacks
    def press(self, request: IRequest, slug: str, reference: str) -> Generator[Any, Any, bytes]:
        """A button: decide at the gateway, deliver the signed webhook, back to the portal (303)."""
        org, gw, p = yield self._payment(slug, reference)
        if not gw.check_page_token(reference, form_value(request, "token")):
            raise Forbidden("This form has expired; open the payment page again.")
        outcome = form_value(request, "outcome")
        if outcome not in STATUSES:
            request.setResponseCode(400)
            return self.page(request, org, gw, p)
        gws = self._gateways()
        p = yield gws.db.write(test_gw.press, org.id, reference, outcome, utcnow(gws.clock))
        headers, body = gw.webhook(p)
        yield gws.receive_webhook(test_gw.NAME, org.slug, headers, body)
        request.setResponseCode(303)
        set_header(request, "Location", p.return_url)
        return b""

    @app.handle_errors(Exception)
    def error(self, request: IRequest, failure: Failure) -> bytes:
        """Errors as the root renders them (an HTML page, no stack trace)."""
        err = classify(failure, request)
        apply(request, err)
        if cast(Any, request).path.endswith(b"/webhook"):
            return json_body(request, {"error": {"code": err.code, "message": err.message, "field": err.field}})
        return self.pages.error(request, err, "aaad test gateway", "")

