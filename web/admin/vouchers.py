"""/admin/vouchers: hotspot vouchers — packages, batches of printed cards, looking a voucher up.

    vouchers                          every voucher (``?state=``, ``?batch=``, ``?package=``; CSV without
                                      passwords); ``?code=`` looks one up and opens it
    vouchers/<id>                     a voucher: state, limits, what is left, its history; revoke
    vouchers/<id>.pdf                 its card (one voucher sold at the counter, printed for the customer)
    vouchers/sell                     sell one at the counter to a customer found by username, e-mail, phone
                                      or id (``vouchers.sell``, as the API's POST /vouchers/sell)
    vouchers/packages                 the packages (``?active=``; CSV); add, change, retire, sell again
    vouchers/packages/new             the form to add one
    vouchers/packages/<id>            the form to change one
    vouchers/batches                  the batches (``?package=``, ``?revoked=``; CSV); generate one
    vouchers/batches/new              the form to generate a batch
    vouchers/batches/<id>             its vouchers with their states; the cards (``.pdf``, the API's bytes), the
                                      codes and passwords (``.csv``); revoke it

Reading needs ``vouchers.read``; adding, changing, generating and revoking ``vouchers.write`` (as the
API's ``vouchers`` area).  Every page calls :mod:`billing.vouchers` as ``web/api/resources/vouchers.py``
does; the forms only turn what people type (an amount, minutes, megabytes, a local time) into the domain's
units.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import paging
from aaad.errors import NotFound, ValidationError
from aaad.view import store as view_store
from billing import money, payments, settings, voucher_sales
from billing.vouchers import batches, cards, packages, vouchers
from web import forms as webforms
from web.admin import lists
from web.admin.section import Nav, Section
from web.api.resources.vouchers import MAX_BATCH

PAGE = 50
MB = 10**6
#: The package form's fields (text) and boxes (checkboxes).
PACKAGE_FIELDS = ("name", "price", "profile_id", "rate_limit", "time_limit", "data_limit", "validity_hours",
                  "expires_at", "shared_users", "code_length", "prefix")
PACKAGE_BOXES = ("bind_mac", "code_only", "on_portal")
FORM_FIELDS = PACKAGE_FIELDS + PACKAGE_BOXES
BATCH_FIELDS = ("package_id", "count", "note", "code_length", "prefix")


# -- reads ------------------------------------------------------------------------------------------------

def _page(conn: Connection, fn: Callable[..., paging.Page[Any]], cursor: str | None, *args: Any,
          **kw: Any) -> paging.Page[Any]:
    """One page of a domain list (a cursor the list did not give out: the first page)."""
    return lists.paged(fn, conn, *args, cursor=cursor, **kw)


def _all(conn: Connection, fn: Callable[..., paging.Page[Any]], *args: Any, **kw: Any) -> list[Any]:
    """Every row of a domain list, for a CSV download."""
    return list(lists.every(fn, conn, *args, **kw))


@dataclass(frozen=True)
class Money:
    """The org's currency, time zone and the profiles a package may use."""
    currency: str
    timezone: str
    profiles: list[tuple[str, str]]


def _money(conn: Connection, org_id: int) -> Money:
    st = settings.get(conn, org_id)
    profs = [(str(p.id), p.name + (f" ({p.rate_limit})" if p.rate_limit else ""))
             for p in view_store.list_profiles(conn, org_id)]
    return Money(st.currency, st.timezone, profs)


def _package_view(conn: Connection, org_id: int, package_id: int) -> tuple[packages.Package, Money]:
    return packages.require(conn, org_id, package_id), _money(conn, org_id)


def _batch_view(conn: Connection, org_id: int, batch_id: int, cursor: str | None, now: datetime
                ) -> tuple[batches.Batch, paging.Page[vouchers.Voucher]]:
    b = batches.require(conn, org_id, batch_id)
    return b, _page(conn, vouchers.page, cursor, org_id, now, batch_id=batch_id)


SALE_FIELDS = ("customer", "package_id", "method", "reference")
SALE_METHODS = [("cash", "Cash"), ("mobile_money", "Mobile money"), ("card", "Card"), ("bank", "Bank transfer")]


def _active_packages(conn: Connection, org_id: int) -> list[tuple[str, str]]:
    return [(str(p.id), f"{p.name} ({p.price_text})") for p in packages.list_packages(conn, org_id, active=True)]


