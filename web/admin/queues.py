"""/admin/registrations, /admin/orders, /admin/tickets: the queues of the operator's daily work.

    registrations                  the queue (``?status=``: pending unless asked, ``all``; ``?q=`` name, e-mail
                                   or phone; CSV); approve the ticked ones with one product, zone and start
    registrations/<id>             the applicant's details, custom fields, ID document, zone; approve with a
                                   product, zone and start date, reject with a reason, ask for more information
    orders                         the portal's orders (``?status=``, ``?method=``; CSV)
    orders/<id>                    its items and totals; approve with the start date, cancel an unpaid one
    tickets                        customers' tickets (``?status=``; CSV)
    tickets/<id>                   the thread; reply, close

Reading needs ``customers.read`` (as the API's areas do); approving or rejecting a registration
``registrations.write``, an order ``orders.write``, answering a ticket ``tickets.write``.  Every page reads
and writes through the functions the API's resources call (``billing.signup.registrations``,
``billing.orders.orders``, ``billing.orders.tickets``); nothing here decides anything.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import orgs, paging, urls
from aaad.errors import NotFound, ValidationError
from billing import catalogue, customers, documents, settings
from billing.orders import orders, tickets
from billing.signup import coverage, forms, notices, registrations, uploads
from web import forms as webforms
from web.admin import lists
from web.admin.section import Nav, Section
from web.errors import set_header

PAGE = 50
#: Registrations one bulk approval takes (the API's limit).
MAX_BULK = 500
REG_STATUSES = ("pending", "info_requested", "approved", "rejected")
TICKET_STATUSES = ("open", "answered", "closed")
#: What a page says after an action (``?done=``).
DONE = {
    "approved": "Approved.",
    "rejected": "Rejected: the applicant is told why.",
    "asked": "Asked: the applicant has a message with a link back to the form.",
    "cancelled": "Cancelled: its pending services are rejected.",
    "replied": "Replied: the customer is told.",
    "closed": "Closed.",
}


# -- reads (each one transaction; domain functions only) ----------------------------------------------------

def _page(conn: Connection, fn: Callable[..., paging.Page[Any]], cursor: str | None, *args: Any,
          **kw: Any) -> paging.Page[Any]:
    """One page of a domain list (a cursor the list did not give out: the first page)."""
    return lists.paged(fn, conn, *args, cursor=cursor, **kw)


def _all(conn: Connection, fn: Callable[..., paging.Page[Any]], *args: Any, **kw: Any) -> list[Any]:
    """Every row of a domain list, for a CSV download."""
    return list(lists.every(fn, conn, *args, **kw))


def _names(conn: Connection, org_id: int, ids: set[int]) -> dict[int, str]:
    """Customer id -> name, for the rows of a page."""
    out: dict[int, str] = {}
    for cid in ids:
        c = customers.get(conn, org_id, cid)
        if c is not None:
            out[cid] = c.name
    return out


def _money(conn: Connection, org_id: int) -> Callable[[int, str], str]:
    locale = settings.get(conn, org_id).locale
    return lambda minor, currency: documents.format_money(minor, currency, locale)


@dataclass(frozen=True)
class Choices:
    """What an approval form offers: the products, the zones, the org's today and the sign-up defaults."""
    products: list[tuple[str, str]]
    zones: list[tuple[str, str]]
    today: date
    default_product: int | None


def _choices(conn: Connection, org_id: int, now: datetime) -> Choices:
    st = forms.get_settings(conn, org_id)
    prods = [(str(p.id), p.name + (f" (zones: {', '.join(p.zones)})" if p.zones else ""))
             for p in catalogue.list_products(conn, org_id, active_only=True)]
    zones = [(z.name, z.name) for z in coverage.list_zones(conn, org_id)]
    return Choices(prods, zones, settings.get(conn, org_id).today(now), st.default_product_id)


def _reg_list(conn: Connection, org_id: int, status: str | None, q: str | None, cursor: str | None,
              now: datetime) -> tuple[paging.Page[registrations.Registration], Choices]:
    p = _page(conn, registrations.page, cursor, org_id=org_id, status=status, q=q)
    return p, _choices(conn, org_id, now)


