"""/admin/customers, /admin/sessions, /admin/payments, /admin/invoices: the operator's customers and money.

    /customers                      search (name, username, phone, e-mail, IP: billing.console.search), or
                                    without a query the customers filtered by status and zone (CSV too)
    /customers/<id>                 the customer's page (billing.console.customer_page): details, services
                                    and their logins, live sessions (disconnect), the usage graph, money,
                                    invoices, payments, credit notes, tickets, messages, the timeline
    /customers/<id>/payment         record a payment (payments.record), then the receipt
    /customers/<id>/voucher         sell a voucher at the counter (voucher_sales.sell_at_counter,
                                    vouchers.sell): its code and password shown once, a link to its card
    /customers/<id>/credit-note     issue a credit note (credit_notes.write)
    /customers/<id>/password        a new portal password, shown once (customers.write)
    /customers/<id>/credentials     e-mail the sign-in details again (customers.write)
    /customers/<id>/services/<sid>/(suspend|resume|change-plan|approve)    (services.write)
                                 change-plan with ``preview=1``: what it would credit and charge, to confirm
    /customers/<id>/logins/<lid>/disconnect                                (sessions.disconnect)
    /customers/<id>/usage/<lid>.png the login's traffic graph (the API's usage graph, drawn by rrdtool)
    /sessions                       sessions, ?state=open (the dashboard's "online now"); disconnect
    /payments                       payments received, ?since= / ?until= (the revenue figures), receipts
    /invoices                       invoices, ?state=open, ?due_before= (open invoices, arrears), documents
    /credit-notes/<id>.html|.pdf    a credit note's document

Every read and write is the domain's function the API calls for the same job, with the API's permission;
the pages only parse what a person typed (an amount like ``25.00``, a date) and render.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Generator
from datetime import date, timedelta
from typing import Any, cast

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import authz, paging, urls
from aaad.errors import NotFound, ValidationError
from accounting import store as acct_store
from billing import (
    catalogue,
    console,
    credit_notes,
    customer_accounts,
    documents,
    invoices,
    money,
    payments,
    services,
    settings,
    voucher_sales,
)
from billing import customers as customers_mod
from billing.schema import CUSTOMER_STATUSES
from billing.vouchers import packages as voucher_packages
from enforcement import actions
from web import forms
from web.admin import lists
from web.admin.section import Nav, Section
from web.errors import set_header

PAGE = lists.LIMIT
METHODS = (("cash", "Cash"), ("mobile_money", "Mobile money"), ("bank", "Bank transfer"), ("card", "Card"),
           ("cheque", "Cheque"))
INVOICE_STATES = ("draft", "open", "paid", "void")
_STATUS_OPTIONS = [("", "Any")] + [(s, s.title()) for s in CUSTOMER_STATUSES]
#: What the customer page says after a write it was sent back to (?done=...).
DONE = {
    "suspended": "The service is suspended: its login is kept out (or walled in) until it is resumed.",
    "resumed": "The service is active again.",
    "plan_changed": "The plan is changed: the login's rate follows at once; the money is prorated (see the "
                    "invoices and credit notes).",
    "approved": "The service is approved: its login is active and the first invoice is issued.",
    "credit_note": "The credit note is issued.",
    "credentials": "The sign-in details are on their way by e-mail (with a new portal password).",
    "disconnected": "Disconnect requests are sent to the router for the login's open sessions.",
    "none_open": "The login had no open session: nothing to disconnect.",
}


def _locale(conn: Connection, org_id: int) -> str:
    return settings.get(conn, org_id).locale


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date like 2026-11-30") from None


def _customer_id(text: str) -> int:
    """A customer id from a list's filter (a bad one: a customer that is not there)."""
    if not text.isdigit() or len(text) > 18:
        raise NotFound("customer", text)
    return int(text)


