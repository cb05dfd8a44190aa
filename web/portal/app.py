"""/{org}/portal/: one org's customer portal, a sub-application with HTML errors.

A :class:`Portal` is bound to the org named in the URL for one request, so
everything a page shows is that org's: a page of org A never names org B,
and a session cookie of org A is nobody on org B's portal.

    /                      start page; the dashboard when signed in
    /login, /logout        sign in (e-mail or phone + password), sign out (POST)
    /forgot, /reset/TOKEN  ask for a reset link; set a new password with it
    /suspended             where the walled garden sends a suspended login
    /usage/LOGIN.png       the traffic graph of one of the customer's logins
    /invoices/ID.html|pdf  one of the customer's invoices
    /receipts/ID.html|pdf  the receipt of one of the customer's payments
    /brand.css             the org's colour
    /pay/...               paying (web.portal.pay)
    /register...           registration (web.portal.register)
    /products, /cart, /checkout, /orders/..., /tickets/...
                           the catalogue, the cart, orders and tickets (web.portal.shop)
    /signup/...            the online sign-up: coverage, contract, payment method (web.portal.signup)
    /hotspot/FILE          the org's MikroTik hotspot pages, for the router's /tool fetch (web.portal.hotspot)
    /vouchers/...          WiFi voucher packages, buying one, the customer's vouchers (web.portal.vouchers)

Every POST carries the session's CSRF token (``check_csrf``), and every page
of a signed-in customer reads only that customer's rows.
"""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from klein import Klein, KleinRenderable
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from aaad import orgs
from aaad.clock import utcnow
from aaad.errors import NotFound, ValidationError
from aaad.urls import SUSPENSION_REASONS, public_url
from billing import documents
from web import forms
from web.errors import HttpError, Redirect, apply, classify, set_header
from web.forms import CsrfError
from web.pages import Pages, root_prefix
from web.portal import accounts, sessions
from web.portal import hotspot as hotspot_files
from web.portal.pay import PayPages
from web.portal.register import RegisterPages
from web.portal.shop import ShopPages, cart_count
from web.portal.signup import SignupPages
from web.portal.visitor import Visitor
from web.portal.vouchers import STATE_LABELS, VoucherPages, duration, size

Reader = Callable[..., "defer.Deferred[Any]"]
log = Logger()

WRONG = "Wrong e-mail/phone or password."
SENT = ("If an account has that e-mail address or phone number, a link to choose a new password is on its way. "
        "It works once, for {minutes} minutes.")
#: The usage graph's stand-in while a login has none (web/static/no-graph.svg).
NO_GRAPH = (Path(__file__).resolve().parents[1] / "static" / "no-graph.svg").read_bytes()
_NEXT = re.compile(r"[A-Za-z0-9_\-./]{0,200}")


