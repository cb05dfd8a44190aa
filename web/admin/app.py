"""/admin/: the admin console's shell — sign-in with a second factor, the dashboard, accounts, the audit log.

    /login               e-mail and password (throttled), then /login/code when the account has TOTP
    /login/code          the 6-digit code or a recovery code (throttled; a code works once)
    /logout              sign out (POST)
    /2fa                 enrol two-factor login: QR code, the secret as text, confirm with a code; the
                         recovery codes are shown once
    /                    the dashboard: the org's figures (billing.console); a platform admin first chooses
                         the org to act on (POST /org)
    /accounts            the org's accounts (owner only: accounts.manage): add, change the role, disable,
                         enable again, reset 2FA
    /password            the signed-in account changes its own password (every role; its other sessions end)
    /audit               the audit log (audit.read), newest first, paginated, filtered by actor
    /<segment>/...       a section's pages (web/admin/section.py, listed in web/admin/sections.py)

Every page but the sign-in ones needs a complete sign-in; a page the role may not see answers 403 naming
the permission it lacks.  Every console write goes through :meth:`Console.write`: it checks the role
(:func:`aaad.authz.check`) and records the audit entry (``admin:<email>``) in the write's transaction.
The session cookie is HttpOnly, SameSite=Strict, Path=/admin/; every POST carries the session's CSRF token.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import segno
from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from aaad import authz, orgs, paging
from aaad.clock import utcnow
from aaad.errors import NotFound, ValidationError
from aaad.urls import public_url
from billing import console, documents, settings
from web import apistore, forms
from web.admin import accounts, sections, sessions
from web.errors import HttpError, Redirect, apply, classify, set_header
from web.forms import CsrfError
from web.pages import Pages, root_prefix
from web.portal import accounts as throttle
from web.schema import audit as audit_t

log = Logger()
Reader = Callable[..., "defer.Deferred[Any]"]

IDLE = timedelta(minutes=30)
MAX_AGE = timedelta(hours=12)
LIMITS = throttle.Limits(id_failures=5, ip_failures=20, window=timedelta(minutes=15),
                         max_wait=timedelta(minutes=15))
WRONG = "Wrong e-mail address or password."
WRONG_CODE = "That code is not right (or was used already): type the code the app shows now, or a recovery code."
AUDIT_PAGE = 50


@dataclass(frozen=True)
class Who:
    """The signed-in account of a request and the org it acts on (None: a platform admin not yet in one)."""
    account: accounts.Account
    session: sessions.Session
    org: orgs.Org | None

    @property
    def org_id(self) -> int | None:
        return self.org.id if self.org else None

    def can(self, permission: str) -> bool:
        return authz.allowed(self.account.role, permission)


def _who(conn: Connection, secret: str, now: datetime, policy: sessions.Policy
         ) -> tuple[sessions.Session | None, accounts.Account | None, orgs.Org | None]:
    """The session of a cookie, its account and its org, in one read."""
    s = sessions.find(conn, secret, now, policy)
    if s is None or s.account_id is None:
        return s, None, None
    a = accounts.by_id(conn, s.account_id)
    org = orgs.get(conn, s.org_id) if s.org_id is not None else None
    return s, a, org


def _dashboard(conn: Connection, org_id: int, now: datetime) -> tuple[Any, str]:
    """The org's figures and the locale its money is written in."""
    return console.figures(conn, org_id, now), settings.get(conn, org_id).locale


