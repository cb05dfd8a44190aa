"""The portal's shop and tickets: the catalogue, the cart, checkout, the customer's orders and tickets.

    GET  products                  the products on sale, as cards grouped by type
    GET  products/{id}             one product's details, with "add to cart"
    GET  cart                      the cart: items, total with VAT, remove, select more, checkout
    POST cart/add, cart/remove     (signed in, CSRF) one item in or out
    GET  checkout                  how to order (pay now / send a request, per the org's setting)
    POST checkout                  place the order: pay now → the gateway; a request → the order's page
    GET  orders, orders/{id}       the customer's orders; one order, with pay-now while unpaid, and its
                                   invoices and credit notes
    GET  orders/credit-notes/{id}.html|pdf   one of the customer's credit notes
    GET  tickets, tickets/new      the customer's tickets; the form for a new one
    POST tickets/new               open a ticket
    GET  tickets/{id}              a ticket and its replies, with the reply form
    POST tickets/{id}/reply|close  reply; close

Mounted by the Portal (``web/portal/app.py``) for the first path segments above;
the catalogue is public, everything else needs a signed-in customer.  Another
customer's or org's order or ticket is a 404 like one that does not exist.
Handlers write no SQL and decide no money: billing.orders does.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import urls
from aaad.errors import NotFound, ValidationError
from billing import catalogue, documents, settings
from billing.catalogue import Product
from billing.gateways.base import GatewayError
from billing.gateways.service import Gateways
from billing.orders import cart, checkout, orders, tickets
from web.errors import set_header
from web.pages import root_prefix
from web.portal.section import PortalPages
from web.portal.visitor import Visitor

TYPES = (("bundle", "Bundles"), ("internet", "Internet"), ("voice", "Voice"), ("recurring", "Services"),
         ("one_time", "One-time purchases"))
METHOD_LABELS = {"gateway": "Pay now online", "request": "Send as a request", "invoice": "Invoice"}
STATUS_LABELS = {"placed": "Waiting", "paid": "Paid", "active": "Active", "cancelled": "Cancelled"}


def cart_count(conn: Connection, org_id: int, customer_id: int) -> int:
    """The number shown on the cart link in the portal's header."""
    return cart.count(conn, org_id, customer_id)


def _arg(request: IRequest, name: str, limit: int = 500) -> str:
    values = request.args.get(name.encode(), [b""])
    return values[0].decode("utf-8", "replace")[:limit]


def _int_arg(request: IRequest, name: str) -> int | None:
    text = _arg(request, name, 12).strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


# -- what the pages show (read in one database call each) ---------------------------------------

@dataclass(frozen=True)
class Money:
    """The org's money, dates and times as its pages show them."""
    currency: str
    locale: str
    vat_bp: int
    prices_include_vat: bool
    timezone: str = "UTC"

    def fmt(self, minor: int) -> str:
        return documents.format_money(minor, self.currency, self.locale)

    def day(self, d: date) -> str:
        return documents.format_day(d, self.locale)

    def when(self, t: datetime) -> str:
        """An instant in the org's time zone: its date as the org writes it and the time."""
        local = t.astimezone(ZoneInfo(self.timezone))
        return f"{documents.format_day(local.date(), self.locale)} {local:%H:%M}"

    def vat_note(self) -> str:
        if not self.vat_bp:
            return ""
        rate = f"{self.vat_bp / 100:g} %"
        return f"Prices include VAT ({rate})." if self.prices_include_vat else f"Prices are before VAT ({rate})."


def _money(conn: Connection, org_id: int) -> Money:
    s = settings.get(conn, org_id)
    return Money(s.currency, s.locale, s.vat_bp, s.prices_include_vat, s.timezone)


def period_text(p: Product) -> str:
    return {"monthly": "per month", "daily": "per day", "once": "once"}.get(
        p.period, f"for {p.period_days} days" if p.period_days else "")


@dataclass(frozen=True)
class Catalogue:
    money: Money
    groups: list[tuple[str, list[Product]]]


def catalogue_view(conn: Connection, org_id: int) -> Catalogue:
    products = catalogue.list_products(conn, org_id, portal_only=True)
    groups = [(label, [p for p in products if p.type == t]) for t, label in TYPES]
    return Catalogue(_money(conn, org_id), [(label, ps) for label, ps in groups if ps])


def product_view(conn: Connection, org_id: int, product_id: int) -> tuple[Product, Money]:
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None or not p.active or not p.on_portal:
        raise NotFound("product", product_id)
    return p, _money(conn, org_id)


@dataclass(frozen=True)
class CartView:
    money: Money
    items: list[cart.Item]
    quote: orders.Quote | None
    methods: tuple[str, ...]