def octets(n: int) -> str:
    """Bytes for people: '1.5 GB', '320 kB', '0 B' (powers of 1000)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def safe_next(text: str, slug: str) -> str:
    """``text`` as a path inside this portal (relative to its start page), or '' for anything else."""
    prefix = f"/{slug}/portal/"
    if text.startswith(prefix):
        text = text[len(prefix):]
    if not _NEXT.fullmatch(text) or text.startswith("/") or "//" in text or ".." in text:
        return ""
    return text


_arg = forms.arg


class OrgCache:
    """Each portal's org, brand and billing settings, kept ``seconds`` (by ``clock``) so that a
    busy page does not read them on every request: a change of brand or settings shows within
    that time.  One per web root (so each test's root starts empty)."""

    def __init__(self, clock: Any, seconds: float = 5.0):
        self.clock = clock
        self.seconds = seconds
        self._kept: dict[str, tuple[float, accounts.PortalOrg]] = {}

    @defer.inlineCallbacks
    def get(self, slug: str, read: Reader) -> Generator[Any, Any, accounts.PortalOrg | None]:
        now = self.clock.seconds()
        hit = self._kept.get(slug)
        if hit is not None and now < hit[0]:
            return hit[1]
        found = yield read(accounts.portal_org, slug)
        if found is None:
            self._kept.pop(slug, None)
        else:
            if len(self._kept) > 10_000:      # slugs are few; a flood of unknown ones is never kept
                self._kept.clear()
            self._kept[slug] = (now + self.seconds, found)
        return found


class Portal:
    """The portal of the org ``slug``, built per request with the services
    (``deps``: the admin API's :class:`web.api.app.Deps`; without it only the
    start and suspension pages are served, to visitors)."""

    app = Klein()

    def __init__(self, read: Reader, pages: Pages, slug: str, deps: Any = None, orgs_cache: OrgCache | None = None):
        self.read = read
        self.orgs_cache = orgs_cache
        self.pages = pages
        self.slug = slug
        self.deps = deps
        self.org: orgs.Org | None = None
        self.looked_up = False
        self._brand: accounts.Brand | None = None
        self.settings: Any = None
        self._session: sessions.Session | None = None
        self._session_read = False
        if deps is not None:
            c = deps.conf.portal
            self.policy = sessions.Policy(timedelta(minutes=c.session_idle_minutes),
                                          timedelta(hours=c.session_max_hours))
            self.limits = accounts.Limits(c.login_failures, c.ip_failures, timedelta(minutes=c.login_window_minutes),
                                          timedelta(minutes=c.login_max_wait_minutes), c.reset_minutes,
                                          c.reset_per_hour)

    # -- the org, the session, the visitor ----------------------------------------------------

    @defer.inlineCallbacks
    def _org(self) -> Generator[Any, Any, orgs.Org]:
        """This portal's org; NotFound if no org has the slug."""
        if self.org is None:
            found = yield self._portal_org()
            self.looked_up = True
            if found is None:
                raise NotFound("org", self.slug)
            self.org, self._brand, self.settings = found.org, found.brand, found.settings
        return self.org

    def _portal_org(self) -> defer.Deferred[accounts.PortalOrg | None]:
        if self.orgs_cache is not None:
            return self.orgs_cache.get(self.slug, self.read)
        return self.read(accounts.portal_org, self.slug)

    @defer.inlineCallbacks
    def _branding(self) -> Generator[Any, Any, accounts.Brand]:
        yield self._org()
        assert self._brand is not None
        return self._brand

    def _now(self) -> datetime:
        return utcnow(self.deps.clock)

    def _deps(self) -> Any:
        if self.deps is None:
            raise NotFound("page", "portal")
        return self.deps

    def cookie_path(self) -> str:
        """The cookie's Path: this org's portal under the public URL's path (so orgs never share a cookie)."""
        base = urllib.parse.urlsplit(public_url(self.deps.conf.web)).path.rstrip("/")
        return f"{base}/{urllib.parse.quote(self.slug, safe='')}/portal/"

    def _set_cookie(self, request: IRequest, secret: str, max_age: int | None = None) -> None:
        secure = bool(cast(Any, request).isSecure()) or self.deps.conf.web.public_url.startswith("https:")
        cast(Any, request).addCookie(sessions.COOKIE.encode(), secret.encode(), path=self.cookie_path().encode(),
                                     httpOnly=True, secure=secure, sameSite="lax",
                                     max_age=None if max_age is None else str(max_age).encode())

    @defer.inlineCallbacks
    def current(self, request: IRequest) -> Generator[Any, Any, sessions.Session | None]:
        """The request's live session of this org, if its cookie names one (activity recorded)."""
        if self._session_read or self.deps is None:
            return self._session
        org = yield self._org()
        self._session_read = True
        cookie = self._cookie(request)
        if cookie:
            now = self._now()
            s = yield self.read(sessions.find, org.id, cookie, now, self.policy)
            yield self._found(s, now)
        return self._session

    @staticmethod
    def _cookie(request: IRequest) -> str | None:
        cookie = cast(Any, request).getCookie(sessions.COOKIE.encode())
        return cookie.decode("ascii", "replace") if cookie else None

    @defer.inlineCallbacks
    def _found(self, s: sessions.Session | None, now: datetime) -> Generator[Any, Any, None]:
        """Remember the request's session as read at ``now`` (its activity recorded)."""
        assert self.org is not None
        self._session_read = True
        if s is not None and s.needs_touch(now):
            yield self.deps.db.write(sessions.touch, self.org.id, s.public_id, now)
        self._session = s

    @defer.inlineCallbacks
    def visitor(self, request: IRequest) -> Generator[Any, Any, Visitor]:
        """The visitor of this request (a session cookie is set if it had none)."""
        self._deps()
        org = yield self._org()
        s = yield self.current(request)
        if s is None:
            started = yield self.deps.db.write(sessions.start, org.id, None, self._now(), self.policy)
            self._set_cookie(request, started.secret)
            s = self._session = started.session
        return Visitor(org, s.customer_id, s.csrf, s.public_id)

    def portal_base(self, request: IRequest) -> str:
        """This portal's start page relative to the request's page."""
        return root_prefix(request) + urllib.parse.quote(self.slug, safe="") + "/portal/"

    def _here(self, request: IRequest) -> str:
        """The request's page relative to the portal's start page."""
        path = cast(Any, request).path.decode("utf-8", "replace")
        marker = f"/{self.slug}/portal/"
        return path.split(marker, 1)[1] if marker in path else ""

    @defer.inlineCallbacks
    def require_customer(self, request: IRequest) -> Generator[Any, Any, Visitor]:
        """The signed-in visitor; otherwise fails with a redirect to the login page (``?next=`` this page)."""
        self._deps()
        org = yield self._org()
        s = yield self.current(request)
        if s is None or s.customer_id is None:
            here = safe_next(self._here(request), self.slug)
            query = "?" + urllib.parse.urlencode({"next": here}) if here else ""
            raise Redirect(self.portal_base(request) + "login" + query)
        return Visitor(org, s.customer_id, s.csrf, s.public_id)

    @defer.inlineCallbacks
    def sign_in(self, request: IRequest, visitor: Visitor, customer_id: int) -> Generator[Any, Any, Visitor]:
        """Sign the visitor in as ``customer_id`` (see :class:`web.portal.visitor.VisitorSource`)."""
        org = yield self._org()
        started = yield self.deps.db.write(sessions.sign_in, org.id, visitor.session_id, customer_id, self._now(),
                                           self.policy)
        self._set_cookie(request, started.secret)
        self._session, self._session_read = started.session, True
        return Visitor(org, customer_id, started.session.csrf, started.session.public_id)

    def check_csrf(self, request: IRequest, visitor: Visitor) -> None:
        """Raise a 403 error unless the POSTed form's ``csrf`` field matches ``visitor.csrf``."""
        forms.check_csrf(request, visitor.csrf)

    # -- rendering ------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _render(self, request: IRequest, template: str, visitor: Visitor | None = None,
                **context: Any) -> Generator[Any, Any, bytes]:
        b = yield self._branding()
        if visitor is not None and visitor.signed_in and "cart_count" not in context:
            context["cart_count"] = yield self.read(cart_count, visitor.org.id, visitor.customer_id)
        return self.pages.render(request, template, brand=b.name, logo=b.logo, portal=self.portal_base(request),
                                 visitor=visitor, octets=octets, **context)

    @staticmethod
    def _see_other(request: IRequest, location: str) -> bytes:
        request.setResponseCode(303)
        set_header(request, "Location", location)
        return b""

    # -- pages ----------------------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def index(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The start page for visitors, the dashboard for a signed-in customer."""
        org = yield self._org()
        cookie = self._cookie(request) if self.deps is not None and not self._session_read else None
        if cookie:     # a returning visitor: the session and, if signed in, the dashboard in one read
            now = self._now()
            s, found = yield self.read(accounts.session_dashboard, self.deps.box, org.id, cookie, now,
                                       self.policy, st=self.settings)
            yield self._found(s, now)
        else:
            s, found = (yield self.current(request)), None
        if s is None or s.customer_id is None:
            page = yield self._render(request, "portal/index.html", can_sign_in=self.deps is not None)
            return page
        v = Visitor(org, s.customer_id, s.csrf, s.public_id)
        if found is None:
            found = yield self.read(accounts.dashboard_page, self.deps.box, org.id, s.customer_id, self._now(),
                                    st=self.settings)
        data, figures = found
        page = yield self._render(request, "portal/dashboard.html", v, d=data, money=self._money(data),
                                  vf=figures, duration=duration, size=size, states=STATE_LABELS,
                                  tickets=data.tickets, cart_count=data.cart_count,
                                  day=lambda d: documents.format_day(d, data.locale))
        return page

    @staticmethod
    def _money(data: accounts.Dashboard) -> Callable[[int], str]:
        return lambda minor: documents.format_money(minor, data.currency, data.locale)

    @app.route("/brand.css", methods=["GET"])
    @defer.inlineCallbacks
    def brand_css(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's colour as CSS (the pages' policy forbids inline styles)."""
        b = yield self._branding()
        set_header(request, "Content-Type", "text/css; charset=utf-8")
        set_header(request, "X-Content-Type-Options", "nosniff")
        set_header(request, "Cache-Control", "private, max-age=300")
        return f":root {{ --accent: {b.colour}; }}\n".encode() if b.colour else b"/* no brand colour */\n"

    # -- sign in and out -----------------------------------------------------------------------

    @app.route("/login", methods=["GET"])
    @defer.inlineCallbacks
    def login_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The sign-in form (the signed-in go to the dashboard or ``next``)."""
        v = yield self.visitor(request)
        nxt = safe_next(_arg(request, "next"), self.slug)
        if v.signed_in:
            return self._see_other(request, self.portal_base(request) + nxt)
        page = yield self._render(request, "portal/login.html", v, next=nxt, identifier="", errors={})
        return page

    @app.route("/login", methods=["POST"])
    @defer.inlineCallbacks
    def login(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sign in with an e-mail or phone number and a password, under the sign-in throttle."""
        v = yield self.visitor(request)
        self.check_csrf(request, v)
        ident, password = _arg(request, "identifier", 254).strip(), _arg(request, "password", 200)
        nxt = safe_next(_arg(request, "next"), self.slug)
        errors: dict[str, str] = {}
        if not ident:
            errors["identifier"] = "Type your e-mail address or phone number."
        if not password:
            errors["password"] = "Type your password."
        status = 400
        if not errors:
            norm, _ = yield self.read(accounts.identifier, v.org.id, ident)
            ip = cast(Any, request).getClientAddress().host or "?"
            wait = yield self.deps.db.write(accounts.begin_attempt, v.org.id, norm, ip, self._now(), self.limits)
            if wait:
                log.info("portal sign-in throttled: org {org}, address {ip}, {wait} s to wait", org=self.slug,
                         ip=ip, wait=wait)
                minutes = max(1, -(-wait // 60))
                errors["form"] = (f"Too many tries. Wait {minutes} minute{'s' if minutes > 1 else ''} and try "
                                  "again, or use \u201cforgot password\u201d.")
                status = 429
                set_header(request, "Retry-After", str(wait))
            else:
                customer_id = yield self.read(accounts.check_password, v.org.id, ident, password)
                started = yield self.deps.db.write(accounts.finish_attempt, v.org.id, norm, ip, customer_id,
                                                   v.session_id, self._now(), self.policy, self.limits)
                if started is not None:
                    self._set_cookie(request, started.secret)
                    return self._see_other(request, self.portal_base(request) + nxt)
                errors["form"] = WRONG
        request.setResponseCode(status)
        page = yield self._render(request, "portal/login.html", v, next=nxt, identifier=ident, errors=errors)
        return page

    @app.route("/logout", methods=["POST"])
    @defer.inlineCallbacks
    def logout(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sign out: the session is deleted and its cookie cleared."""
        v = yield self.visitor(request)
        self.check_csrf(request, v)
        if v.session_id is not None:
            yield self.deps.db.write(sessions.end, v.org.id, v.session_id)
        self._set_cookie(request, "", max_age=0)
        return self._see_other(request, self.portal_base(request))

    # -- password reset ------------------------------------------------------------------------

    @app.route("/forgot", methods=["GET"])
    @defer.inlineCallbacks
    def forgot_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Ask for a password-reset link."""
        v = yield self.visitor(request)
        page = yield self._render(request, "portal/forgot.html", v, identifier="", errors={}, sent=None)
        return page

    @app.route("/forgot", methods=["POST"])
    @defer.inlineCallbacks
    def forgot(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Send a reset link if the e-mail or phone is a customer's; the same answer either way."""
        v = yield self.visitor(request)
        self.check_csrf(request, v)
        ident = _arg(request, "identifier", 254).strip()
        if not ident:
            request.setResponseCode(400)
            page = yield self._render(request, "portal/forgot.html", v, identifier="", sent=None,
                                      errors={"identifier": "Type your e-mail address or phone number."})
            return page
        base = public_url(self.deps.conf.web) + "/" + urllib.parse.quote(self.slug, safe="") + "/portal/"
        yield self.deps.db.write(accounts.request_reset, self.deps.box, v.org.id, ident, base, self._now(),
                                 self.limits)
        page = yield self._render(request, "portal/forgot.html", v, identifier="", errors={},
                                  sent=SENT.format(minutes=self.limits.reset_minutes))
        return page

    @app.route("/reset/<token>", methods=["GET"])
    @defer.inlineCallbacks
    def reset_form(self, request: IRequest, token: str) -> Generator[Any, Any, bytes]:
        """The new-password form of a working reset link (the link stays unused until it is sent)."""
        v = yield self.visitor(request)
        customer_id = yield self.read(accounts.reset_customer, v.org.id, token, self._now())
        if customer_id is None:
            request.setResponseCode(410)
        page = yield self._render(request, "portal/reset.html", v, valid=customer_id is not None, errors={})
        return page

    @app.route("/reset/<token>", methods=["POST"])
    @defer.inlineCallbacks
    def reset(self, request: IRequest, token: str) -> Generator[Any, Any, bytes]:
        """Set the new password: the link is used up, other sessions end, the customer is signed in."""
        v = yield self.visitor(request)
        self.check_csrf(request, v)
        password, confirm = _arg(request, "password", 300), _arg(request, "confirm", 300)
        try:
            accounts.check_new_password(password, confirm)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._render(request, "portal/reset.html", v, valid=True, errors={e.field: e.message})
            return page
        started = yield self.deps.db.write(accounts.use_reset, v.org.id, token, password, v.session_id,
                                           self._now(), self.policy)
        if started is None:
            request.setResponseCode(410)
            page = yield self._render(request, "portal/reset.html", v, valid=False, errors={})
            return page
        self._set_cookie(request, started.secret)
        return self._see_other(request, self.portal_base(request))

    # -- the suspension page -------------------------------------------------------------------

    @app.route("/suspended", methods=["GET"])
    @defer.inlineCallbacks
    def suspended(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Where the walled garden sends a suspended login: the org's name and, for a known ``?reason=`` code,
        why; for a signed-in customer also their suspended services, why, the balance and a pay-now button."""
        org = yield self._org()
        code = _arg(request, "reason", 40)
        s = yield self.current(request)
        data, v = None, None
        if s is not None and s.customer_id is not None:
            v = Visitor(org, s.customer_id, s.csrf, s.public_id)
            data = yield self.read(accounts.dashboard, self.deps.box, org.id, s.customer_id, self._now(),
                                   st=self.settings)
        page = yield self._render(request, "portal/suspended.html", v, reason=SUSPENSION_REASONS.get(code), d=data,
                                  money=self._money(data) if data else None,
                                  can_sign_in=self.deps is not None)
        return page

    # -- the customer's documents and graphs ---------------------------------------------------

    @app.route("/usage/<int:login_id>.png", methods=["GET"])
    @defer.inlineCallbacks
    def usage_png(self, request: IRequest, login_id: int) -> Generator[Any, Any, bytes]:
        """The last day's traffic of one of the customer's logins (a stand-in picture while it has none; 404 for
        anyone else's login)."""
        v = yield self.require_customer(request)
        mine = yield self.read(accounts.owns_login, v.org.id, v.customer_id, login_id)
        if not mine:
            raise NotFound("graph", login_id)
        acct = self.deps.services.get("accounting")
        now = self._now()
        png = None
        if acct is not None:
            try:
                png = yield acct.graph(v.org.id, login_id, now - timedelta(days=1), now, width=600, height=200,
                                       title="Traffic, last 24 hours")
            except TimeoutError:
                png = None
        set_header(request, "Cache-Control", "private, max-age=300")
        set_header(request, "X-Content-Type-Options", "nosniff")
        if png is None:        # no RRD file yet (or graphs off): a picture that says so, not a broken image
            set_header(request, "Content-Type", "image/svg+xml")
            return NO_GRAPH
        set_header(request, "Content-Type", "image/png")
        return cast(bytes, png)

    @defer.inlineCallbacks
    def _document(self, request: IRequest, owns: Callable[..., bool], doc: Callable[..., documents.Doc],
                  what: str, obj_id: int, pdf: bool) -> Generator[Any, Any, bytes]:
        v = yield self.require_customer(request)

        def render(conn: Any) -> bytes | None:
            if not owns(conn, v.org.id, v.customer_id, obj_id):
                return None
            html = documents.render(doc(conn, v.org.id, obj_id))
            return documents.html_to_pdf(html) if pdf else html.encode("utf-8")
        body = yield self.read(render)
        if body is None:
            raise NotFound(what, obj_id)
        set_header(request, "Content-Type", "application/pdf" if pdf else "text/html; charset=utf-8")
        set_header(request, "X-Content-Type-Options", "nosniff")
        set_header(request, "Cache-Control", "private, no-store")
        # The documents carry their own stylesheet inline; nothing else may load or run.
        set_header(request, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
        return cast(bytes, body)

    @app.route("/invoices/<int:invoice_id>.html", methods=["GET"])
    def invoice_html(self, request: IRequest, invoice_id: int) -> defer.Deferred[bytes]:
        return self._document(request, accounts.owns_invoice, documents.invoice_doc, "invoice", invoice_id, False)

    @app.route("/invoices/<int:invoice_id>.pdf", methods=["GET"])
    def invoice_pdf(self, request: IRequest, invoice_id: int) -> defer.Deferred[bytes]:
        return self._document(request, accounts.owns_invoice, documents.invoice_doc, "invoice", invoice_id, True)

    @app.route("/receipts/<int:payment_id>.html", methods=["GET"])
    def receipt_html(self, request: IRequest, payment_id: int) -> defer.Deferred[bytes]:
        return self._document(request, accounts.owns_payment, documents.receipt_doc, "receipt", payment_id, False)

    @app.route("/receipts/<int:payment_id>.pdf", methods=["GET"])
    def receipt_pdf(self, request: IRequest, payment_id: int) -> defer.Deferred[bytes]:
        return self._document(request, accounts.owns_payment, documents.receipt_doc, "receipt", payment_id, True)

    # -- paying (web.portal.pay) ----------------------------------------------------------------

    @app.route("/pay/", branch=True)
    def pay(self, request: IRequest) -> KleinRenderable:
        """The payment pages, built with this portal as their source of visitors."""
        if self.deps is None:
            raise NotFound("page", "pay")
        return cast(IResource, PayPages(self, self.deps, self.pages, self.slug).app.resource())

    def _register_pages(self) -> RegisterPages:
        if self.deps is None:
            raise NotFound("page", "register")
        return RegisterPages(self, self.deps, self.pages, self.slug)

    @app.route("/register", methods=["GET", "POST"])
    def register(self, request: IRequest) -> KleinRenderable:
        """The registration form (web.portal.register), at the address without a trailing slash."""
        pages = self._register_pages()
        return pages.submit(request) if request.method == b"POST" else pages.form(request)

    @app.route("/register/", branch=True)
    def register_more(self, request: IRequest) -> KleinRenderable:
        """The rest of the registration pages (the "more information" link)."""
        return cast(IResource, self._register_pages().app.resource())

    @app.route("/<any(products, cart, checkout, orders, tickets):section>", branch=True)
    def shop(self, request: IRequest, section: str) -> KleinRenderable:
        """The catalogue, the cart, checkout, orders and tickets (web.portal.shop)."""
        if self.deps is None:
            raise NotFound("page", section)
        return ShopPages(self, self.deps, self.pages, self.slug).remounted()

    def _voucher_pages(self) -> VoucherPages:
        if self.deps is None:
            raise NotFound("page", "vouchers")
        return VoucherPages(self, self.deps, self.pages, self.slug)

    @app.route("/vouchers", methods=["GET"])
    def vouchers(self, request: IRequest) -> KleinRenderable:
        """The voucher packages on sale (web.portal.vouchers), at the address without a trailing slash."""
        return self._voucher_pages().packages(request)

    @app.route("/vouchers/", branch=True)
    def vouchers_more(self, request: IRequest) -> KleinRenderable:
        """Buying a voucher, its outcome, the customer's vouchers (web.portal.vouchers)."""
        return cast(IResource, self._voucher_pages().app.resource())

    @app.route("/signup/", branch=True)
    def signup(self, request: IRequest) -> KleinRenderable:
        """The online sign-up's steps (coverage, contract, payment method; web.portal.signup)."""
        if self.deps is None:
            raise NotFound("page", "signup")
        return cast(IResource, SignupPages(self, self.deps, self.pages, self.slug).app.resource())

    @app.route("/hotspot/<name>", methods=["GET"])
    @defer.inlineCallbacks
    def hotspot_file(self, request: IRequest, name: str) -> Generator[Any, Any, bytes]:
        """A file of the org's MikroTik hotspot pages, for the router's /tool fetch (web.portal.hotspot)."""
        deps = self._deps()
        org = yield self._org()
        body = yield hotspot_files.serve(self.read, request, org.id, public_url(deps.conf.web), name)
        return cast(bytes, body)

    # -- errors ---------------------------------------------------------------------------------

    @app.handle_errors(Exception)
    @defer.inlineCallbacks
    def error(self, request: IRequest, failure: Failure) -> Generator[Any, Any, bytes]:
        """The one place the portal turns exceptions into pages; branded with
        the org when there is one."""
        if isinstance(failure.value, CsrfError):
            err = HttpError(403, "csrf", forms.CSRF_MESSAGE)
        else:
            err = classify(failure, request)
        apply(request, err)
        if not self.looked_up:
            # Branding only: if the org cannot be read, the page goes out unbranded.
            yield self._org().addErrback(lambda _: None)
        back = f"{self.slug}/portal/" if self.org is not None else ""
        return self.pages.error(request, err, self.org.name if self.org else "aaad", back)
