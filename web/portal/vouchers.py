"""/{org}/portal/vouchers: the hotspot's voucher packages, buying one, and the customer's vouchers.

    GET  vouchers                  the packages on sale as cards (time, data, validity, price), each with
                                   "Buy" for a signed-in customer (visitors are asked to sign in or register)
    POST vouchers/buy              (signed in, CSRF) a gateway transaction for the package's price, then 303
                                   to the gateway's page
    GET  vouchers/bought/{ref}     where the gateway sends the customer back: once the payment is successful,
                                   the voucher's code and password (copy buttons) and "Connect now" (the
                                   hotspot's login page with the code filled in); pending or failed otherwise
    GET  vouchers/history          every voucher of the customer: code, password, package, price, status,
                                   date and time

Mounted by the Portal (``web/portal/app.py``).  The voucher is sold in the transaction that settles the
payment (billing.gateways.store.settle → billing.voucher_sales.paid), whichever report comes first: the
gateway's webhook, this return page asking the gateway, or the re-check job; a repeated report sells
nothing.  Another customer's or org's transaction is a 404 like one that does not exist.  Handlers write
no SQL and decide no money.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import urls
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from billing import settings, voucher_sales
from billing.gateways import store
from billing.gateways.base import GatewayError
from billing.gateways.service import Gateways
from web.errors import set_header
from web.pages import Pages, root_prefix
from web.portal.section import PortalPages
from web.portal.shop import Money, _money
from web.portal.visitor import Visitor

#: Where the hotspot's login page is when the org has not said (billing setting ``hotspot_login_url``).
DEFAULT_HOTSPOT_LOGIN = "http://hotspot.lan/login"
STATE_LABELS = {"unused": "Not used yet", "active": "Active", "exhausted": "Used up", "expired": "Expired",
                "revoked": "Revoked"}
_HEADINGS = {"success": "Your voucher is ready", "pending": "Payment pending", "failed": "Payment failed"}


def duration(seconds: int | None) -> str:
    """Seconds for people: '45 minutes', '2 hours', '1 day 6 hours'; '' for None."""
    if seconds is None:
        return ""
    days, rest = divmod(max(0, int(seconds)), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " ".join(words[:2]) or "less than a minute"


def size(octets: int | None) -> str:
    """Octets for people in decimal units (as hotspots sell them): '500 MB', '2 GB'; '' for None."""
    if octets is None:
        return ""
    for unit, n in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if octets >= n:
            v = octets / n
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.1f} {unit}"
    return f"{octets} B"


def validity(p: Any) -> str:
    """How long a package's voucher stays valid: from first use, or until a fixed time; '' if unlimited."""
    hours = getattr(p, "validity_hours", None)
    if hours:
        return f"{duration(int(hours) * 3600)} from first use"
    secs = getattr(p, "validity_seconds", None)
    if secs:
        return f"{duration(int(secs))} from first use"
    return ""


def connect_url(login_url: str, code: str, password: str) -> str:
    """The hotspot login page with the voucher filled in: ``?username=CODE&password=PASSWORD``."""
    sep = "&" if "?" in login_url else "?"
    return f"{login_url}{sep}{urllib.parse.urlencode({'username': code, 'password': password})}"


@dataclass(frozen=True)
class Shop:
    money: Money
    packages: list[Any]
    login_url: str


def _login_url(conn: Connection, org_id: int) -> str:
    return str(getattr(settings.get(conn, org_id), "hotspot_login_url", None) or DEFAULT_HOTSPOT_LOGIN)


def shop_view(conn: Connection, org_id: int) -> Shop:
    return Shop(_money(conn, org_id), voucher_sales.packages(conn, org_id), _login_url(conn, org_id))


@dataclass(frozen=True)
class Bought:
    money: Money
    tx: Any
    voucher: Any | None
    package: Any | None
    login_url: str


def bought_view(conn: Connection, box: SecretBox, org_id: int, customer_id: int, reference: str,
                now: datetime) -> Bought:
    """The customer's own voucher purchase ``reference`` (NotFound for anything else) and its voucher."""
    tx = store.get_for_customer(conn, org_id, customer_id, reference)
    if tx.purpose != "voucher":
        raise NotFound("payment", reference)
    v = voucher_sales.of_transaction(conn, box, org_id, customer_id, tx.voucher_id, now)
    pkg = next((p for p in voucher_sales.packages(conn, org_id) if p.id == tx.package_id), None)
    return Bought(_money(conn, org_id), tx, v, pkg, _login_url(conn, org_id))


