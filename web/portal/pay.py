"""/{org}/portal/pay/: paying the outstanding balance through the org's gateway.

    POST balance              (signed in, CSRF-checked) a gateway transaction for the whole
                              outstanding balance, then 303 to the gateway's page
    GET  return/{reference}   where the gateway sends the customer back: Successful, Pending
                              or Failed for the customer's own transaction (asked of the
                              gateway while pending); a success says whether the service is
                              active again

Mounted by the Portal (``web/portal/app.py``) at ``pay/`` as a Klein sub-app; it
gets the visitor (signed-in customer, CSRF token) through :class:`VisitorSource`.
A transaction of another customer, or of another org, is a 404 like one that
does not exist.  Handlers write no SQL and decide no money: billing.gateways does.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

from klein import Klein
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import urls
from aaad.errors import NotFound, ValidationError
from billing.gateways import store
from billing.gateways.base import GatewayError
from billing.gateways.service import Gateways
from billing.money import format_amount
from billing.orders import orders
from web.api.app import Deps
from web.errors import set_header
from web.pages import Pages, root_prefix
from web.portal.section import PortalPages
from web.portal.visitor import Visitor, VisitorSource

_HEADINGS = {"success": "Payment successful", "pending": "Payment pending", "failed": "Payment failed"}


class PayPages(PortalPages):
    """The payment pages of one org's portal."""

    app = Klein()

    def __init__(self, portal: VisitorSource, deps: Deps, pages: Pages, org_slug: str):
        super().__init__(portal, deps, pages, org_slug)
        self.gateways = Gateways(deps.db, deps.box, deps.clock, deps.login_writer)

    @defer.inlineCallbacks
    def _customer(self, request: IRequest) -> Generator[Any, Any, Visitor]:
        visitor: Visitor = yield self.portal.require_customer(request)
        if visitor.org.slug != self.org_slug:       # the Portal is per org: never expected
            raise NotFound("page", self.org_slug)
        self.brand = visitor.org.name
        return visitor

    def base_url(self, request: IRequest) -> str:
        """The web root's absolute URL, for the gateway's return address: ``[web] public_url``
        when set, else this request's scheme and Host."""
        web = getattr(self.deps.conf, "web", None)
        if web is not None and web.public_url:
            return urls.public_url(web)
        req = cast(Any, request)
        host = (req.getHeader(b"host") or b"localhost").decode("latin-1")
        return f"{'https' if req.isSecure() else 'http'}://{host}"

    @app.route("/balance", methods=["POST"])
    @defer.inlineCallbacks
    def balance(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Pay the whole outstanding balance with the org's gateway."""
        visitor = yield self._customer(request)
        self.portal.check_csrf(request, visitor)
        page = yield self._start(request, visitor, self.gateways.start_balance)
        return page

    @app.route("/order/<int:order_id>", methods=["POST"])
    @defer.inlineCallbacks
    def order(self, request: IRequest, order_id: int) -> Generator[Any, Any, bytes]:
        """Pay the customer's own order (its total) with the org's gateway; once credited, its services start."""
        visitor = yield self._customer(request)
        self.portal.check_csrf(request, visitor)
        page = yield self._start(request, visitor, lambda org, customer_id, return_url:
                                 self.gateways.start_order(org, customer_id, order_id, return_url))
        return page

    @defer.inlineCallbacks
    def _start(self, request: IRequest, visitor: Visitor, start: Any) -> Generator[Any, Any, bytes]:
        """Open the payment ``start(org, customer_id, return_url)`` opens and send the customer to the gateway."""
        org = visitor.org
        base = self.base_url(request)
        assert visitor.customer_id is not None
        try:
            _, started = yield start(org, visitor.customer_id,
                                     lambda ref: urls.portal_url(base, org.slug, f"pay/return/{ref}"))
        except ValidationError as e:
            request.setResponseCode(409 if e.field in ("amount", "order") else 503)
            return self._unavailable(request, visitor, e.message)
        except GatewayError:
            request.setResponseCode(502)
            return self._unavailable(request, visitor, "The payment service did not answer; nothing was charged. "
                                                       "Please try again in a few minutes.")
        target = started.redirect_url
        if "://" not in target:
            target = root_prefix(request) + target
        request.setResponseCode(303)
        set_header(request, "Location", target)
        return b""

    def _unavailable(self, request: IRequest, visitor: Visitor, message: str) -> bytes:
        return self.pages.render(request, "portal/pay_unavailable.html", brand=visitor.org.name, message=message,
                                 portal=self._base(request))

    @app.route("/return/<reference>", methods=["GET"])
    @defer.inlineCallbacks
    def returned(self, request: IRequest, reference: str) -> Generator[Any, Any, bytes]:
        """The result of the customer's own payment (asked of the gateway while pending)."""
        visitor = yield self._customer(request)
        org = visitor.org
        assert visitor.customer_id is not None
        tx = yield self.portal.read(store.get_for_customer, org.id, visitor.customer_id, reference)
        if tx.status == "pending":
            tx = yield self.gateways.check(org, tx, source="return")
        after: store.AfterPayment = yield self.portal.read(store.after_payment, org.id, tx)
        order = None if tx.order_id is None else (yield self.portal.read(orders.get, org.id, tx.order_id))
        set_header(request, "Cache-Control", "no-store")
        return self.pages.render(
            request, "portal/pay_return.html", brand=org.name, heading=_HEADINGS[tx.status], status=tx.status,
            amount=format_amount(tx.amount, tx.currency), currency=tx.currency, reference=tx.reference,
            receipt=after.receipt_number, resumed=after.resumed, still_suspended=after.still_suspended,
            owed=format_amount(after.balance, tx.currency) if after.balance > 0 else None,
            csrf=visitor.csrf, portal=self._base(request), here=reference, order=order)