def _octets(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1000  # type: ignore[assignment]
    return str(n)


class Customers(Section):
    """The customers, their page and its actions, and the lists of sessions, payments and invoices."""

    app = Klein()
    paths = ("customers", "sessions", "payments", "invoices", "credit-notes")
    nav = (Nav("customers", "Customers", "customers.read"),
           Nav("sessions?state=open", "Online sessions", "sessions.read"),
           Nav("payments", "Payments", "billing.read"),
           Nav("invoices", "Invoices", "billing.read"))
    lists = frozenset({"sessions", "payments", "invoices"})

    # -- helpers --------------------------------------------------------------------------------

    def _money(self, who: Any, locale: str) -> Callable[[int], str]:
        currency = who.org.currency

        def fmt(minor: int) -> str:
            return documents.format_money(minor, currency, locale)
        return fmt

    @defer.inlineCallbacks
    def _post(self, request: IRequest, permission: str) -> Generator[Any, Any, Any]:
        """A write's start: signed in, the form's CSRF token, the role's permission (before anything is read:
        a refused role learns nothing)."""
        who = yield self.require(request, "customers.read")
        self.check_csrf(request, who)
        authz.check(who.account.role, permission)
        return who

    # -- the customers --------------------------------------------------------------------------

    @app.route("/customers", methods=["GET"])
    @defer.inlineCallbacks
    def customers(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Search, or the customers by status and zone (``?format=csv``: all of them)."""
        who = yield self.require(request, "customers.read")
        q = forms.arg(request, "q", 300).strip()
        args = lists.ListArgs.from_request(request, filters=("status", "zone"))
        status, zone = args.filters.get("status"), args.filters.get("zone")
        errors: dict[str, str] = {}
        if status is not None and status not in CUSTOMER_STATUSES:
            errors["status"] = "Choose a status from the list."
            status = None
        if q:
            try:
                hits = yield self.read(console.search, who.org_id, q, limit=PAGE, now=self.now())
            except ValidationError as e:
                hits, errors["q"] = [], e.message
            if errors:
                request.setResponseCode(400)
            return self.render(request, "admin/customers/index.html", who, q=q, hits=hits, found=None, args=args,
                               statuses=CUSTOMER_STATUSES, status=status or "", zone=zone or "", errors=errors,
                               status_options=_STATUS_OPTIONS, next_url="", first_url="", csv_url="")
        if args.csv:
            rows = yield self.read(lambda conn: [
                (c.id, c.username, c.name, c.status, c.phone or "", c.email or "", c.zone or "",
                 c.created_at.strftime("%Y-%m-%d"))
                for c in lists.every(customers_mod.page, conn, who.org_id, status=status, zone=zone)])
            return lists.csv_body(request, "customers", ("id", "username", "name", "status", "phone", "email",
                                                             "zone", "created"), rows)
        found = yield self.read(lambda conn: lists.paged(customers_mod.page, conn, who.org_id, cursor=args.cursor,
                                                         limit=PAGE, status=status, zone=zone))
        if errors:
            request.setResponseCode(400)
        return self.render(request, "admin/customers/index.html", who, q="", hits=None, found=found.items,
                           args=args, statuses=CUSTOMER_STATUSES, status=status or "", zone=zone or "",
                           errors=errors, status_options=_STATUS_OPTIONS,
                           **self._pager(request, "customers", args, found))

    def _pager(self, request: IRequest, path: str, args: Any, found: paging.Page[Any]) -> dict[str, str]:
        base = self.base(request) + path
        return {"next_url": base + args.query(after=found.next_cursor) if found.next_cursor else "",
                "first_url": base + args.query() if args.cursor else "",
                "csv_url": base + args.query(format="csv")}

    # -- a customer's page ----------------------------------------------------------------------

    def _graphs(self, org_id: int, page: console.CustomerPage) -> dict[int, str]:
        """login id -> why there is no graph ('' : there is one), for each service's login."""
        acct = getattr(self.deps, "services", {}).get("accounting")
        rrd = getattr(acct, "rrd", None)
        out: dict[int, str] = {}
        for sv in page.services:
            if sv.login is None:
                continue
            if rrd is None:
                out[sv.login.id] = ("Traffic graphs are off here (the daemon's accounting service draws them "
                                    "with rrdtool when [accounting] rrd_enabled is on).")
            elif not os.path.exists(rrd.path_for(org_id, sv.login.id)):
                out[sv.login.id] = ("No traffic recorded for this login yet: its graph starts at the first "
                                    "5-minute aggregation after it has traffic.")
            else:
                out[sv.login.id] = ""
        return out

    @defer.inlineCallbacks
    def _customer(self, request: IRequest, who: Any, customer_id: int, *, values: dict[str, dict[str, str]] | None
                  = None, errors: dict[str, dict[str, str]] | None = None, notice: str = "",
                  password: str = "", sold: Any = None,
                  quotes: dict[int, Any] | None = None) -> Generator[Any, Any, bytes]:
        """The customer's page, with what a refused form typed and its messages (``sold``: the voucher just
        sold, its password shown this once; ``quotes``: a change-plan preview, by service id)."""
        def read(conn: Connection) -> tuple[console.CustomerPage, str, list[Any], list[Any]]:
            page = console.customer_page(conn, self.deps.box, who.org_id, customer_id, self.now())
            on_sale = (voucher_packages.list_packages(conn, who.org_id, active=True)
                       if who.can("vouchers.sell") else [])
            return (page, _locale(conn, who.org_id), catalogue.list_products(conn, who.org_id, active_only=True),
                    on_sale)
        page, locale, products, on_sale = yield self.read(read)
        if not notice:
            done = forms.arg(request, "done", 40)
            notice = DONE.get(done, "")
        plans = {sv.service.id: [(str(p.id), p.name) for p in products
                                 if p.type == next((x.type for x in products if x.id == sv.service.product_id), p.type)
                                 and p.id != sv.service.product_id]
                 for sv in page.services}
        fmt = self._money(who, locale)
        return self.render(request, "admin/customers/customer.html", who, p=page, c=page.customer, money=fmt,
                           octets=_octets, graphs=self._graphs(who.org_id, page),
                           plans=plans, methods=METHODS, values=values or {}, errors=errors or {}, notice=notice,
                           password=password, sold=sold,
                           voucher_packages=[(str(vp.id), f"{vp.name} ({vp.price_text})") for vp in on_sale],
                           today=page.today.isoformat(), paid_id=forms.arg(request, "receipt", 20),
                           quotes=quotes or {},
                           amount_hint=f"In {page.currency}, e.g. {money.format_amount(2500, page.currency)}",
                           money_plain=lambda minor: money.format_amount(minor, page.currency),
                           invoice_options=[(str(i.id), f"{i.number or i.id} ({fmt(i.open_amount)} open)")
                                            for i in page.open_invoices])

    @app.route("/customers/<int:customer_id>", methods=["GET"])
    @defer.inlineCallbacks
    def customer(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """The customer's page."""
        who = yield self.require(request, "customers.read")
        page = yield self._customer(request, who, customer_id)
        return page

    @defer.inlineCallbacks
    def _refused(self, request: IRequest, who: Any, customer_id: int, form: str, values: dict[str, str],
                 e: ValidationError, field_map: dict[str, str] | None = None) -> Generator[Any, Any, bytes]:
        """The page again with the form's message next to its field and what was typed kept (400)."""
        field = (field_map or {}).get(e.field, e.field)
        if field not in values:
            field = "form"
        request.setResponseCode(400)
        page = yield self._customer(request, who, customer_id, values={form: values},
                                    errors={form: {field: e.message}})
        return page

    def _back(self, request: IRequest, customer_id: int, query: str) -> bytes:
        return self.see_other(request, f"{self.base(request)}customers/{customer_id}?{query}")

    @app.route("/customers/<int:customer_id>/payment", methods=["POST"])
    @defer.inlineCallbacks
    def record_payment(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """Record money received (typed as ``25.00``): allocated to the oldest invoices, the services dunning
        suspended resumed; then the page with the receipt's links."""
        who = yield self._post(request, "payments.record")
        values = {k: forms.arg(request, k, 1000 if k == "note" else 130).strip()
                  for k in ("amount", "method", "reference", "note")}
        c = yield self.read(customers_mod.get, who.org_id, customer_id)
        if c is None:
            raise NotFound("customer", customer_id)
        try:
            if not values["amount"]:
                raise ValidationError("amount", "Type the amount received, e.g. 25.00.")
            amount = money.parse_amount(values["amount"], who.org.currency)
            if amount <= 0:
                raise ValidationError("amount", "Type an amount above zero.")
            if not values["reference"]:
                raise ValidationError("reference", "Type the receipt-book, bank or transaction reference.")
            done = yield self.write(request, who, "payments.record", payments.record, self.deps.login_writer,
                                    who.org_id, customer_id, amount, self.now(), method=values["method"],
                                    reference=values["reference"], note=values["note"],
                                    target=f"customer {customer_id}")
        except ValidationError as e:
            page = yield self._refused(request, who, customer_id, "payment", values, e)
            return page
        return self._back(request, customer_id, f"receipt={done.payment.id}")

    @app.route("/customers/<int:customer_id>/voucher", methods=["POST"])
    @defer.inlineCallbacks
    def sell_voucher(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """Sell the customer a voucher paid at the counter (the API's POST /vouchers/sell): the page again
        with its code and password, shown this once, and a link to print its card.  The same method and
        reference again (a double submit) shows the same voucher; nothing more is sold."""
        who = yield self._post(request, "vouchers.sell")
        values = {k: forms.arg(request, k, 130).strip() for k in ("package_id", "method", "reference")}
        c = yield self.read(customers_mod.get, who.org_id, customer_id)
        if c is None:
            raise NotFound("customer", customer_id)
        try:
            if not values["package_id"].isdigit() or len(values["package_id"]) > 12:
                raise ValidationError("package_id", "Choose the voucher package.")
            if not values["reference"]:
                raise ValidationError("reference", "Type the receipt-book number or the mobile-money transaction "
                                                   "id.")
            v = yield self.write(request, who, "vouchers.sell", voucher_sales.sell_at_counter,
                                 self.deps.login_writer, who.org_id, int(values["package_id"]), customer_id,
                                 self.now(), method=values["method"], reference=values["reference"],
                                 target=f"customer {customer_id}")
        except ValidationError as e:
            page = yield self._refused(request, who, customer_id, "voucher", values, e)
            return page
        page = yield self._customer(request, who, customer_id, sold=v,
                                    notice=f"Voucher {v.code} sold for {v.price_text}: give the customer "
                                           + ("the code now (it is the password too; or print the card)."
                                              if v.code_only else "the code and password now (or print the card); "
                                              "the password is not shown again."))
        return page

    @app.route("/customers/<int:customer_id>/credit-note", methods=["POST"])
    @defer.inlineCallbacks
    def credit_note(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """Credit the customer by hand with a reason, optionally against one of their open invoices."""
        who = yield self._post(request, "credit_notes.write")
        values = {k: forms.arg(request, k, 500).strip() for k in ("amount", "reason", "invoice_id")}
        c = yield self.read(customers_mod.get, who.org_id, customer_id)
        if c is None:
            raise NotFound("customer", customer_id)
        try:
            if not values["amount"]:
                raise ValidationError("amount", "Type the amount to credit, e.g. 10.00.")
            amount = money.parse_amount(values["amount"], who.org.currency)
            if amount <= 0:
                raise ValidationError("amount", "Type an amount above zero.")
            if not values["reason"]:
                raise ValidationError("reason", "Say why the customer is credited (it is printed).")
            invoice_id = int(values["invoice_id"]) if values["invoice_id"].isdigit() else None
            inv = yield self.read(invoices.get, who.org_id, invoice_id) if invoice_id is not None else None
            if invoice_id is not None and (inv is None or inv.customer_id != customer_id):
                raise ValidationError("invoice_id", "Choose one of the customer's open invoices.")
            yield self.write(request, who, "credit_notes.write", credit_notes.add_manual, who.org_id, customer_id,
                             amount, values["reason"], self.now(), invoice_id, target=f"customer {customer_id}")
        except ValidationError as e:
            page = yield self._refused(request, who, customer_id, "credit", values, e, {"invoice": "invoice_id"})
            return page
        return self._back(request, customer_id, "done=credit_note")

    @app.route("/customers/<int:customer_id>/password", methods=["POST"])
    @defer.inlineCallbacks
    def reset_password(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """A new portal password, shown once on the page that answers (never in the audit log)."""
        who = yield self._post(request, "customers.write")
        password = yield self.write(request, who, "customers.write", customer_accounts.reset_password, who.org_id,
                                    customer_id, self.now(), target=f"customer {customer_id}",
                                    after=lambda _: {"portal_password": "reset"})
        page = yield self._customer(request, who, customer_id, password=password,
                                    notice="A new portal password is set: give it to the customer now, it is not "
                                           "shown again.")
        return page

    @app.route("/customers/<int:customer_id>/credentials", methods=["POST"])
    @defer.inlineCallbacks
    def resend_credentials(self, request: IRequest, customer_id: int) -> Generator[Any, Any, bytes]:
        """E-mail the sign-in details again with a new portal password (billing.notify's credentials e-mail)."""
        who = yield self._post(request, "customers.write")
        try:
            yield self.write(request, who, "customers.write", customer_accounts.resend_credentials, self.deps.box,
                             who.org_id, customer_id, self.now(), base_url=urls.public_url(self.deps.conf.web),
                             target=f"customer {customer_id}", after=lambda c: {"credentials_sent": True})
        except ValidationError as e:
            page = yield self._refused(request, who, customer_id, "credentials", {}, e)
            return page
        return self._back(request, customer_id, "done=credentials")

    # -- a service's life -----------------------------------------------------------------------

    @defer.inlineCallbacks
    def _service(self, who: Any, customer_id: int, service_id: int) -> Generator[Any, Any, services.Service]:
        s = yield self.read(services.get, who.org_id, service_id)
        if s is None or s.customer_id != customer_id:
            raise NotFound("service", service_id)
        return s

    @app.route("/customers/<int:customer_id>/services/<int:service_id>/<any(suspend, resume, 'change-plan', "
               "approve):action>", methods=["POST"])
    @defer.inlineCallbacks
    def service_action(self, request: IRequest, customer_id: int, service_id: int,
                       action: str) -> Generator[Any, Any, bytes]:
        """Suspend (with a reason), resume, change plan (from a date, prorated) or approve (from a start
        date) one of the customer's services: billing.services, as the API's /services routes."""
        who = yield self._post(request, "services.write")
        before = yield self._service(who, customer_id, service_id)
        form = f"{action}-{service_id}"
        writer, now, target = self.deps.login_writer, self.now(), f"service {service_id}"
        values: dict[str, str] = {}
        try:
            if action == "suspend":
                values = {"reason": forms.arg(request, "reason", 500).strip()}
                if not values["reason"]:
                    raise ValidationError("reason", "Say why (the customer is told).")
                yield self.write(request, who, "services.write", services.suspend, writer, who.org_id, service_id,
                                 now, reason=values["reason"], target=target, before=before)
                done = "suspended"
            elif action == "resume":
                values = {"reason": forms.arg(request, "reason", 500).strip()}
                yield self.write(request, who, "services.write", services.resume, writer, who.org_id, service_id,
                                 now, reason=values["reason"] or "resumed by an operator", target=target,
                                 before=before)
                done = "resumed"
            elif action == "change-plan":
                values = {"product_id": forms.arg(request, "product_id", 20), "on": forms.arg(request, "on", 20)}
                if not values["product_id"].isdigit():
                    raise ValidationError("product_id", "Choose the new plan.")
                on = _day(values["on"], "on")
                if forms.arg(request, "preview", 5):
                    page = yield self._plan_quote(request, who, customer_id, service_id, int(values["product_id"]),
                                                  on, values)
                    return page
                try:
                    yield self.write(request, who, "services.write", services.change_plan, writer, who.org_id,
                                     service_id, int(values["product_id"]), now, on=on, target=target, before=before)
                except NotFound as e:
                    if e.what != "product":
                        raise
                    raise ValidationError("product_id", "Choose one of the plans listed.") from None
                done = "plan_changed"
            else:
                values = {"start": forms.arg(request, "start", 20)}
                start = _day(values["start"], "start")
                if start is None:
                    raise ValidationError("start", "Choose the day the service starts.")
                yield self.write(request, who, "services.write", services.approve, writer, who.org_id, service_id,
                                 start, now, target=target, before=before)
                done = "approved"
        except ValidationError as e:
            page = yield self._refused(request, who, customer_id, form, values, e,
                                       {"product": "product_id", "state": "form"})
            return page
        return self._back(request, customer_id, f"done={done}")

    @defer.inlineCallbacks
    def _plan_quote(self, request: IRequest, who: Any, customer_id: int, service_id: int, product_id: int,
                    on: Any, values: dict[str, str]) -> Generator[Any, Any, bytes]:
        """The change-plan form's preview: what the change would credit and charge
        (billing.services.quote_change, the same arithmetic the change books), nothing written; the form
        keeps the choice, to confirm."""
        try:
            q = yield self.read(services.quote_change, who.org_id, service_id, product_id, self.now(), on=on)
        except NotFound as e:
            if e.what != "product":
                raise
            raise ValidationError("product_id", "Choose one of the plans listed.") from None
        page = yield self._customer(request, who, customer_id, values={f"change-plan-{service_id}": values},
                                    quotes={service_id: q})
        return page

    # -- sessions -------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _disconnect(self, request: IRequest, who: Any, login_id: int) -> Generator[Any, Any, int]:
        """enforcement's disconnect-now (the API's POST /disconnect): a Disconnect-Request per open session
        of the login, sent at once by the running daemon."""
        done = yield self.write(request, who, "sessions.disconnect", actions.disconnect_login, who.org_id,
                                self.now(), login_id=login_id, reason=f"console disconnect by {who.account.email}",
                                target=f"login {login_id}")
        svc = getattr(self.deps, "services", {}).get("enforcement")
        if svc is not None and done.actions:
            svc.sender.kick()
        return len(done.actions)

    @app.route("/customers/<int:customer_id>/logins/<int:login_id>/disconnect", methods=["POST"])
    @defer.inlineCallbacks
    def disconnect_login(self, request: IRequest, customer_id: int, login_id: int) -> Generator[Any, Any, bytes]:
        """Disconnect the open sessions of one of the customer's logins."""
        who = yield self._post(request, "sessions.disconnect")
        owners = yield self.read(console.owners_of_logins, who.org_id, [login_id])
        if owners.get(login_id, (None,))[0] != customer_id:
            raise NotFound("login", login_id)
        n = yield self._disconnect(request, who, login_id)
        return self._back(request, customer_id, "done=" + ("disconnected" if n else "none_open"))

    @app.route("/customers/<int:customer_id>/usage/<int:login_id>.png", methods=["GET"])
    @defer.inlineCallbacks
    def usage_graph(self, request: IRequest, customer_id: int, login_id: int) -> Generator[Any, Any, bytes]:
        """The login's traffic over the last day: the accounting service's rrdtool graph, as the API's
        /logins/{id}/usage.png draws it (404 when there is none: the page says why)."""
        who = yield self.require(request, "customers.read")
        owners = yield self.read(console.owners_of_logins, who.org_id, [login_id])
        if owners.get(login_id, (None,))[0] != customer_id:
            raise NotFound("login", login_id)
        acct = getattr(self.deps, "services", {}).get("accounting")
        if acct is None or getattr(acct, "rrd", None) is None:
            raise NotFound("traffic graph", login_id)
        end = self.now()
        try:
            png = yield acct.graph(who.org_id, login_id, end - timedelta(days=1), end, width=640, height=200,
                                   title=None)
        except TimeoutError:
            png = None
        if png is None:
            raise NotFound("traffic graph", login_id)
        set_header(request, "Content-Type", "image/png")
        set_header(request, "Cache-Control", "private, max-age=60")
        return cast(bytes, png)

    @app.route("/sessions", methods=["GET"])
    @defer.inlineCallbacks
    def sessions(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sessions, newest first: ``?state=open`` (online now) or ``closed``, ``?username=``; CSV."""
        who = yield self.require(request, "sessions.read")
        args = lists.ListArgs.from_request(request, filters=("state", "username"))
        state, username = args.filters.get("state"), args.filters.get("username")
        errors: dict[str, str] = {}
        if state not in (None, "open", "closed"):
            errors["state"], state = "Choose open or closed.", None
        kw: dict[str, Any] = {"is_open": None if state is None else state == "open", "username": username}

        def rows_of(conn: Connection, items: list[acct_store.StoredSession]) -> list[tuple[Any, Any]]:
            owners = console.owners_of_logins(conn, who.org_id, {s.login_id for s in items if s.login_id})
            return [(s, owners.get(s.login_id or 0)) for s in items]
        if args.csv:
            def every(conn: Connection) -> list[tuple[Any, ...]]:
                found = list(lists.every(acct_store.page_sessions, conn, who.org_id, **kw))
                return [(s.id, s.session.username, owner[1] if owner else "", s.session.framed_ip or "",
                         s.session.start_time.strftime("%Y-%m-%d %H:%M:%S"),
                         s.session.stop_time.strftime("%Y-%m-%d %H:%M:%S") if s.session.stop_time else "",
                         s.session.input_octets, s.session.output_octets) for s, owner in rows_of(conn, found)]
            rows = yield self.read(every)
            return lists.csv_body(request, "sessions", ("id", "login", "customer", "ip", "started_utc",
                                                            "stopped_utc", "octets_in", "octets_out"), rows)

        def read(conn: Connection) -> tuple[paging.Page[Any], list[tuple[Any, Any]]]:
            p = lists.paged(acct_store.page_sessions, conn, who.org_id, cursor=args.cursor, limit=PAGE, **kw)
            return p, rows_of(conn, p.items)
        found, rows = yield self.read(read)
        if errors:
            request.setResponseCode(400)
        return self.render(request, "admin/customers/sessions.html", who, rows=rows, state=state or "",
                           username=username or "", errors=errors, octets=_octets,
                           **self._pager(request, "sessions", args, found))

    @app.route("/sessions/<int:session_id>/disconnect", methods=["POST"])
    @defer.inlineCallbacks
    def disconnect_session(self, request: IRequest, session_id: int) -> Generator[Any, Any, bytes]:
        """Disconnect a session's login (each of its open sessions), back to the sessions online."""
        who = yield self._post(request, "sessions.disconnect")
        s = yield self.read(acct_store.get_session, who.org_id, session_id)
        if s is None or s.login_id is None:
            raise NotFound("session", session_id)
        yield self._disconnect(request, who, s.login_id)
        return self.see_other(request, self.base(request) + "sessions?state=open")

    # -- payments, invoices and their documents -------------------------------------------------

    @app.route("/payments", methods=["GET"])
    @defer.inlineCallbacks
    def payments_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Payments received, newest first: ``?since=`` / ``?until=`` (received in [since, until), the
        dashboard's revenue today and this month), ``?method=``; CSV."""
        who = yield self.require(request, "billing.read")
        args = lists.ListArgs.from_request(request, filters=("since", "until", "method", "customer_id"))
        errors: dict[str, str] = {}
        kw: dict[str, Any] = {}
        for key in ("since", "until"):
            try:
                kw[key] = lists.instant(args.filters.get(key, ""), key)
            except ValidationError as e:
                errors[key] = e.message
        if "customer_id" in args.filters:
            kw["customer_id"] = _customer_id(args.filters["customer_id"])
        method = args.filters.get("method")
        if method is not None:
            try:
                kw["method"] = payments.check_method(method)
            except ValidationError as e:
                errors["method"] = e.message

        def named(conn: Connection, items: list[payments.Payment]) -> list[tuple[payments.Payment, str]]:
            names = console.customer_names(conn, who.org_id, {p.customer_id for p in items})
            return [(p, names.get(p.customer_id, "")) for p in items]
        if args.csv and not errors:
            def every(conn: Connection) -> list[tuple[Any, ...]]:
                found = named(conn, list(lists.every(payments.page, conn, who.org_id, **kw)))
                return [(p.receipt_number, p.customer_id, name, money.format_amount(p.amount, p.currency), p.currency,
                         p.method, p.reference, p.received_at.strftime("%Y-%m-%d %H:%M:%S")) for p, name in found]
            rows = yield self.read(every)
            return lists.csv_body(request, "payments", ("receipt", "customer_id", "customer", "amount",
                                                            "currency", "method", "reference", "received_utc"), rows)

        def read(conn: Connection) -> tuple[Any, list[Any], str]:
            if errors:
                return paging.Page([], None), [], _locale(conn, who.org_id)
            p = lists.paged(payments.page, conn, who.org_id, cursor=args.cursor, limit=PAGE, **kw)
            return p, named(conn, p.items), _locale(conn, who.org_id)
        found, rows, locale = yield self.read(read)
        if errors:
            request.setResponseCode(400)
        return self.render(request, "admin/customers/payments.html", who, rows=rows, args=args, errors=errors,
                           money=self._money(who, locale), methods=list(METHODS), filters=args.filters,
                           **self._pager(request, "payments", args, found))

    @app.route("/invoices", methods=["GET"])
    @defer.inlineCallbacks
    def invoices_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Invoices, newest first: ``?state=open``, ``?due_before=`` (the dashboard's open invoices and
        arrears); CSV."""
        who = yield self.require(request, "billing.read")
        args = lists.ListArgs.from_request(request, filters=("state", "due_before", "customer_id"))
        errors: dict[str, str] = {}
        kw: dict[str, Any] = {}
        state = args.filters.get("state")
        if state is not None and state not in INVOICE_STATES:
            errors["state"] = "Choose a state from the list."
        else:
            kw["state"] = state
        if "customer_id" in args.filters:
            kw["customer_id"] = _customer_id(args.filters["customer_id"])
        try:
            kw["due_before"] = _day(args.filters.get("due_before", ""), "due_before")
        except ValidationError as e:
            errors["due_before"] = e.message

        def named(conn: Connection, items: list[invoices.Invoice]) -> list[tuple[invoices.Invoice, str]]:
            names = console.customer_names(conn, who.org_id, {i.customer_id for i in items})
            return [(i, names.get(i.customer_id, "")) for i in items]
        if args.csv and not errors:
            def every(conn: Connection) -> list[tuple[Any, ...]]:
                found = named(conn, list(lists.every(invoices.page, conn, who.org_id, **kw)))
                return [(i.number or f"draft {i.id}", i.customer_id, name, i.state, i.issue_date.isoformat(),
                         i.due_date.isoformat(), money.format_amount(i.total, i.currency),
                         money.format_amount(i.open_amount, i.currency), i.currency) for i, name in found]
            rows = yield self.read(every)
            return lists.csv_body(request, "invoices", ("number", "customer_id", "customer", "state", "issued",
                                                            "due", "total", "open", "currency"), rows)

        def read(conn: Connection) -> tuple[Any, list[Any], str]:
            if errors:
                return paging.Page([], None), [], _locale(conn, who.org_id)
            p = lists.paged(invoices.page, conn, who.org_id, cursor=args.cursor, limit=PAGE, **kw)
            return p, named(conn, p.items), _locale(conn, who.org_id)
        found, rows, locale = yield self.read(read)
        if errors:
            request.setResponseCode(400)
        return self.render(request, "admin/customers/invoices.html", who, rows=rows, args=args, errors=errors,
                           money=self._money(who, locale), states=[(x, x.title()) for x in INVOICE_STATES],
                           filters=args.filters,
                           **self._pager(request, "invoices", args, found))

    @defer.inlineCallbacks
    def _document(self, request: IRequest, doc: Callable[[Connection, int, int], documents.Doc], obj_id: int,
                  pdf: bool) -> Generator[Any, Any, bytes]:
        """An invoice, receipt or credit note as the API and the portal serve it (HTML, or PDF)."""
        who = yield self.require(request, "billing.read")

        def render(conn: Connection) -> bytes:
            html = documents.render(doc(conn, who.org_id, obj_id))
            return documents.html_to_pdf(html) if pdf else html.encode("utf-8")
        body = yield self.read(render)
        set_header(request, "Content-Type", "application/pdf" if pdf else "text/html; charset=utf-8")
        set_header(request, "X-Content-Type-Options", "nosniff")
        set_header(request, "Cache-Control", "private, no-store")
        set_header(request, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
        return cast(bytes, body)

    @app.route("/invoices/<int:invoice_id>.<any(html, pdf):ext>", methods=["GET"])
    def invoice_document(self, request: IRequest, invoice_id: int, ext: str) -> defer.Deferred[bytes]:
        return self._document(request, documents.invoice_doc, invoice_id, ext == "pdf")

    @app.route("/payments/<int:payment_id>.<any(html, pdf):ext>", methods=["GET"])
    def receipt_document(self, request: IRequest, payment_id: int, ext: str) -> defer.Deferred[bytes]:
        return self._document(request, documents.receipt_doc, payment_id, ext == "pdf")

    @app.route("/credit-notes/<int:credit_note_id>.<any(html, pdf):ext>", methods=["GET"])
    def credit_note_document(self, request: IRequest, credit_note_id: int, ext: str) -> defer.Deferred[bytes]:
        return self._document(request, documents.credit_note_doc, credit_note_id, ext == "pdf")