def cart_view(conn: Connection, org_id: int, customer_id: int) -> CartView:
    items = cart.items(conn, org_id, customer_id)
    q = orders.quote(conn, org_id, [i.product.id for i in items]) if items else None
    return CartView(_money(conn, org_id), items, q, cart.shop_settings(conn, org_id).methods())


@dataclass(frozen=True)
class OrderView:
    money: Money
    order: orders.Order
    ticket_id: int | None
    documents: checkout.Documents


def order_view(conn: Connection, org_id: int, customer_id: int, order_id: int) -> OrderView:
    o = checkout.order_of_customer(conn, org_id, customer_id, order_id)
    if o is None:
        raise NotFound("order", order_id)
    about = tickets.page(conn, org_id, customer_id=customer_id, order_id=o.id, sort="id", limit=1).items
    return OrderView(_money(conn, org_id), o, about[0].id if about else None,
                     checkout.order_documents(conn, org_id, o))


def orders_view(conn: Connection, org_id: int, customer_id: int) -> tuple[Money, list[orders.Order]]:
    return _money(conn, org_id), orders.of_customer(conn, org_id, customer_id)


def tickets_view(conn: Connection, org_id: int, customer_id: int) -> tuple[Money, list[tickets.Ticket]]:
    return _money(conn, org_id), tickets.of_customer(conn, org_id, customer_id)


def thread_view(conn: Connection, org_id: int, ticket_id: int, customer_id: int) -> tuple[Money, tickets.Thread]:
    return _money(conn, org_id), tickets.thread(conn, org_id, ticket_id, customer_id)