def history_view(conn: Connection, box: SecretBox, org_id: int, customer_id: int,
                 now: datetime) -> tuple[Money, list[Any]]:
    return _money(conn, org_id), voucher_sales.history(conn, box, org_id, customer_id, now)


class VoucherPages(PortalPages):
    """The voucher pages of one org's portal (``portal``: the :class:`web.portal.app.Portal`)."""

    app = Klein()

    def __init__(self, portal: Any, deps: Any, pages: Pages, org_slug: str):
        super().__init__(portal, deps, pages, org_slug)
        self.gateways = Gateways(deps.db, deps.box, deps.clock, deps.login_writer)

    def _render(self, request: IRequest, template: str, visitor: Visitor | None,
                **context: Any) -> defer.Deferred[bytes]:
        return cast("defer.Deferred[bytes]", self.portal._render(
            request, template, visitor, duration=duration, size=size, validity=validity, states=STATE_LABELS,
            connect_url=connect_url, **context))

    # -- the packages -------------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def packages(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The packages on sale as cards; "Buy" for the signed-in."""
        v = yield self.portal.visitor(request)
        shop: Shop = yield self.portal.read(shop_view, v.org.id)
        page = yield self._render(request, "portal/vouchers.html", v, shop=shop, money=shop.money, error="")
        return page

    @app.route("/buy", methods=["POST"])
    @defer.inlineCallbacks
    def buy(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Buy one voucher of the package chosen: to the org's gateway."""
        v: Visitor = yield self.portal.require_customer(request)
        self.portal.check_csrf(request, v)
        text = request.args.get(b"package_id", [b""])[0].decode("ascii", "replace")[:12]
        base = urls.public_url(self.deps.conf.web) if self.deps.conf.web.public_url else self._host(request)
        assert v.customer_id is not None
        try:
            if not text.isdigit():
                raise ValidationError("package_id", "Choose a package.")
            _, started = yield self.gateways.start_voucher(
                v.org, v.customer_id, int(text),
                lambda ref: urls.portal_url(base, v.org.slug, f"vouchers/bought/{ref}"))
        except (ValidationError, NotFound) as e:
            request.setResponseCode(404 if isinstance(e, NotFound) else 409 if e.field == "package_id" else 503)
            message = "That package is not on sale." if isinstance(e, NotFound) else e.message
            page = yield self._error_page(request, v, message)
            return page
        except GatewayError:
            request.setResponseCode(502)
            page = yield self._error_page(request, v, "The payment service did not answer; nothing was charged. "
                                                      "Please try again in a few minutes.")
            return page
        target = started.redirect_url
        if "://" not in target:
            target = root_prefix(request) + target
        request.setResponseCode(303)
        set_header(request, "Location", target)
        return b""

    @staticmethod
    def _host(request: IRequest) -> str:
        req = cast(Any, request)
        host = (req.getHeader(b"host") or b"localhost").decode("latin-1")
        return f"{'https' if req.isSecure() else 'http'}://{host}"

    @defer.inlineCallbacks
    def _error_page(self, request: IRequest, v: Visitor, message: str) -> Generator[Any, Any, bytes]:
        shop: Shop = yield self.portal.read(shop_view, v.org.id)
        page = yield self._render(request, "portal/vouchers.html", v, shop=shop, money=shop.money, error=message)
        return page

    # -- after paying ------------------------------------------------------------------------

    @app.route("/bought/<reference>", methods=["GET"])
    @defer.inlineCallbacks
    def bought(self, request: IRequest, reference: str) -> Generator[Any, Any, bytes]:
        """The purchase's outcome (the gateway asked while pending): the voucher once paid."""
        v: Visitor = yield self.portal.require_customer(request)
        b: Bought = yield self.portal.read(bought_view, self.deps.box, v.org.id, v.customer_id, reference[:64],
                                            self.portal._now())
        if b.tx.status == "pending":
            yield self.gateways.check(v.org, b.tx, source="return")
            b = yield self.portal.read(bought_view, self.deps.box, v.org.id, v.customer_id, reference[:64],
                                        self.portal._now())
        set_header(request, "Cache-Control", "no-store")
        page = yield self._render(request, "portal/voucher_bought.html", v, b=b, money=b.money,
                                  heading=_HEADINGS[b.tx.status], here=reference)
        return page

    @app.route("/history", methods=["GET"])
    @defer.inlineCallbacks
    def history(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Every voucher of the customer, newest first."""
        v: Visitor = yield self.portal.require_customer(request)
        money, items = yield self.portal.read(history_view, self.deps.box, v.org.id, v.customer_id,
                                               self.portal._now())
        set_header(request, "Cache-Control", "no-store")
        page = yield self._render(request, "portal/voucher_history.html", v, money=money, items=items)
        return page

