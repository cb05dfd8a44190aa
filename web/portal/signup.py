"""/{org}/portal/signup/: the online sign-up's own steps (coverage, contract, payment method).

    GET  /                 where are you? pick an area, type a postcode or coordinates (a GET form);
                           with an answer: the portal products sold there as cards, each "Choose"
                           going to register?product=ID&zone=NAME (web.portal.register), or
                           "not yet available here" with the lead form
    POST lead              (CSRF) leave contact details: a lead for the org's admins
    GET  contract          (signed in) read the org's current contract and sign it; nothing to sign
                           (no contract, or signed already): on to pay
    POST contract          (CSRF) sign: typed full name + ticked agreement; a PDF copy is kept
    GET  pay               (signed in) the customer's order waiting for payment: pay now (a form
                           POSTing to pay/order/ID) or be invoiced
    POST pay               (CSRF) be invoiced: the done page says what happens next

Mounted by the Portal (``web/portal/app.py``) at ``signup/``; it gets the visitor
through :class:`VisitorSource`.  Handlers write no SQL and decide no money:
billing.signup and billing.orders do.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, cast

from klein import Klein
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad.errors import NotFound, ValidationError
from billing import documents, settings
from billing.catalogue import Product
from billing.gateways import store as gateway_store
from billing.orders import orders
from billing.signup import contracts, coverage, leads
from billing.signup.coverage import Availability, Place
from web.errors import set_header
from web.portal import accounts
from web.portal.section import PortalPages
from web.portal.visitor import Visitor

PERIODS = {"monthly": "a month", "daily": "a day", "once": "once"}
HONEYPOT = "website"        # a field people never see (hidden by CSS and from screen readers); bots fill it


def _arg(request: IRequest, name: str, limit: int = 500) -> str:
    values = request.args.get(name.encode(), [b""])
    return values[0].decode("utf-8", "replace")[:limit]


@dataclass(frozen=True)
class Card:
    """A product as the coverage step shows it."""
    id: int
    name: str
    type: str
    price: str
    per: str
    setup_fee: str | None
    zone: str                   # the zone it is chosen in ('' for an org without zones)


@dataclass(frozen=True)
class Offer:
    areas: list[str]
    available: Availability | None
    cards: list[Card]
    vat_note: str


def _offer(conn: Any, org_id: int, place: Place | None) -> Offer:
    """What the coverage step shows: the area list and, for a place, the products sold there."""
    st = settings.get(conn, org_id)
    areas = coverage.areas(conn, org_id)
    vat = "" if not st.vat_bp else ("Prices include VAT" if st.prices_include_vat else "VAT is added to prices")
    if place is None:
        return Offer(areas, None, [], vat)
    got = coverage.available(conn, org_id, place)

    def money(minor: int) -> str:
        return documents.format_money(minor, st.currency, st.locale)

    def zone_of(p: Product) -> str:
        return next((z for z in got.zones if not p.zones or z in p.zones), "")
    cards = [Card(p.id, p.name, p.type, money(p.price),
                  f"every {p.period_days} days" if p.period == "days" else PERIODS.get(p.period, p.period),
                  money(p.setup_fee) if p.setup_fee else None, zone_of(p)) for p in got.products]
    return Offer(areas, got, cards, vat)


@dataclass(frozen=True)
class PayStep:
    order: orders.Order | None          # the order waiting for payment (status placed)
    total: str
    to_sign: bool                       # a contract is still to sign before paying the order
    others: list[orders.Order]          # the customer's other orders (paid, active...)
    online: bool                        # the org takes payments through a gateway


def _pay_step(conn: Any, box: Any, org_id: int, customer_id: int) -> PayStep:
    st = settings.get(conn, org_id)
    gw = gateway_store.gateway_settings_of(conn, box, org_id)
    mine = orders.of_customer(conn, org_id, customer_id)
    waiting = [o for o in mine if o.status == "placed"]
    order = max(waiting, key=lambda o: o.id) if waiting else None
    total = documents.format_money(order.total, order.currency, st.locale) if order else ""
    return PayStep(order, total, order is not None and contracts.to_sign(conn, org_id, customer_id) is not None,
                   [o for o in mine if order is None or o.id != order.id], gw is not None and gw.gateway != "none")


class SignupPages(PortalPages):
    """The sign-up steps of one org's portal."""

    app = Klein()


    # -- helpers --------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _render(self, request: IRequest, template: str, visitor: Visitor,
                **context: Any) -> Generator[Any, Any, bytes]:
        b = yield self.portal.read(accounts.brand, visitor.org.id, visitor.org.name)
        self.brand = b.name
        set_header(request, "Cache-Control", "no-store")
        return self.pages.render(request, template, brand=b.name, logo=b.logo, portal=self._base(request),
                                 visitor=visitor, **context)

    def _see_other(self, request: IRequest, to: str) -> bytes:
        request.setResponseCode(303)
        set_header(request, "Location", self._base(request) + to)
        return b""

    @defer.inlineCallbacks
    def _visitor(self, request: IRequest) -> Generator[Any, Any, Visitor]:
        v: Visitor = yield self.portal.visitor(request)
        if v.org.slug != self.org_slug:
            raise NotFound("page", self.org_slug)
        self.brand = v.org.name
        return v

    @defer.inlineCallbacks
    def _customer(self, request: IRequest) -> Generator[Any, Any, Visitor]:
        v: Visitor = yield self.portal.require_customer(request)
        if v.org.slug != self.org_slug:
            raise NotFound("page", self.org_slug)
        self.brand = v.org.name
        return v

    @staticmethod
    def _place(request: IRequest, errors: dict[str, str]) -> tuple[Place | None, dict[str, str]]:
        """The place the visitor asked about (None: nothing asked yet) and what they typed."""
        typed = {"area": _arg(request, "area", 100).strip(), "postcode": _arg(request, "postcode", 32).strip(),
                 "coordinates": _arg(request, "coordinates", 60).strip()}
        if not any(typed.values()):
            return None, typed
        lat = lon = None
        if typed["coordinates"]:
            try:
                lat, lon = coverage.parse_coordinates(typed["coordinates"])
            except ValidationError as e:
                errors[e.field] = "Type latitude and longitude in decimal degrees, e.g. 5.6037, -0.1870."
                return None, typed
        return Place(typed["area"], typed["postcode"], lat, lon), typed

    # -- the coverage step -----------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def coverage_step(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Where are you?  And, once answered, what is sold there (or the lead form)."""
        v = yield self._visitor(request)
        errors: dict[str, str] = {}
        place, typed = self._place(request, errors)
        offer = yield self.portal.read(_offer, v.org.id, place)
        if errors:
            request.setResponseCode(400)
        page = yield self._render(request, "portal/signup.html", v, offer=offer, typed=typed, errors=errors,
                                  lead={"name": "", "email": "", "phone": "", "note": ""}, lead_errors={})
        return page

    @app.route("/lead", methods=["POST"])
    @defer.inlineCallbacks
    def lead(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Keep the visitor's contact details for when the org reaches them."""
        v = yield self._visitor(request)
        self.portal.check_csrf(request, v)
        errors: dict[str, str] = {}
        place, typed = self._place(request, errors)
        lead = {"name": _arg(request, "name", 200), "email": _arg(request, "email", 254),
                "phone": _arg(request, "phone", 40), "note": _arg(request, "note", 2000)}
        if _arg(request, HONEYPOT):                  # a bot: thanked, nothing kept
            page = yield self._render(request, "portal/signup_lead_done.html", v)
            return page
        try:
            yield self.deps.db.write(leads.add, v.org.id, self._now(), name=lead["name"], email=lead["email"],
                                     phone=lead["phone"], note=lead["note"], place=place or Place())
        except ValidationError as e:
            offer = yield self.portal.read(_offer, v.org.id, place)
            request.setResponseCode(400)
            page = yield self._render(request, "portal/signup.html", v, offer=offer, typed=typed, errors=errors,
                                      lead=lead, lead_errors={e.field: e.message})
            return page
        page = yield self._render(request, "portal/signup_lead_done.html", v)
        return page

    # -- the contract --------------------------------------------------------------------------

    @app.route("/contract", methods=["GET"])
    @defer.inlineCallbacks
    def contract(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The current contract to read and sign (none, or signed already: on to paying)."""
        v = yield self._customer(request)
        c = yield self.portal.read(contracts.to_sign, v.org.id, v.customer_id)
        if c is None:
            return self._see_other(request, "signup/pay")
        page = yield self._render(request, "portal/signup_contract.html", v, contract=c, full_name="",
                                  agreed=False, errors={})
        return page

    @app.route("/contract", methods=["POST"])
    @defer.inlineCallbacks
    def sign(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sign the contract read: the typed full name and the ticked box; the PDF copy is made first."""
        v = yield self._customer(request)
        self.portal.check_csrf(request, v)
        full_name, agreed = _arg(request, "full_name", 200), _arg(request, "agree", 10) == "yes"
        try:
            contract_id = int(_arg(request, "contract", 20))
        except ValueError:
            contract_id = 0
        req = cast(Any, request)
        ip = req.getClientAddress().host or "?"
        agent = (req.getHeader(b"user-agent") or b"").decode("utf-8", "replace")[:500]
        now = self._now()
        errors: dict[str, str] = {}
        try:
            name = contracts.check_signature(full_name, agreed)
            cur = yield self.portal.read(contracts.current, v.org.id)
            if cur is None:
                return self._see_other(request, "signup/pay")
            if cur.id != contract_id:
                raise ValidationError("contract", "The contract has changed since you opened it: read this "
                                                  "version and sign again.")
            pdf = yield self.portal.read(contracts.signed_pdf, v.org.id, contract_id, v.customer_id,
                                          full_name=name, signed_at=now, ip=ip, user_agent=agent)
            yield self.deps.db.write(contracts.sign, v.org.id, v.customer_id, contract_id, now, full_name=name,
                                     agreed=agreed, ip=ip, user_agent=agent, pdf=pdf)
        except ValidationError as e:
            errors[e.field] = e.message
        if not errors:
            return self._see_other(request, "signup/pay")
        c = yield self.portal.read(contracts.to_sign, v.org.id, v.customer_id)
        if c is None:
            return self._see_other(request, "signup/pay")
        request.setResponseCode(400)
        page = yield self._render(request, "portal/signup_contract.html", v, contract=c, full_name=full_name,
                                  agreed=agreed, errors=errors)
        return page

    # -- the payment method --------------------------------------------------------------------

    @app.route("/pay", methods=["GET"])
    @defer.inlineCallbacks
    def pay(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The order waiting for payment: pay now through the gateway, or be invoiced."""
        v = yield self._customer(request)
        step: PayStep = yield self.portal.read(_pay_step, self.deps.box, v.org.id, v.customer_id)
        if step.to_sign:
            return self._see_other(request, "signup/contract")
        page = yield self._render(request, "portal/signup_pay.html", v, step=step)
        return page

    @app.route("/pay", methods=["POST"])
    @defer.inlineCallbacks
    def invoice_me(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Be invoiced for the order: it waits for the admins' approval; the done page says what next."""
        v = yield self._customer(request)
        self.portal.check_csrf(request, v)
        try:
            order_id = int(_arg(request, "order", 20))
        except ValueError:
            raise NotFound("order", _arg(request, "order", 20)) from None
        order: orders.Order | None = yield self.portal.read(orders.get, v.org.id, order_id)
        if order is None or order.customer_id != v.customer_id:
            raise NotFound("order", order_id)
        if order.status == "placed" and order.method != "invoice":
            yield self.deps.db.write(orders.set_method, v.org.id, order_id, "invoice", self._now())
        page = yield self._render(request, "portal/signup_done.html", v, order=order)
        return page