class Console:
    """The console, built per request with the services (``deps``: the API's :class:`web.api.app.Deps`)."""

    app = Klein()

    def __init__(self, read: Reader, pages: Pages, deps: Any):
        self.read = read
        self.pages = pages
        self.deps = deps
        c = getattr(deps.conf, "admin", None) if deps is not None else None
        self.policy = sessions.Policy(timedelta(minutes=c.session_idle_minutes),
                                      timedelta(hours=c.session_max_hours)) if c else sessions.Policy(IDLE, MAX_AGE)
        self.limits = throttle.Limits(c.login_failures, c.ip_failures, timedelta(minutes=c.login_window_minutes),
                                      timedelta(minutes=c.login_max_wait_minutes)) if c else LIMITS
        self._session: sessions.Session | None = None
        self._account: accounts.Account | None = None
        self._org: orgs.Org | None = None
        self._read_done = False

    # -- the session ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return utcnow(self.deps.clock)

    def _deps(self) -> Any:
        if self.deps is None:
            raise NotFound("page", "admin")
        return self.deps

    def base(self, request: IRequest) -> str:
        """The console's start page relative to the request's page."""
        return root_prefix(request) + "admin/"

    def cookie_path(self) -> str:
        return urllib.parse.urlsplit(public_url(self.deps.conf.web)).path.rstrip("/") + "/admin/"

    def _set_cookie(self, request: IRequest, secret: str, max_age: int | None = None) -> None:
        secure = bool(cast(Any, request).isSecure()) or self.deps.conf.web.public_url.startswith("https:")
        cast(Any, request).addCookie(sessions.COOKIE.encode(), secret.encode(), path=self.cookie_path().encode(),
                                     httpOnly=True, secure=secure, sameSite="strict",
                                     max_age=None if max_age is None else str(max_age).encode())

    @defer.inlineCallbacks
    def current(self, request: IRequest) -> Generator[Any, Any, sessions.Session | None]:
        """The request's live session (its account and org read with it), activity recorded."""
        if self._read_done:
            return self._session
        self._deps()
        self._read_done = True
        cookie = cast(Any, request).getCookie(sessions.COOKIE.encode())
        if cookie:
            now = self._now()
            s, a, org = yield self.read(_who, cookie.decode("ascii", "replace"), now, self.policy)
            if s is not None and s.needs_touch(now):
                yield self.deps.db.write(sessions.touch, s.public_id, now)
            self._session, self._account, self._org = s, a, org
        return self._session

    @defer.inlineCallbacks
    def visitor(self, request: IRequest) -> Generator[Any, Any, sessions.Session]:
        """The request's session; a visitor's (a CSRF token only) is started if it has none."""
        s = yield self.current(request)
        if s is None:
            started = yield self.deps.db.write(sessions.start, None, None, False, self._now(), self.policy)
            self._set_cookie(request, started.secret)
            s = self._session = started.session
        return s

    @defer.inlineCallbacks
    def require(self, request: IRequest, permission: str | None = None,
                need_org: bool = True) -> Generator[Any, Any, Who]:
        """The signed-in account (else a redirect to the sign-in, or to its code step); with ``permission``,
        authz.Forbidden unless its role has it; with ``need_org`` a platform admin must have chosen an org."""
        s = yield self.current(request)
        if s is None or s.account_id is None or self._account is None:
            raise Redirect(self.base(request) + "login")
        if not s.mfa_done:
            raise Redirect(self.base(request) + "login/code")
        who = Who(self._account, s, self._org)
        if permission is not None:
            authz.check(who.account.role, permission)
        if need_org and who.org is None:
            raise Redirect(self.base(request) + "orgs")
        return who

    def _sign_in(self, request: IRequest, started: sessions.Started) -> None:
        self._set_cookie(request, started.secret)
        self._session = started.session

    # -- writing --------------------------------------------------------------------------------

    def write(self, request: IRequest, who: Who, permission: str | None, fn: Callable[..., Any], *args: Any,
              target: str, before: Any = None, after: Callable[[Any], Any] | None = None,
              **kw: Any) -> defer.Deferred[Any]:
        """Every console write: the role must have ``permission`` (None: the account's own business, e.g.
        enrolling its second factor), then ``fn(conn, *args, **kw)`` and its audit entry in one transaction
        (``after``: what the entry says of the result, when the result itself must not be kept)."""
        if permission is not None:
            authz.check(who.account.role, permission)
        now, route = self._now(), cast(Any, request).path.decode("utf-8", "replace")[:200]

        def tx(conn: Connection) -> Any:
            result = fn(conn, *args, **kw)
            apistore.record(conn, org_id=who.org_id, token_id=0, token_name=who.account.label, at=now,
                            method=request.method.decode("ascii", "replace"), route=route, target=target,
                            before=before, after=result if after is None else after(result),
                            actor=who.account.label, account_id=who.account.id)
            return result
        return cast("defer.Deferred[Any]", self.deps.db.write(tx))

    # -- rendering ------------------------------------------------------------------------------

    def render(self, request: IRequest, template: str, who: Who | None = None, csrf: str = "",
               **context: Any) -> bytes:
        set_header(request, "Cache-Control", "no-store")
        menu = [n for n in sections.menu() if who.can(n.permission)] if who is not None and who.org else []
        return self.pages.render(request, template, brand="aaad console", who=who, admin=self.base(request),
                                 csrf=who.session.csrf if who else csrf, menu=menu, **context)

    def _see_other(self, request: IRequest, location: str) -> bytes:
        request.setResponseCode(303)
        set_header(request, "Location", location)
        return b""

    @staticmethod
    def _ip(request: IRequest) -> str:
        return str(cast(Any, request).getClientAddress().host or "?")

    # -- signing in and out ---------------------------------------------------------------------

    @app.route("/login", methods=["GET"])
    @defer.inlineCallbacks
    def login_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The sign-in form (a complete sign-in goes to the dashboard)."""
        s = yield self.visitor(request)
        if s.signed_in and self._account is not None:
            return self._see_other(request, self.base(request))
        return self.render(request, "admin/login.html", csrf=s.csrf, email="", errors={})

    @app.route("/login", methods=["POST"])
    @defer.inlineCallbacks
    def login(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """E-mail and password, under the throttle; then the code step when the account has TOTP."""
        s = yield self.visitor(request)
        forms.check_csrf(request, s.csrf)
        email, password = forms.arg(request, "email", 254).strip(), forms.arg(request, "password", 200)
        errors: dict[str, str] = {}
        if not email:
            errors["email"] = "Type your e-mail address."
        if not password:
            errors["password"] = "Type your password."
        status = 400
        if not errors:
            ip = self._ip(request)
            wait = yield self.deps.db.write(throttle.begin_attempt, accounts.THROTTLE_ORG, email.lower(), ip,
                                            self._now(), self.limits, kinds=accounts.THROTTLE_KINDS)
            if wait:
                errors["form"] = self._wait_message(request, wait)
                status = 429
            else:
                a = yield self.read(accounts.check_password, email, password)
                if a is not None:
                    now = self._now()

                    def start(conn: Connection) -> sessions.Started:
                        throttle.clear_attempt(conn, accounts.THROTTLE_ORG, email.lower(), ip,
                                               kinds=accounts.THROTTLE_KINDS)
                        return sessions.sign_in(conn, s.public_id, a.org_id, a.id, not a.totp_enabled, now,
                                                self.policy)
                    started = yield self.deps.db.write(start)
                    self._sign_in(request, started)
                    log.info("console sign-in: {email} (password{more})", email=a.email,
                             more=", code next" if a.totp_enabled else "")
                    return self._see_other(request, self.base(request) + ("login/code" if a.totp_enabled else ""))
                errors["form"] = WRONG
        request.setResponseCode(status)
        return self.render(request, "admin/login.html", csrf=s.csrf, email=email, errors=errors)

    def _wait_message(self, request: IRequest, wait: int) -> str:
        set_header(request, "Retry-After", str(wait))
        minutes = max(1, -(-wait // 60))
        return f"Too many tries. Wait {minutes} minute{'s' if minutes > 1 else ''} and try again."

    @defer.inlineCallbacks
    def _half_signed(self, request: IRequest) -> Generator[Any, Any, tuple[sessions.Session, accounts.Account]]:
        s = yield self.current(request)
        if s is None or s.account_id is None or self._account is None:
            raise Redirect(self.base(request) + "login")
        if s.mfa_done:
            raise Redirect(self.base(request))
        return s, self._account

    @app.route("/login/code", methods=["GET"])
    @defer.inlineCallbacks
    def code_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The second step: the authenticator's code (or a recovery code)."""
        s, a = yield self._half_signed(request)
        return self.render(request, "admin/code.html", csrf=s.csrf, email=a.email, errors={})

    @app.route("/login/code", methods=["POST"])
    @defer.inlineCallbacks
    def code(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Check the code under the same throttle as the password; a new session once it is right."""
        s, a = yield self._half_signed(request)
        forms.check_csrf(request, s.csrf)
        code = forms.arg(request, "code", 40).strip()
        errors: dict[str, str] = {}
        status = 400
        if not code:
            errors["code"] = "Type the 6-digit code from your authenticator app, or a recovery code."
        else:
            ip, now = self._ip(request), self._now()
            wait = yield self.deps.db.write(throttle.begin_attempt, accounts.THROTTLE_ORG, a.email, ip, now,
                                            self.limits, kinds=accounts.THROTTLE_KINDS)
            if wait:
                errors["code"] = self._wait_message(request, wait)
                status = 429
            else:
                def check(conn: Connection) -> sessions.Started | None:
                    ok = (accounts.verify_totp(conn, self.deps.box, a.id, code, now)
                          or accounts.use_recovery_code(conn, a.id, code, now))
                    if not ok:
                        return None
                    throttle.clear_attempt(conn, accounts.THROTTLE_ORG, a.email, ip, kinds=accounts.THROTTLE_KINDS)
                    return sessions.sign_in(conn, s.public_id, a.org_id, a.id, True, now, self.policy)
                started = yield self.deps.db.write(check)
                if started is not None:
                    self._sign_in(request, started)
                    return self._see_other(request, self.base(request))
                errors["code"] = WRONG_CODE
        request.setResponseCode(status)
        return self.render(request, "admin/code.html", csrf=s.csrf, email=a.email, errors=errors)

    @app.route("/logout", methods=["POST"])
    @defer.inlineCallbacks
    def logout(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sign out: the session is deleted and its cookie cleared."""
        s = yield self.current(request)
        if s is None:
            raise CsrfError()
        forms.check_csrf(request, s.csrf)
        yield self.deps.db.write(sessions.end, s.public_id)
        self._set_cookie(request, "", max_age=0)
        return self._see_other(request, self.base(request) + "login")

    # -- two-factor enrolment -------------------------------------------------------------------

    @app.route("/2fa", methods=["GET"])
    @defer.inlineCallbacks
    def enrol_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The QR code and secret of a new TOTP secret (kept until confirmed), or that TOTP is on."""
        who = yield self.require(request, need_org=False)
        if who.account.totp_enabled:
            return self.render(request, "admin/enrol.html", who, enabled=True, errors={})
        pending = yield self.read(accounts.pending_totp, self.deps.box, who.account.org_id, who.account.id)
        if pending is None:
            pending = yield self.deps.db.write(accounts.begin_totp, self.deps.box, who.account.org_id,
                                               who.account.id)
        return self._enrol_page(request, who, pending, {})

    def _enrol_page(self, request: IRequest, who: Who, pending: tuple[str, str], errors: dict[str, str]) -> bytes:
        secret, uri = pending
        qr = segno.make(uri, error="m").svg_inline(scale=5, border=2, title="QR code for your authenticator app")
        grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
        return self.render(request, "admin/enrol.html", who, enabled=False, qr=qr, secret=grouped, errors=errors)

    @app.route("/2fa", methods=["POST"])
    @defer.inlineCallbacks
    def enrol(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Confirm the new secret with a code: TOTP is on, the recovery codes are shown (once)."""
        who = yield self.require(request, need_org=False)
        forms.check_csrf(request, who.session.csrf)
        if who.account.totp_enabled:
            return self._see_other(request, self.base(request) + "2fa")
        code = forms.arg(request, "code", 20)
        try:
            codes = yield self.write(request, who, None, accounts.confirm_totp, self.deps.box, who.account.org_id,
                                     who.account.id, code, self._now(), target=f"account {who.account.id}",
                                     after=lambda made: {"totp_enabled": True, "recovery_codes": len(made)})
        except ValidationError as e:
            pending = yield self.read(accounts.pending_totp, self.deps.box, who.account.org_id, who.account.id)
            if pending is None:
                return self._see_other(request, self.base(request) + "2fa")
            request.setResponseCode(400)
            return self._enrol_page(request, who, pending, {"code": e.message})
        return self.render(request, "admin/recovery.html", who, codes=codes)

    # -- the org of a platform admin ------------------------------------------------------------

    @app.route("/orgs", methods=["GET"])
    @defer.inlineCallbacks
    def orgs_page(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """A platform admin chooses the org to act on (an org's account goes to its dashboard)."""
        who = yield self.require(request, need_org=False)
        if who.account.org_id is not None:
            return self._see_other(request, self.base(request))
        found = yield self.read(orgs.list_all)
        return self.render(request, "admin/orgs.html", who, orgs=found)

    @app.route("/orgs", methods=["POST"])
    @defer.inlineCallbacks
    def choose_org(self, request: IRequest) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, need_org=False)
        forms.check_csrf(request, who.session.csrf)
        if who.account.org_id is not None:
            raise authz.Forbidden("platform", who.account.role)
        org = yield self.read(orgs.get_by_slug, forms.arg(request, "org", 64))
        if org is None:
            raise NotFound("org", forms.arg(request, "org", 64))
        yield self.deps.db.write(sessions.set_org, who.session.public_id, org.id)
        return self._see_other(request, self.base(request))

    # -- the dashboard --------------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def dashboard(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's figures, each linked to its list where the console has that page and the role may open it."""
        who = yield self.require(request)
        assert who.org is not None
        f, locale = yield self.read(_dashboard, who.org.id, self._now())

        def money(minor: int) -> str:
            return documents.format_money(minor, f.currency, locale)
        return self.render(request, "admin/dashboard.html", who, figures=f.all(), money=money,
                           lists=sections.lists_for(who.can),
                           link=lambda fig: fig.list + ("?" + urllib.parse.urlencode(fig.filter) if fig.filter
                                                        else ""))

    # -- accounts -------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _accounts_page(self, request: IRequest, who: Who, form: dict[str, str],
                       errors: dict[str, str], notice: str = "",
                       role_errors: dict[int, tuple[str, str]] | None = None) -> Generator[Any, Any, bytes]:
        listed = yield self.read(accounts.page, who.org_id, limit=200)
        return self.render(request, "admin/accounts.html", who, accounts=listed.items, roles=authz.ROLES,
                           form=form, errors=errors, notice=notice, role_errors=role_errors or {})

    @app.route("/accounts", methods=["GET"])
    @defer.inlineCallbacks
    def accounts_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's console accounts and a form to add one (owner only)."""
        who = yield self.require(request, "accounts.manage")
        page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {})
        return page

    @app.route("/accounts", methods=["POST"])
    @defer.inlineCallbacks
    def accounts_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add an account with a role and a first password (it enrols its second factor itself)."""
        who = yield self.require(request, "accounts.manage")
        forms.check_csrf(request, who.session.csrf)
        form = {k: forms.arg(request, k, 254).strip() for k in ("email", "name", "role")}
        password = forms.arg(request, "password", 200)
        try:
            a = yield self.write(request, who, "accounts.manage", accounts.add, who.org_id, form["email"],
                                 form["name"], form["role"], password, self._now(), target=f"account {form['email']}")
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._accounts_page(request, who, form, {e.field: e.message})
            return page
        page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {},
                                         notice=f"{a.email} added as {a.role}.")
        return page

    @app.route("/accounts/<int:account_id>/role", methods=["POST"])
    @defer.inlineCallbacks
    def account_role(self, request: IRequest, account_id: int) -> Generator[Any, Any, bytes]:
        """Give an account another role (the org's last active owner keeps theirs: the message says why)."""
        who = yield self.require(request, "accounts.manage")
        forms.check_csrf(request, who.session.csrf)
        before = yield self.read(accounts.get, who.org_id, account_id)
        if before is None:
            raise NotFound("account", account_id)
        role = forms.arg(request, "role", 20).strip()
        try:
            a = yield self.write(request, who, "accounts.manage", accounts.set_role, who.org_id, account_id, role,
                                 target=f"account {account_id}", before=before)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {},
                                             role_errors={account_id: (role, e.message)})
            return page
        page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {},
                                         notice=f"{a.email} is now {a.role}.")
        return page

    @app.route("/accounts/<int:account_id>/<any(disable, enable, 'reset-2fa'):action>", methods=["POST"])
    @defer.inlineCallbacks
    def account_action(self, request: IRequest, account_id: int, action: str) -> Generator[Any, Any, bytes]:
        """Disable an account or enable it again, or reset its two-factor login (a lost phone)."""
        who = yield self.require(request, "accounts.manage")
        forms.check_csrf(request, who.session.csrf)
        before = yield self.read(accounts.get, who.org_id, account_id)
        if before is None:
            raise NotFound("account", account_id)
        try:
            if action == "disable":
                a = yield self.write(request, who, "accounts.manage", accounts.disable, who.org_id, account_id,
                                     self._now(), target=f"account {account_id}", before=before)
                notice = f"{a.email} is disabled; its sessions ended."
            elif action == "enable":
                a = yield self.write(request, who, "accounts.manage", accounts.enable, who.org_id, account_id,
                                     target=f"account {account_id}", before=before)
                notice = f"{a.email} is enabled again; it signs in with its password and second factor."
            else:
                a = yield self.write(request, who, "accounts.manage", accounts.reset_totp, who.org_id, account_id,
                                     target=f"account {account_id}", before=before)
                notice = f"Two-factor login of {a.email} is reset; it enrols again at its next sign-in."
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {},
                                             notice=e.message)
            return page
        page = yield self._accounts_page(request, who, {"email": "", "name": "", "role": "support"}, {},
                                         notice=notice)
        return page

    # -- the account's own password -------------------------------------------------------------

    @app.route("/password", methods=["GET"])
    @defer.inlineCallbacks
    def password_form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The signed-in account's form to change its own password (every role)."""
        who = yield self.require(request, need_org=False)
        return self.render(request, "admin/password.html", who, errors={}, done=False)

    @app.route("/password", methods=["POST"])
    @defer.inlineCallbacks
    def password_change(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Change the account's own password: the current one, the new one twice; its other sessions end."""
        who = yield self.require(request, need_org=False)
        forms.check_csrf(request, who.session.csrf)
        current, new, again = (forms.arg(request, k, 200) for k in ("current", "password", "again"))
        try:
            yield self.write(request, who, None, accounts.change_own_password, who.account.org_id, who.account.id,
                             current, new, again, who.session.public_id, target=f"account {who.account.id}",
                             after=lambda _: {"password": "changed", "other_sessions": "ended"})
        except ValidationError as e:
            request.setResponseCode(400)
            return self.render(request, "admin/password.html", who, errors={e.field: e.message}, done=False)
        return self.render(request, "admin/password.html", who, errors={}, done=True)

    # -- the audit log --------------------------------------------------------------------------

    @app.route("/audit", methods=["GET"])
    @defer.inlineCallbacks
    def audit(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's audit log, newest first, ``?actor=`` one actor's entries, ``?after=`` the next page."""
        who = yield self.require(request, "audit.read")
        actor, cursor = forms.arg(request, "actor", 80).strip(), forms.arg(request, "after", 200)

        def read(conn: Connection) -> paging.Page[apistore.AuditEntry]:
            q = apistore.audit_query(who.org_id)
            if actor:
                q = q.where(audit_t.c.token_name == actor)
            try:
                return paging.page(conn, q, sort="-id", columns={"id": audit_t.c.id}, id_col=audit_t.c.id,
                                   cursor=cursor or None, limit=AUDIT_PAGE, row=apistore.audit_row)
            except ValidationError:
                return paging.page(conn, q, sort="-id", columns={"id": audit_t.c.id}, id_col=audit_t.c.id,
                                   cursor=None, limit=AUDIT_PAGE, row=apistore.audit_row)
        found = yield self.read(read)
        nxt = ("audit?" + urllib.parse.urlencode({k: v for k, v in (("actor", actor), ("after", found.next_cursor))
                                                  if v})) if found.next_cursor else ""
        return self.render(request, "admin/audit.html", who, entries=found.items, actor=actor, next=nxt,
                           first=bool(cursor))

    # -- the sections ---------------------------------------------------------------------------

    @app.route("/<string:segment>", branch=True)
    def section(self, request: IRequest, segment: str) -> IResource:
        """``/admin/<segment>/...``: the pages of the section serving that segment (web/admin/sections.py)."""
        found = sections.by_path().get(segment)
        if found is None:
            raise NotFound("page", f"/admin/{segment}")
        return found(self).resource()

    # -- errors ---------------------------------------------------------------------------------

    @app.handle_errors(Exception)
    def error(self, request: IRequest, failure: Failure) -> bytes:
        """The console's one error handler: the 403 page names the permission the role lacks."""
        e = failure.value
        who = None
        if self._account is not None and self._session is not None and self._session.mfa_done:
            who = Who(self._account, self._session, self._org)
        if isinstance(e, authz.Forbidden):
            request.setResponseCode(403)
            return self.render(request, "admin/forbidden.html", who, permission=e.permission, role=e.role)
        err = HttpError(403, "csrf", forms.CSRF_MESSAGE) if isinstance(e, CsrfError) else classify(failure, request)
        apply(request, err)
        if err.status < 400:
            return b""
        return self.pages.error(request, err, "aaad console", "admin/")