@dataclass(frozen=True)
class RegView:
    reg: registrations.Registration
    labels: dict[str, str]              # custom field key -> label
    product: str                        # the chosen product's name
    choices: Choices


def _reg_view(conn: Connection, org_id: int, registration_id: int, now: datetime) -> RegView:
    reg = registrations.get(conn, org_id, registration_id)
    if reg is None:
        raise NotFound("registration", registration_id)
    labels = {f.key: f.label for f in forms.list_fields(conn, org_id)}
    p = catalogue.get_product(conn, org_id, reg.product_id) if reg.product_id is not None else None
    return RegView(reg, labels, p.name if p else "", _choices(conn, org_id, now))


@dataclass(frozen=True)
class OrderView:
    order: orders.Order
    customer: str
    tickets: list[tickets.Ticket]
    money: Callable[[int, str], str]
    today: date


def _order_view(conn: Connection, org_id: int, order_id: int, now: datetime) -> OrderView:
    o = orders.require(conn, org_id, order_id)
    c = customers.get(conn, org_id, o.customer_id)
    ts = tickets.page(conn, org_id, order_id=o.id, limit=20).items
    return OrderView(o, c.name if c else str(o.customer_id), ts, _money(conn, org_id),
                     settings.get(conn, org_id).today(now))


@dataclass(frozen=True)
class TicketView:
    thread: tickets.Thread
    customer: str


def _ticket_view(conn: Connection, org_id: int, ticket_id: int) -> TicketView:
    th = tickets.thread(conn, org_id, ticket_id)
    c = customers.get(conn, org_id, th.ticket.customer_id)
    return TicketView(th, c.name if c else str(th.ticket.customer_id))


# -- parsing the forms --------------------------------------------------------------------------------------

def _day(text: str, field: str = "start") -> date | None:
    t = text.strip()
    if not t:
        return None
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise ValidationError(field, "a date like 2026-12-01") from None


def _product_id(text: str) -> int | None:
    t = text.strip()
    if not t:
        return None
    if not t.isdigit() or len(t) > 10:
        raise ValidationError("product_id", "choose a product from the list")
    return int(t)