class ShopPages(PortalPages):
    """The shop and ticket pages of one org's portal (``portal``: the :class:`web.portal.app.Portal`)."""

    app = Klein()


    # -- helpers ----------------------------------------------------------------------------

    def _now(self) -> Any:
        return self.portal._now()

    def _render(self, request: IRequest, template: str, visitor: Visitor | None,
                **context: Any) -> defer.Deferred[bytes]:
        return cast("defer.Deferred[bytes]", self.portal._render(request, template, visitor, **context))

    @staticmethod
    def _see_other(request: IRequest, location: str) -> bytes:
        request.setResponseCode(303)
        set_header(request, "Location", location)
        return b""

    @defer.inlineCallbacks
    def _customer(self, request: IRequest, post: bool = False) -> Generator[Any, Any, Visitor]:
        v: Visitor = yield self.portal.require_customer(request)
        if post:
            self.portal.check_csrf(request, v)
        return v

    def _read(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        return cast("defer.Deferred[Any]", self.portal.read(fn, *args))

    def _write(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> defer.Deferred[Any]:
        return cast("defer.Deferred[Any]", self.deps.db.write(fn, *args, **kw))

    # -- the catalogue ------------------------------------------------------------------------

    @app.route("/products", methods=["GET"])
    @defer.inlineCallbacks
    def products(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The products on sale on the portal, as cards grouped by type."""
        v = yield self.portal.visitor(request)
        c: Catalogue = yield self._read(catalogue_view, v.org.id)
        page = yield self._render(request, "portal/products.html", v, c=c, money=c.money, period=period_text)
        return page

    @app.route("/products/<int:product_id>", methods=["GET"])
    @defer.inlineCallbacks
    def product(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """One product's details, with the add-to-cart button."""
        v = yield self.portal.visitor(request)
        p, money = yield self._read(product_view, v.org.id, product_id)
        page = yield self._render(request, "portal/product.html", v, p=p, money=money, period=period_text,
                                  type_label=dict(TYPES).get(p.type, p.type))
        return page

    # -- the cart -----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _cart_page(self, request: IRequest, v: Visitor, error: str = "") -> Generator[Any, Any, bytes]:
        cv: CartView = yield self._read(cart_view, v.org.id, v.customer_id)
        page = yield self._render(request, "portal/cart.html", v, cv=cv, money=cv.money, error=error,
                                  cart_count=len(cv.items), period=period_text)
        return page

    @app.route("/cart", methods=["GET"])
    @defer.inlineCallbacks
    def cart_page(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The cart: its items, the total with VAT, remove, select more, checkout."""
        v = yield self._customer(request)
        set_header(request, "Cache-Control", "no-store")
        page = yield self._cart_page(request, v)
        return page

    @app.route("/cart/add", methods=["POST"])
    @defer.inlineCallbacks
    def cart_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Put one of a product in the cart, then show the cart."""
        v = yield self._customer(request, post=True)
        pid = _int_arg(request, "product_id")
        try:
            if pid is None:
                raise ValidationError("product", "Choose a product.")
            yield self._write(cart.add, v.org.id, v.customer_id, pid, self._now())
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._cart_page(request, v, e.message)
            return page
        return self._see_other(request, self._base(request) + "cart")

    @app.route("/cart/remove", methods=["POST"])
    @defer.inlineCallbacks
    def cart_remove(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Take an item out of the cart (one already gone changes nothing)."""
        v = yield self._customer(request, post=True)
        item = _int_arg(request, "item_id")
        if item is not None:
            yield self._write(cart.remove, v.org.id, v.customer_id, item)
        return self._see_other(request, self._base(request) + "cart")

    # -- checkout -------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _checkout_page(self, request: IRequest, v: Visitor, method: str, note: str,
                       errors: dict[str, str]) -> Generator[Any, Any, bytes]:
        cv: CartView = yield self._read(cart_view, v.org.id, v.customer_id)
        page = yield self._render(request, "portal/checkout.html", v, cv=cv, money=cv.money, method=method,
                                  note=note, errors=errors, labels=METHOD_LABELS, cart_count=len(cv.items))
        return page

    @app.route("/checkout", methods=["GET"])
    @defer.inlineCallbacks
    def checkout_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The order's summary and how to order (the org's setting); an empty cart goes back to the cart."""
        v = yield self._customer(request)
        n = yield self._read(cart.count, v.org.id, v.customer_id)
        if not n:
            return self._see_other(request, self._base(request) + "cart")
        page = yield self._checkout_page(request, v, "", "", {})
        return page

    @app.route("/checkout", methods=["POST"])
    @defer.inlineCallbacks
    def checkout(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Place the order: paid now, the customer goes to the gateway; a request goes to the order's page."""
        v = yield self._customer(request, post=True)
        method, note = _arg(request, "method", 20), _arg(request, "note", 4000)
        try:
            placed: checkout.Placed = yield self._write(checkout.place_cart, self.deps.login_writer, v.org.id,
                                                        v.customer_id, self._now(), method=method, note=note)
        except ValidationError as e:
            if e.field == "cart":
                return self._see_other(request, self._base(request) + "cart")
            request.setResponseCode(400)
            field = e.field if e.field in ("method", "note") else "form"
            page = yield self._checkout_page(request, v, method, note, {field: e.message})
            return page
        order_url = self._base(request) + f"orders/{placed.order.id}"
        if method != "gateway":
            return self._see_other(request, order_url + "?placed=1")
        target = yield self._start_payment(request, v, placed.order.id)
        return self._see_other(request, target or order_url + "?unpaid=1")

    @defer.inlineCallbacks
    def _start_payment(self, request: IRequest, v: Visitor, order_id: int) -> Generator[Any, Any, str | None]:
        """The gateway's page for paying the order (relative to this page), or None if the gateway could not
        start it (the order stays, with its pay-now button)."""
        base = self.portal_base_url(request)
        gw = Gateways(self.deps.db, self.deps.box, self.deps.clock, self.deps.login_writer)
        assert v.customer_id is not None
        try:
            _, started = yield gw.start_order(v.org, v.customer_id, order_id,
                                              lambda ref: urls.portal_url(base, v.org.slug, f"pay/return/{ref}"))
        except (ValidationError, GatewayError):
            return None
        target: str = started.redirect_url
        return target if "://" in target else root_prefix(request) + target

    def portal_base_url(self, request: IRequest) -> str:
        """The web root's absolute URL for the gateway's return address (as the pay pages make it)."""
        web = getattr(self.deps.conf, "web", None)
        if web is not None and web.public_url:
            return urls.public_url(web)
        req = cast(Any, request)
        host = (req.getHeader(b"host") or b"localhost").decode("latin-1")
        return f"{'https' if req.isSecure() else 'http'}://{host}"

    # -- orders ----------------------------------------------------------------------------------

    @app.route("/orders", methods=["GET"])
    @defer.inlineCallbacks
    def orders_page(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The customer's orders, newest first."""
        v = yield self._customer(request)
        money, found = yield self._read(orders_view, v.org.id, v.customer_id)
        page = yield self._render(request, "portal/orders.html", v, money=money, orders=found,
                                  labels=METHOD_LABELS, statuses=STATUS_LABELS)
        return page

    @app.route("/orders/<int:order_id>", methods=["GET"])
    @defer.inlineCallbacks
    def order_page(self, request: IRequest, order_id: int) -> Generator[Any, Any, bytes]:
        """One of the customer's orders: its items and total, its state, pay-now while unpaid."""
        v = yield self._customer(request)
        ov: OrderView = yield self._read(order_view, v.org.id, v.customer_id, order_id)
        set_header(request, "Cache-Control", "no-store")
        page = yield self._render(request, "portal/order.html", v, ov=ov, o=ov.order, money=ov.money,
                                  labels=METHOD_LABELS, statuses=STATUS_LABELS,
                                  placed=_arg(request, "placed", 2) == "1", unpaid=_arg(request, "unpaid", 2) == "1")
        return page

    @app.route("/orders/credit-notes/<int:credit_note_id>.html", methods=["GET"])
    def credit_note_html(self, request: IRequest, credit_note_id: int) -> defer.Deferred[bytes]:
        """One of the customer's credit notes (linked from the order it concerns)."""
        return cast("defer.Deferred[bytes]", self.portal._document(
            request, checkout.owns_credit_note, documents.credit_note_doc, "credit note", credit_note_id, False))

    @app.route("/orders/credit-notes/<int:credit_note_id>.pdf", methods=["GET"])
    def credit_note_pdf(self, request: IRequest, credit_note_id: int) -> defer.Deferred[bytes]:
        return cast("defer.Deferred[bytes]", self.portal._document(
            request, checkout.owns_credit_note, documents.credit_note_doc, "credit note", credit_note_id, True))

    # -- tickets ----------------------------------------------------------------------------------

    @app.route("/tickets", methods=["GET"])
    @defer.inlineCallbacks
    def tickets_page(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The customer's tickets, latest activity first."""
        v = yield self._customer(request)
        money, found = yield self._read(tickets_view, v.org.id, v.customer_id)
        page = yield self._render(request, "portal/tickets.html", v, tickets=found, money=money)
        return page

    @app.route("/tickets/new", methods=["GET"])
    @defer.inlineCallbacks
    def ticket_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The form for a new ticket."""
        v = yield self._customer(request)
        page = yield self._render(request, "portal/ticket_new.html", v, subject="", body="", errors={})
        return page

    @app.route("/tickets/new", methods=["POST"])
    @defer.inlineCallbacks
    def ticket_open(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Open a ticket: bad fields get their message next to them, with what was typed kept."""
        v = yield self._customer(request, post=True)
        subject, body = _arg(request, "subject", 1000), _arg(request, "body", 20000)
        errors: dict[str, str] = {}
        for field, check, text in (("subject", tickets.check_subject, subject), ("body", tickets.check_body, body)):
            try:
                check(text)
            except ValidationError as e:
                errors[field] = e.message
        if not errors:
            th = yield self._write(tickets.open_ticket, v.org.id, v.customer_id, subject, body, self._now())
            return self._see_other(request, self._base(request) + f"tickets/{th.ticket.id}")
        request.setResponseCode(400)
        page = yield self._render(request, "portal/ticket_new.html", v, subject=subject, body=body, errors=errors)
        return page

    @defer.inlineCallbacks
    def _ticket_page(self, request: IRequest, v: Visitor, ticket_id: int, body: str,
                     errors: dict[str, str]) -> Generator[Any, Any, bytes]:
        money, th = yield self._read(thread_view, v.org.id, ticket_id, v.customer_id)
        set_header(request, "Cache-Control", "no-store")
        page = yield self._render(request, "portal/ticket.html", v, th=th, t=th.ticket, body=body, errors=errors,
                                  when=money.when)
        return page

    @app.route("/tickets/<int:ticket_id>", methods=["GET"])
    def ticket(self, request: IRequest, ticket_id: int) -> defer.Deferred[bytes]:
        """A ticket and its replies, with the reply form."""
        return self._customer(request).addCallback(
            lambda v: self._ticket_page(request, v, ticket_id, "", {}))

    @app.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
    @defer.inlineCallbacks
    def ticket_reply(self, request: IRequest, ticket_id: int) -> Generator[Any, Any, bytes]:
        """Reply on one of the customer's tickets (a closed one opens again)."""
        v = yield self._customer(request, post=True)
        body = _arg(request, "body", 20000)
        try:
            yield self._write(tickets.reply, v.org.id, ticket_id, "customer", body, self._now(),
                              customer_id=v.customer_id)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._ticket_page(request, v, ticket_id, body, {e.field: e.message})
            return page
        return self._see_other(request, self._base(request) + f"tickets/{ticket_id}")

    @app.route("/tickets/<int:ticket_id>/close", methods=["POST"])
    @defer.inlineCallbacks
    def ticket_close(self, request: IRequest, ticket_id: int) -> Generator[Any, Any, bytes]:
        """Close one of the customer's tickets."""
        v = yield self._customer(request, post=True)
        yield self._write(tickets.close, v.org.id, ticket_id, self._now(), customer_id=v.customer_id)
        return self._see_other(request, self._base(request) + f"tickets/{ticket_id}")

    # -- errors -------------------------------------------------------------------------------------