def _pdf(conn: Connection, box: Any, org_id: int, batch_id: int) -> bytes:
    return cards.batch_pdf(conn, box, org_id, batch_id)


# -- what people type, in the domain's units --------------------------------------------------------------

def _whole(form: dict[str, str], field: str, lo: int, hi: int, what: str) -> int | None:
    t = form.get(field, "").strip()
    if not t:
        return None
    if not t.isdigit() or not lo <= int(t) <= hi:
        raise ValidationError(field, f"{what}: a whole number from {lo} to {hi}")
    return int(t)


def package_values(form: dict[str, str], boxes: set[str], m: Money, adding: bool) -> dict[str, Any]:
    """The package form as :func:`billing.vouchers.packages.add`/``update`` take it (ValidationError naming
    the form's field)."""
    v: dict[str, Any] = {"name": form.get("name", "").strip()}
    if not v["name"]:
        raise ValidationError("name", "Give the package a name, e.g. 1 hour.")
    price = form.get("price", "").strip()
    if not price:
        raise ValidationError("price", f"The price in {m.currency}, e.g. 1.00 (0 for free).")
    v["price"] = money.parse_amount(price, m.currency, "price")
    v["profile_id"] = _whole(form, "profile_id", 1, 2**31 - 1, "a profile")
    if adding:
        rate = form.get("rate_limit", "").strip()
        v["rate_limit"] = rate or None
    minutes = _whole(form, "time_limit", 1, 2**31 // 60, "minutes")
    v["time_limit"] = None if minutes is None else minutes * 60
    mbs = _whole(form, "data_limit", 1, 2**62 // MB, "megabytes")
    v["data_limit"] = None if mbs is None else mbs * MB
    v["validity_hours"] = _whole(form, "validity_hours", 1, 24 * 3650, "hours")
    exp = form.get("expires_at", "").strip()
    if exp:
        try:
            local = datetime.fromisoformat(exp)
        except ValueError:
            raise ValidationError("expires_at", "a date and time like 2026-12-31T23:59") from None
        v["expires_at"] = local.replace(tzinfo=ZoneInfo(m.timezone)) if local.tzinfo is None else local
    else:
        v["expires_at"] = None
    v["shared_users"] = _whole(form, "shared_users", 1, 100, "devices") or 1
    v["code_length"] = _whole(form, "code_length", packages.MIN_CODE, packages.MAX_CODE, "characters") or 8
    v["prefix"] = form.get("prefix", "").strip()
    for b in PACKAGE_BOXES:
        v[b] = b in boxes
    return v


def package_form(p: packages.Package, timezone: str) -> tuple[dict[str, str], set[str]]:
    """A package as its form shows it."""
    exp = p.expires_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M") if p.expires_at else ""
    form = {"name": p.name, "price": money.format_amount(p.price, p.currency),
            "profile_id": str(p.profile_id or ""), "rate_limit": "",
            "time_limit": str(p.time_limit // 60) if p.time_limit else "",
            "data_limit": str(p.data_limit // MB) if p.data_limit else "",
            "validity_hours": str(p.validity_hours or ""), "expires_at": exp, "shared_users": str(p.shared_users),
            "code_length": str(p.code_length), "prefix": p.prefix}
    return form, {b for b in PACKAGE_BOXES if getattr(p, b)}


def _boxes(request: IRequest) -> set[str]:
    return {b for b in PACKAGE_BOXES if webforms.arg(request, b, 10)}


def _int_filter(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _bool_filter(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


class Vouchers(Section):
    """Voucher packages, batches and vouchers."""

    app = Klein()
    paths = ("vouchers",)
    nav = (Nav("vouchers", "Vouchers", "vouchers.read"),)
    lists = frozenset({"vouchers"})

    # -- vouchers -------------------------------------------------------------------------------------------

    @app.route("/vouchers", methods=["GET"])
    @defer.inlineCallbacks
    def vouchers_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Every voucher, by state, batch or package; ``?code=`` opens the voucher with that code."""
        who = yield self.require(request, "vouchers.read")
        code = webforms.arg(request, "code", 60).strip()
        if code:
            v = yield self.read(vouchers.by_code, who.org_id, code, self.now())
            if v is not None:
                return self.see_other(request, self.base(request) + f"vouchers/{v.id}")
        args = lists.ListArgs.from_request(request, filters=("state", "batch", "package", "customer", "sold_since"))
        f = args.filters
        state = f.get("state") if f.get("state") in vouchers.STATES else None
        errors: dict[str, str] = {}
        try:
            since = lists.instant(f.get("sold_since", ""), "sold_since")
        except ValidationError as e:
            since, errors["sold_since"] = None, e.message
        kw = {"batch_id": _int_filter(f.get("batch")), "package_id": _int_filter(f.get("package")), "state": state,
              "customer_id": _int_filter(f.get("customer")), "sold_since": since}
        if args.csv:
            rows = yield self.read(_all, vouchers.page, who.org_id, self.now(), **kw)
            return lists.csv_body(request, "vouchers.csv",
                                  ["id", "code", "package", "batch", "state", "price", "currency", "customer_id",
                                   "created_at", "sold_at", "first_used_at", "expires_at", "time_used",
                                   "octets_used"],
                                  ([v.id, v.code, v.package_name, v.batch_id or "", v.state,
                                    money.format_amount(v.price, v.currency), v.currency, v.customer_id or "",
                                    v.created_at.isoformat(), v.sold_at.isoformat() if v.sold_at else "",
                                    v.first_used_at.isoformat() if v.first_used_at else "",
                                    v.expires_at.isoformat() if v.expires_at else "", v.time_used, v.octets_used]
                                   for v in rows))
        found = yield self.read(_page, vouchers.page, args.cursor, who.org_id, self.now(), **kw)
        pkgs = yield self.read(packages.list_packages, who.org_id)
        return self.render(request, "admin/vouchers/vouchers.html", who, args=args, items=found.items,
                           next_cursor=found.next_cursor, code=code, states=vouchers.STATES, errors=errors,
                           packages=[(str(p.id), p.name) for p in pkgs])

    @app.route("/vouchers/<int:voucher_id>", methods=["GET"])
    @defer.inlineCallbacks
    def voucher(self, request: IRequest, voucher_id: int) -> Generator[Any, Any, bytes]:
        """A voucher: its state, what is left, and what happened to it."""
        who = yield self.require(request, "vouchers.read")
        h = yield self.read(vouchers.history, who.org_id, voucher_id, self.now())
        return self.render(request, "admin/vouchers/voucher.html", who, h=h, v=h.voucher,
                           done=webforms.arg(request, "done", 20))

    # -- a counter sale --------------------------------------------------------------------------------------

    def _sell_form(self, request: IRequest, who: Any, options: list[tuple[str, str]], form: dict[str, str],
                   errors: dict[str, str], sold: Any = None, customer_id: int | None = None) -> bytes:
        return self.render(request, "admin/vouchers/sell.html", who, options=options, form=form, errors=errors,
                           methods=SALE_METHODS, sold=sold, customer_id=customer_id)

    @app.route("/vouchers/sell", methods=["GET"])
    @defer.inlineCallbacks
    def sell_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The form to sell a voucher at the counter (``?customer=`` filled in already)."""
        who = yield self.require(request, "vouchers.sell")
        options = yield self.read(_active_packages, who.org_id)
        form = {"customer": webforms.arg(request, "customer", 200), "package_id": webforms.arg(request, "package", 12),
                "method": "cash", "reference": ""}
        return self._sell_form(request, who, options, form, {})

    @app.route("/vouchers/sell", methods=["POST"])
    @defer.inlineCallbacks
    def sell(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Sell a voucher paid at the counter to the customer typed (username, e-mail, phone or id): the page
        again with its code and password, shown this once, and its card.  The same method and reference
        again shows the same voucher."""
        who = yield self.require(request, "vouchers.sell")
        self.check_csrf(request, who)
        form = {k: webforms.arg(request, k, 200).strip() for k in SALE_FIELDS}
        try:
            if not form["customer"]:
                raise ValidationError("customer", "Type the customer's username, e-mail, phone or number.")
            try:
                customer_id = yield self.read(payments.customer_ref, who.org_id, form["customer"])
            except NotFound:
                raise ValidationError("customer", f"No customer {form['customer']!r}: search under Customers.") \
                    from None
            package_id = _whole(form, "package_id", 1, 2**31 - 1, "a package")
            if package_id is None:
                raise ValidationError("package_id", "Choose the voucher package.")
            if not form["reference"]:
                raise ValidationError("reference", "Type the receipt-book number or the mobile-money transaction "
                                                   "id.")
            v = yield self.write(request, who, "vouchers.sell", voucher_sales.sell_at_counter, self.deps.login_writer,
                                 who.org_id, package_id, customer_id, self.now(), method=form["method"],
                                 reference=form["reference"], target=f"customer {customer_id}")
        except ValidationError as e:
            request.setResponseCode(400)
            options = yield self.read(_active_packages, who.org_id)
            field = {"customer_id": "customer"}.get(e.field, e.field)
            return self._sell_form(request, who, options, form, {field if field in SALE_FIELDS else "form": e.message})
        options = yield self.read(_active_packages, who.org_id)
        fresh = {"customer": "", "package_id": form["package_id"], "method": form["method"], "reference": ""}
        return self._sell_form(request, who, options, fresh, {}, sold=v, customer_id=customer_id)

    @app.route("/vouchers/<int:voucher_id>.pdf", methods=["GET"])
    @defer.inlineCallbacks
    def voucher_pdf(self, request: IRequest, voucher_id: int) -> Generator[Any, Any, bytes]:
        """One voucher's printable card (a voucher sold at the counter): the batch cards' layout, one card."""
        who = yield self.require(request, "vouchers.read")
        body = yield self.read(cards.voucher_pdf, self.deps.box, who.org_id, voucher_id)
        return self.download(request, cast(bytes, body), "application/pdf", f"voucher-{voucher_id}.pdf", inline=True)

    @app.route("/vouchers/<int:voucher_id>/revoke", methods=["POST"])
    @defer.inlineCallbacks
    def voucher_revoke(self, request: IRequest, voucher_id: int) -> Generator[Any, Any, bytes]:
        """Revoke one voucher: its login is rejected and a running session disconnected."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        before = yield self.read(vouchers.require, who.org_id, voucher_id, self.now())
        yield self.write(request, who, "vouchers.write", vouchers.revoke, self.deps.login_writer, who.org_id,
                         voucher_id, self.now(), target=f"voucher {voucher_id}", before=before)
        return self.see_other(request, self.base(request) + f"vouchers/{voucher_id}?done=revoked")

    # -- packages -------------------------------------------------------------------------------------------

    @app.route("/vouchers/packages", methods=["GET"])
    @defer.inlineCallbacks
    def packages_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The packages in the order they were added; ``?active=yes|no``."""
        who = yield self.require(request, "vouchers.read")
        args = lists.ListArgs.from_request(request, filters=("active",))
        active = _bool_filter(args.filters.get("active"))
        if args.csv:
            rows = yield self.read(_all, packages.page, who.org_id, active=active)
            return lists.csv_body(request, "voucher-packages.csv",
                                  ["id", "name", "price", "currency", "rate_limit", "time_limit_seconds",
                                   "data_limit_octets", "validity_hours", "expires_at", "shared_users", "bind_mac",
                                   "code_only", "code_length", "prefix", "on_portal", "active"],
                                  ([p.id, p.name, money.format_amount(p.price, p.currency), p.currency,
                                    p.rate_limit or "", p.time_limit or "", p.data_limit or "",
                                    p.validity_hours or "", p.expires_at.isoformat() if p.expires_at else "",
                                    p.shared_users, p.bind_mac, p.code_only, p.code_length, p.prefix, p.on_portal,
                                    p.active] for p in rows))
        found = yield self.read(_page, packages.page, args.cursor, who.org_id, active=active)
        return self.render(request, "admin/vouchers/packages.html", who, args=args, items=found.items,
                           next_cursor=found.next_cursor, done=webforms.arg(request, "done", 20))

    def _package_page(self, request: IRequest, who: Any, m: Money, p: packages.Package | None,
                      form: dict[str, str], boxes: set[str], errors: dict[str, str]) -> bytes:
        return self.render(request, "admin/vouchers/package.html", who, p=p, form=form, boxes=boxes,
                           errors=errors, profiles=m.profiles, currency=m.currency, timezone=m.timezone,
                           min_code=packages.MIN_CODE, max_code=packages.MAX_CODE)

    @app.route("/vouchers/packages/new", methods=["GET"])
    @defer.inlineCallbacks
    def package_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The form to add a package."""
        who = yield self.require(request, "vouchers.write")
        m = yield self.read(_money, who.org_id)
        form = {k: "" for k in PACKAGE_FIELDS} | {"shared_users": "1", "code_length": "8"}
        return self._package_page(request, who, m, None, form, {"on_portal"}, {})

    @app.route("/vouchers/packages", methods=["POST"])
    @defer.inlineCallbacks
    def package_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a package (its speed: a profile, or a rate limit that makes one)."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        m = yield self.read(_money, who.org_id)
        form = {k: webforms.arg(request, k, 200) for k in PACKAGE_FIELDS}
        boxes = _boxes(request)
        try:
            values = package_values(form, boxes, m, adding=True)
            p = yield self.write(request, who, "vouchers.write", packages.add, self.deps.login_writer, who.org_id,
                                 self.now(), target="voucher package", **values)
        except ValidationError as e:
            request.setResponseCode(400)
            return self._package_page(request, who, m, None, form, boxes, {_field(e, FORM_FIELDS): e.message})
        return self.see_other(request, self.base(request) + f"vouchers/packages?done=added-{p.id}")

    @app.route("/vouchers/packages/<int:package_id>", methods=["GET"])
    @defer.inlineCallbacks
    def package_edit(self, request: IRequest, package_id: int) -> Generator[Any, Any, bytes]:
        """A package's form, filled in."""
        who = yield self.require(request, "vouchers.read")
        p, m = yield self.read(_package_view, who.org_id, package_id)
        form, boxes = package_form(p, m.timezone)
        return self._package_page(request, who, m, p, form, boxes, {})

    @app.route("/vouchers/packages/<int:package_id>", methods=["POST"])
    @defer.inlineCallbacks
    def package_update(self, request: IRequest, package_id: int) -> Generator[Any, Any, bytes]:
        """Change a package (vouchers made from now on get the new values)."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        p, m = yield self.read(_package_view, who.org_id, package_id)
        form = {k: webforms.arg(request, k, 200) for k in PACKAGE_FIELDS}
        boxes = _boxes(request)
        try:
            values = package_values(form, boxes, m, adding=False)
            yield self.write(request, who, "vouchers.write", packages.update, who.org_id, package_id, self.now(),
                             target=f"voucher package {package_id}", before=p, **values)
        except ValidationError as e:
            request.setResponseCode(400)
            return self._package_page(request, who, m, p, form, boxes, {_field(e, FORM_FIELDS): e.message})
        return self.see_other(request, self.base(request) + f"vouchers/packages?done=changed-{package_id}")

    @app.route("/vouchers/packages/<int:package_id>/<any(retire, reinstate):action>", methods=["POST"])
    @defer.inlineCallbacks
    def package_retire(self, request: IRequest, package_id: int, action: str) -> Generator[Any, Any, bytes]:
        """Retire a package (no new vouchers, not sold on the portal) or sell it again."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        p, _ = yield self.read(_package_view, who.org_id, package_id)
        yield self.write(request, who, "vouchers.write", packages.update, who.org_id, package_id, self.now(),
                         active=action == "reinstate", target=f"voucher package {package_id}", before=p)
        return self.see_other(request, self.base(request) + f"vouchers/packages?done={action}d-{package_id}")

    # -- batches --------------------------------------------------------------------------------------------

    @app.route("/vouchers/batches", methods=["GET"])
    @defer.inlineCallbacks
    def batches_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The batches, newest first; ``?package=`` one package's, ``?revoked=yes|no``."""
        who = yield self.require(request, "vouchers.read")
        args = lists.ListArgs.from_request(request, filters=("package", "revoked"))
        kw = {"package_id": _int_filter(args.filters.get("package")),
              "revoked": _bool_filter(args.filters.get("revoked"))}
        if args.csv:
            rows = yield self.read(_all, batches.page, who.org_id, **kw)
            return lists.csv_body(request, "voucher-batches.csv",
                                  ["id", "package_id", "package", "count", "note", "created_at", "revoked_at"],
                                  ([b.id, b.package_id, b.package_name, b.count, b.note, b.created_at.isoformat(),
                                    b.revoked_at.isoformat() if b.revoked_at else ""] for b in rows))
        found = yield self.read(_page, batches.page, args.cursor, who.org_id, **kw)
        pkgs = yield self.read(packages.list_packages, who.org_id)
        return self.render(request, "admin/vouchers/batches.html", who, args=args, items=found.items,
                           next_cursor=found.next_cursor, packages=[(str(p.id), p.name) for p in pkgs])

    def _batch_form(self, request: IRequest, who: Any, options: list[tuple[str, str]], form: dict[str, str],
                    errors: dict[str, str]) -> bytes:
        return self.render(request, "admin/vouchers/batch_new.html", who, options=options, form=form,
                           errors=errors, max_count=MAX_BATCH, min_code=packages.MIN_CODE,
                           max_code=packages.MAX_CODE)

    @app.route("/vouchers/batches/new", methods=["GET"])
    @defer.inlineCallbacks
    def batch_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The form to generate a batch (``?package=`` chosen already)."""
        who = yield self.require(request, "vouchers.write")
        options = yield self.read(_active_packages, who.org_id)
        form = {k: "" for k in BATCH_FIELDS} | {"package_id": webforms.arg(request, "package", 12), "count": "20"}
        return self._batch_form(request, who, options, form, {})

    @app.route("/vouchers/batches", methods=["POST"])
    @defer.inlineCallbacks
    def batch_create(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Generate the vouchers of a batch, each with its login (unused until its first login)."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        form = {k: webforms.arg(request, k, 600) for k in BATCH_FIELDS}
        try:
            package_id = _whole(form, "package_id", 1, 2**31 - 1, "a package")
            if package_id is None:
                raise ValidationError("package_id", "Choose the package of the vouchers.")
            count = _whole(form, "count", 1, MAX_BATCH, "vouchers")
            if count is None:
                raise ValidationError("count", f"How many vouchers: 1 to {MAX_BATCH}.")
            length = _whole(form, "code_length", packages.MIN_CODE, packages.MAX_CODE, "characters")
            b = yield self.write(request, who, "vouchers.write", batches.create, self.deps.login_writer, who.org_id,
                                 package_id, count, self.now(), note=form["note"].strip(), code_length=length,
                                 prefix=form["prefix"].strip() or None, target="voucher batch")
        except ValidationError as e:
            request.setResponseCode(400)
            options = yield self.read(_active_packages, who.org_id)
            return self._batch_form(request, who, options, form, {_field(e, BATCH_FIELDS): e.message})
        return self.see_other(request, self.base(request) + f"vouchers/batches/{b.id}?done=generated")

    @app.route("/vouchers/batches/<int:batch_id>", methods=["GET"])
    @defer.inlineCallbacks
    def batch(self, request: IRequest, batch_id: int) -> Generator[Any, Any, bytes]:
        """A batch: its vouchers with their states, its cards and codes, revoking it."""
        who = yield self.require(request, "vouchers.read")
        args = lists.ListArgs.from_request(request, filters=())
        b, found = yield self.read(_batch_view, who.org_id, batch_id, args.cursor, self.now())
        return self.render(request, "admin/vouchers/batch.html", who, b=b, args=args, items=found.items,
                           next_cursor=found.next_cursor, done=webforms.arg(request, "done", 20))

    @app.route("/vouchers/batches/<int:batch_id>.pdf", methods=["GET"])
    @defer.inlineCallbacks
    def batch_pdf(self, request: IRequest, batch_id: int) -> Generator[Any, Any, bytes]:
        """The batch's printable cards: the same PDF the API serves."""
        who = yield self.require(request, "vouchers.read")
        body = yield self.read(_pdf, self.deps.box, who.org_id, batch_id)
        return self.download(request, cast(bytes, body), "application/pdf", f"vouchers-{batch_id}.pdf", inline=True)

    @app.route("/vouchers/batches/<int:batch_id>.csv", methods=["GET"])
    @defer.inlineCallbacks
    def batch_csv(self, request: IRequest, batch_id: int) -> Generator[Any, Any, bytes]:
        """The batch's codes and passwords as CSV: the same file the API serves."""
        who = yield self.require(request, "vouchers.read")
        text = yield self.read(cards.batch_csv, self.deps.box, who.org_id, batch_id, self.now())
        return self.download(request, cast(str, text).encode("utf-8"), "text/csv; charset=utf-8",
                             f"vouchers-{batch_id}.csv")

    @app.route("/vouchers/batches/<int:batch_id>/revoke", methods=["POST"])
    @defer.inlineCallbacks
    def batch_revoke(self, request: IRequest, batch_id: int) -> Generator[Any, Any, bytes]:
        """Revoke every voucher of the batch."""
        who = yield self.require(request, "vouchers.write")
        self.check_csrf(request, who)
        before = yield self.read(batches.require, who.org_id, batch_id)
        yield self.write(request, who, "vouchers.write", batches.revoke, self.deps.login_writer, who.org_id,
                         batch_id, self.now(), target=f"voucher batch {batch_id}", before=before)
        return self.see_other(request, self.base(request) + f"vouchers/batches/{batch_id}?done=revoked")


def _field(e: ValidationError, fields: tuple[str, ...]) -> str:
    """The form field a domain error names ('form' when it names none of them)."""
    return e.field if e.field in fields else "form"