class Queues(Section):
    """Registrations, orders and tickets: the lists the dashboard's queue figures link."""

    app = Klein()
    paths = ("registrations", "orders", "tickets")
    nav = (Nav("registrations", "Registrations", "customers.read"),
           Nav("orders", "Orders", "customers.read"),
           Nav("tickets", "Tickets", "customers.read"))
    lists = frozenset({"registrations", "orders", "tickets"})

    # -- registrations --------------------------------------------------------------------------------------

    @app.route("/registrations", methods=["GET"])
    @defer.inlineCallbacks
    def registrations_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The queue: pending registrations unless ``?status=`` says otherwise (``all``: every one)."""
        who = yield self.require(request, "customers.read")
        args = lists.ListArgs.from_request(request, filters=("status", "q"))
        status = args.filters.get("status", "pending")
        wanted = None if status == "all" else status
        q = args.filters.get("q")
        if args.csv:
            rows = yield self.read(_all, registrations.page, org_id=who.org_id, status=wanted, q=q)
            return lists.csv_body(request, "registrations.csv",
                                  ["id", "status", "name", "email", "phone", "address", "zone", "product_id",
                                   "customer_id", "document", "created_at", "decided_at", "reason"],
                                  ([r.id, r.status, r.name, r.email or "", r.phone or "", r.address or "",
                                    r.zone or "", r.product_id or "", r.customer_id or "",
                                    r.document_name or ("yes" if r.has_document else ""), r.created_at.isoformat(),
                                    r.decided_at.isoformat() if r.decided_at else "", r.reason] for r in rows))
        found, choices = yield self.read(_reg_list, who.org_id, wanted, q, args.cursor, self.now())
        return self._reg_list_page(request, who, args, status, found, choices, {}, {}, [])

    def _reg_list_page(self, request: IRequest, who: Any, args: Any, status: str, found: Any, choices: Choices,
                       form: dict[str, str], errors: dict[str, str], results: list[Any],
                       ticked: frozenset[int] = frozenset()) -> bytes:
        return self.render(request, "admin/queues/registrations.html", who, args=args, status=status,
                           statuses=REG_STATUSES, items=found.items, next_cursor=found.next_cursor,
                           choices=choices, form=form or {"product_id": "", "zone": "", "start": ""},
                           errors=errors, results=results, ticked=ticked)

    @app.route("/registrations/bulk-approve", methods=["POST"])
    @defer.inlineCallbacks
    def registrations_bulk(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Approve the ticked registrations with one product, zone and start date, each on its own."""
        who = yield self.require(request, "registrations.write")
        self.check_csrf(request, who)
        form = {k: webforms.arg(request, k, 100) for k in ("product_id", "zone", "start")}
        raw = [v.decode("ascii", "replace") for v in request.args.get(b"ids", [])][:MAX_BULK]
        ids = [int(v) for v in raw if v.isdigit() and len(v) < 10]
        errors: dict[str, str] = {}
        results: list[Any] = []
        try:
            if not ids:
                raise ValidationError("ids", "Tick the registrations to approve.")
            product_id, start = _product_id(form["product_id"]), _day(form["start"])
            results = yield self.write(request, who, "registrations.write", registrations.approve_many,
                                       self.deps.login_writer, who.org_id, ids, self.now(), product_id=product_id,
                                       zone=form["zone"].strip() or None, start=start,
                                       target=f"registrations {','.join(map(str, ids[:20]))}",
                                       after=lambda res: [{"registration_id": x.registration_id, "ok": x.ok,
                                                           "error": x.error} for x in res])
        except ValidationError as e:
            errors[e.field] = e.message
            request.setResponseCode(400)
        args = lists.ListArgs.from_request(request, filters=("status", "q"))
        found, choices = yield self.read(_reg_list, who.org_id, "pending", None, None, self.now())
        return self._reg_list_page(request, who, args, "pending", found, choices, form, errors, results,
                                   frozenset(ids) if errors else frozenset())

    @app.route("/registrations/<int:registration_id>", methods=["GET"])
    @defer.inlineCallbacks
    def registration(self, request: IRequest, registration_id: int) -> Generator[Any, Any, bytes]:
        """One registration: what the applicant sent, and the decisions."""
        who = yield self.require(request, "customers.read")
        view = yield self.read(_reg_view, who.org_id, registration_id, self.now())
        return self._reg_page(request, who, view, {}, {}, DONE.get(webforms.arg(request, "done", 20), ""))

    def _reg_page(self, request: IRequest, who: Any, view: RegView, form: dict[str, str],
                  errors: dict[str, str], notice: str = "") -> bytes:
        r = view.reg
        defaults = {"product_id": str(r.product_id or view.choices.default_product or ""), "zone": r.zone or "",
                    "start": view.choices.today.isoformat(), "reason": "", "question": "",
                    "days": str(registrations.INFO_DAYS)}
        return self.render(request, "admin/queues/registration.html", who, view=view, r=r,
                           open=r.status in registrations.OPEN, form=defaults | form, errors=errors, notice=notice)

    @app.route("/registrations/<int:registration_id>/document", methods=["GET"])
    @defer.inlineCallbacks
    def registration_document(self, request: IRequest, registration_id: int) -> Generator[Any, Any, bytes]:
        """The uploaded ID document as it was sent (a download)."""
        who = yield self.require(request, "customers.read")
        found = yield self.read(registrations.document_of, who.org_id, registration_id)
        if found is None:
            raise NotFound("document of registration", registration_id)
        rel, kind, name = found
        try:
            body = uploads.read(self.deps.conf.server.data_dir, cast(int, who.org_id), rel)
        except (OSError, ValueError):
            raise NotFound("document of registration", registration_id) from None
        set_header(request, "Content-Type", kind)
        set_header(request, "Content-Disposition", 'attachment; filename="{}"'.format(name.replace('"', "")))
        set_header(request, "X-Content-Type-Options", "nosniff")
        set_header(request, "Cache-Control", "no-store")
        return body

    @defer.inlineCallbacks
    def _reg_action(self, request: IRequest, registration_id: int, fields: tuple[str, ...],
                    act: Callable[[Any, dict[str, str], Any], Any], done: str) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "registrations.write")
        self.check_csrf(request, who)
        view = yield self.read(_reg_view, who.org_id, registration_id, self.now())
        form = {k: webforms.arg(request, k, 2000) for k in fields}
        try:
            yield act(who, form, view.reg)
        except ValidationError as e:
            request.setResponseCode(400)
            field = e.field if e.field in fields else "form"
            return self._reg_page(request, who, view, form, {field: e.message})
        return self.see_other(request, self.base(request) + f"registrations/{registration_id}?done={done}")

    @app.route("/registrations/<int:registration_id>/approve", methods=["POST"])
    def registration_approve(self, request: IRequest, registration_id: int) -> Any:
        """Approve: the customer, the service of the product in the zone from the start date, its login."""
        def act(who: Any, form: dict[str, str], before: Any) -> Any:
            product_id, start = _product_id(form["product_id"]), _day(form["start"])
            return self.write(request, who, "registrations.write", registrations.approve, self.deps.login_writer,
                              who.org_id, registration_id, self.now(), product_id=product_id,
                              zone=form["zone"].strip() or None, start=start,
                              target=f"registration {registration_id}", before=before)
        return self._reg_action(request, registration_id, ("product_id", "zone", "start"), act, "approved")

    @app.route("/registrations/<int:registration_id>/reject", methods=["POST"])
    def registration_reject(self, request: IRequest, registration_id: int) -> Any:
        """Reject with a reason the applicant is told."""
        def act(who: Any, form: dict[str, str], before: Any) -> Any:
            return self.write(request, who, "registrations.write", registrations.reject, self.deps.login_writer,
                              who.org_id, registration_id, self.now(), reason=form["reason"],
                              target=f"registration {registration_id}", before=before)
        return self._reg_action(request, registration_id, ("reason",), act, "rejected")

    @app.route("/registrations/<int:registration_id>/request-info", methods=["POST"])
    def registration_info(self, request: IRequest, registration_id: int) -> Any:
        """Ask the applicant for more information: a message with a link back to the prefilled form."""
        billing = self.deps.services.get("billing")
        base = billing.notify.base_url() if billing is not None else ""
        base = base or urls.public_url(self.deps.conf.web)
        box = self.deps.box

        def ask(conn: Connection, org_id: int, question: str, now: datetime, days: int
                ) -> registrations.Registration:
            org = orgs.get(conn, org_id)
            assert org is not None

            def send(reg: registrations.Registration, token: str) -> None:
                notices.send_info_link(conn, box, reg, urls.portal_url(base, org.slug, f"register/more/{token}"),
                                       days, now)
            return registrations.request_info(conn, org_id, registration_id, question, now, days=days, send=send)

        def act(who: Any, form: dict[str, str], before: Any) -> Any:
            days = form["days"].strip() or str(registrations.INFO_DAYS)
            if not days.isdigit() or not 1 <= int(days) <= 90:
                raise ValidationError("days", "1 to 90 days")
            return self.write(request, who, "registrations.write", ask, who.org_id, form["question"], self.now(),
                              int(days), target=f"registration {registration_id}", before=before)
        return self._reg_action(request, registration_id, ("question", "days"), act, "asked")

    # -- orders ---------------------------------------------------------------------------------------------

    @app.route("/orders", methods=["GET"])
    @defer.inlineCallbacks
    def orders_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's orders, newest first, by status and method."""
        who = yield self.require(request, "customers.read")
        args = lists.ListArgs.from_request(request, filters=("status", "method"))
        status, method = args.filters.get("status"), args.filters.get("method")

        def read(conn: Connection) -> tuple[Any, dict[int, str], Callable[[int, str], str]]:
            rows: Any
            if args.csv:
                rows = _all(conn, orders.page, org_id=who.org_id, status=status, method=method)
            else:
                rows = _page(conn, orders.page, args.cursor, org_id=who.org_id, status=status, method=method)
            items = rows if isinstance(rows, list) else rows.items
            return rows, _names(conn, cast(int, who.org_id), {o.customer_id for o in items}), \
                _money(conn, cast(int, who.org_id))
        found, names, money = yield self.read(read)
        if args.csv:
            return lists.csv_body(request, "orders.csv",
                                  ["number", "status", "method", "customer_id", "customer", "items", "net", "vat",
                                   "total", "currency", "created_at", "paid_at", "approved_at", "cancelled_at"],
                                  ([o.number, o.status, o.method, o.customer_id, names.get(o.customer_id, ""),
                                    "; ".join(i.name for i in o.items), o.net, o.vat, o.total, o.currency,
                                    o.created_at.isoformat(), o.paid_at.isoformat() if o.paid_at else "",
                                    o.approved_at.isoformat() if o.approved_at else "",
                                    o.cancelled_at.isoformat() if o.cancelled_at else ""] for o in found))
        return self.render(request, "admin/queues/orders.html", who, args=args, items=found.items,
                           next_cursor=found.next_cursor, names=names, money=money, statuses=orders.STATUSES,
                           methods=orders.METHODS)

    @app.route("/orders/<int:order_id>", methods=["GET"])
    @defer.inlineCallbacks
    def order(self, request: IRequest, order_id: int) -> Generator[Any, Any, bytes]:
        """An order: its items, totals and dates; approve or cancel it."""
        who = yield self.require(request, "customers.read")
        view = yield self.read(_order_view, who.org_id, order_id, self.now())
        return self._order_page(request, who, view, {}, {}, DONE.get(webforms.arg(request, "done", 20), ""))

    def _order_page(self, request: IRequest, who: Any, view: OrderView, form: dict[str, str],
                    errors: dict[str, str], notice: str = "") -> bytes:
        defaults = {"start": view.today.isoformat(), "reason": ""}
        return self.render(request, "admin/queues/order.html", who, view=view, o=view.order, form=defaults | form,
                           errors=errors, notice=notice)

    @defer.inlineCallbacks
    def _order_action(self, request: IRequest, order_id: int, fields: tuple[str, ...],
                      act: Callable[[Any, dict[str, str], Any], Any], done: str) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "orders.write")
        self.check_csrf(request, who)
        view = yield self.read(_order_view, who.org_id, order_id, self.now())
        form = {k: webforms.arg(request, k, 500) for k in fields}
        try:
            yield act(who, form, view.order)
        except ValidationError as e:
            request.setResponseCode(400)
            return self._order_page(request, who, view, form, {e.field if e.field in fields else "form": e.message})
        return self.see_other(request, self.base(request) + f"orders/{order_id}?done={done}")

    @app.route("/orders/<int:order_id>/approve", methods=["POST"])
    def order_approve(self, request: IRequest, order_id: int) -> Any:
        """Approve with the actual start date: pending services active from it."""
        def act(who: Any, form: dict[str, str], before: Any) -> Any:
            start = _day(form["start"])
            if start is None:
                raise ValidationError("start", "the date the service starts, like 2026-12-01")
            return self.write(request, who, "orders.write", orders.approve, self.deps.login_writer, who.org_id,
                              order_id, start, self.now(), target=f"order {order_id}", before=before)
        return self._order_action(request, order_id, ("start",), act, "approved")

    @app.route("/orders/<int:order_id>/cancel", methods=["POST"])
    def order_cancel(self, request: IRequest, order_id: int) -> Any:
        """Cancel a placed, unpaid order (its pending services rejected)."""
        def act(who: Any, form: dict[str, str], before: Any) -> Any:
            return self.write(request, who, "orders.write", orders.cancel, self.deps.login_writer, who.org_id,
                              order_id, self.now(), reason=form["reason"].strip(), target=f"order {order_id}",
                              before=before)
        return self._order_action(request, order_id, ("reason",), act, "cancelled")

    # -- tickets --------------------------------------------------------------------------------------------

    @app.route("/tickets", methods=["GET"])
    @defer.inlineCallbacks
    def tickets_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's tickets, latest activity first, by status."""
        who = yield self.require(request, "customers.read")
        args = lists.ListArgs.from_request(request, filters=("status",))
        status = args.filters.get("status")

        def read(conn: Connection) -> tuple[Any, dict[int, str]]:
            if args.csv:
                rows: Any = _all(conn, tickets.page, org_id=who.org_id, status=status, sort="-updated_at")
                items = rows
            else:
                rows = _page(conn, tickets.page, args.cursor, org_id=who.org_id, status=status, sort="-updated_at")
                items = rows.items
            return rows, _names(conn, cast(int, who.org_id), {t.customer_id for t in items})
        found, names = yield self.read(read)
        if args.csv:
            return lists.csv_body(request, "tickets.csv",
                                  ["id", "status", "subject", "customer_id", "customer", "order_id", "created_at",
                                   "updated_at"],
                                  ([t.id, t.status, t.subject, t.customer_id, names.get(t.customer_id, ""),
                                    t.order_id or "", t.created_at.isoformat(), t.updated_at.isoformat()]
                                   for t in found))
        return self.render(request, "admin/queues/tickets.html", who, args=args, items=found.items,
                           next_cursor=found.next_cursor, names=names, statuses=TICKET_STATUSES)

    @app.route("/tickets/<int:ticket_id>", methods=["GET"])
    @defer.inlineCallbacks
    def ticket(self, request: IRequest, ticket_id: int) -> Generator[Any, Any, bytes]:
        """A ticket's thread, oldest message first, with the reply form."""
        who = yield self.require(request, "customers.read")
        view = yield self.read(_ticket_view, who.org_id, ticket_id)
        return self.render(request, "admin/queues/ticket.html", who, view=view, t=view.thread.ticket,
                           form={"body": ""}, errors={}, notice=DONE.get(webforms.arg(request, "done", 20), ""))

    @app.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
    @defer.inlineCallbacks
    def ticket_reply(self, request: IRequest, ticket_id: int) -> Generator[Any, Any, bytes]:
        """An admin's reply (the ticket is answered; a closed one opens again; the customer is told)."""
        who = yield self.require(request, "tickets.write")
        self.check_csrf(request, who)
        view = yield self.read(_ticket_view, who.org_id, ticket_id)
        body = webforms.arg(request, "body", tickets.BODY_MAX + 100)
        try:
            yield self.write(request, who, "tickets.write", tickets.reply, who.org_id, ticket_id, "admin", body,
                             self.now(), author_name=who.account.name or who.account.email,
                             target=f"ticket {ticket_id}", before=view.thread.ticket,
                             after=lambda th: {"status": th.ticket.status, "messages": len(th.messages)})
        except ValidationError as e:
            request.setResponseCode(400)
            return self.render(request, "admin/queues/ticket.html", who, view=view, t=view.thread.ticket,
                               form={"body": body}, errors={e.field if e.field == "body" else "form": e.message},
                               notice="")
        return self.see_other(request, self.base(request) + f"tickets/{ticket_id}?done=replied")

    @app.route("/tickets/<int:ticket_id>/close", methods=["POST"])
    @defer.inlineCallbacks
    def ticket_close(self, request: IRequest, ticket_id: int) -> Generator[Any, Any, bytes]:
        """Close the ticket (either side writing again opens it)."""
        who = yield self.require(request, "tickets.write")
        self.check_csrf(request, who)
        view = yield self.read(_ticket_view, who.org_id, ticket_id)
        yield self.write(request, who, "tickets.write", tickets.close, who.org_id, ticket_id, self.now(),
                         target=f"ticket {ticket_id}", before=view.thread.ticket)
        return self.see_other(request, self.base(request) + f"tickets/{ticket_id}?done=closed")
