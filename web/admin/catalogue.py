"""/admin/products and /admin/profiles: the catalogue an org sells and the RADIUS profiles its logins get.

    /products                      the products (filter: sold or retired, type, part of the name), CSV
    /products/new                  add a product (catalogue.write)
    /products/<id>                 a product: price, period, VAT, its RADIUS profile and FUP tiers
    /products/<id>/edit            change it (catalogue.write); "still sold" unticked retires it
    /products/<id>/tiers           add a FUP tier to its profile (POST; network.write, as PATCH /profiles)
    /products/<id>/tiers/remove    remove one (POST)
    /profiles                      the RADIUS profiles (network.read), CSV
    /profiles/new                  add one (network.write)
    /profiles/<id>                 a profile and its form; POST changes it
    /profiles/<id>/tiers[/remove]  its FUP tiers

Every read and write goes through the functions the API's /products and /profiles use
(:mod:`billing.catalogue`, :mod:`aaad.view.store`, the LoginWriter); a price is typed as a person
writes it (25.00) and a size as aaad's profiles take it (100G).
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import fup
from aaad.errors import NotFound, ValidationError
from aaad.view import store
from aaad.view.model import Profile
from billing import catalogue, documents, money, settings
from billing.schema import PERIODS, PRODUCT_TYPES
from web import forms
from web.admin.lists import ListArgs, csv_body, every, paged
from web.admin.section import Nav, Section

TYPE_LABELS = {"internet": "Internet", "voice": "Voice", "bundle": "Bundle", "recurring": "Recurring charge",
               "one_time": "One-time charge"}
PERIOD_LABELS = {"monthly": "Monthly", "days": "Every N days (prepaid)", "daily": "Daily", "once": "Once"}
PROFILE_TEXT = ("rate_limit", "fup_rate_limit", "pool", "address_list")
PROFILE_SECONDS = ("session_timeout", "interim_interval")


class Form:
    """A posted form: what was typed (kept to show back) and the message of each bad field."""

    def __init__(self, request: IRequest, names: tuple[str, ...], limit: int = 200):
        self.request = request
        self.typed = {n: forms.arg(request, n, limit).strip() for n in names}
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str | None:
        return self.typed.get(name) or None

    def ticked(self, name: str) -> bool:
        return bool(forms.arg(self.request, name, 10))

    def _parse(self, name: str, fn: Callable[[str], Any]) -> Any:
        t = self.typed.get(name, "")
        if not t:
            return None
        try:
            return fn(t)
        except ValidationError as e:
            self.errors[name] = e.message
            return None

    def amount(self, name: str, currency: str) -> int | None:
        return self._parse(name, lambda t: money.parse_amount(t, currency, name))

    def size(self, name: str) -> int | None:
        return self._parse(name, lambda t: fup.parse_size(t, name))

    def seconds(self, name: str) -> int | None:
        def whole(t: str) -> int:
            if not t.isdigit() or int(t) < 1 or int(t) > 2**31 - 1:
                raise ValidationError(name, "a whole number of seconds greater than 0")
            return int(t)
        return self._parse(name, whole)

    def require(self, name: str, message: str) -> None:
        if not self.typed.get(name) and name not in self.errors:
            self.errors[name] = message


def tiers_text(p: Profile | None) -> str:
    return " ".join(str(t) for t in p.fup_tiers) if p is not None else ""


def _tier_change(conn: Connection, writer: Any, org_id: int, profile_id: int, now: Any, *,
                 add: fup.Tier | None = None, remove: int | None = None) -> Profile:
    """The profile with one FUP tier added or removed (the API's PATCH /profiles replaces them all)."""
    p = store.get_profile(conn, org_id, profile_id)
    if p is None:
        raise NotFound("profile", profile_id)
    tiers = fup.with_tier(p.fup_tiers, add) if add is not None else p.fup_tiers
    tiers = fup.without_tier(tiers, remove) if remove is not None else tiers
    result: Profile = writer.update_profile(conn, org_id, profile_id, now, fup_tiers=list(tiers))
    return result


def _parse_tier(form: Form) -> fup.Tier | None:
    after = form.size("after")
    form.require("after", "Type the data used before this rate applies, e.g. 100G.")
    rate = form.text("rate_limit")
    if rate is None:
        form.errors["rate_limit"] = "Type the rate limit from then on, e.g. 5M/5M."
    else:
        try:
            fup.check_rate_limit("rate_limit", rate)
        except ValidationError as e:
            form.errors["rate_limit"] = e.message
    if form.errors or after is None or rate is None:
        return None
    return fup.Tier(after, rate)


# -- reads ------------------------------------------------------------------------------------------


def _product_page(conn: Connection, org_id: int, product_id: int) -> tuple[catalogue.Product, Profile | None,
                                                                           settings.Settings]:
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None:
        raise NotFound("product", product_id)
    prof = store.get_profile(conn, org_id, p.profile_id) if p.profile_id is not None else None
    return p, prof, settings.get(conn, org_id)


def _products(conn: Connection, org_id: int, filters: dict[str, Any], cursor: str | None,
              csv: bool) -> tuple[Any, dict[int, Profile], settings.Settings]:
    s = settings.get(conn, org_id)
    profs = {p.id: p for p in store.list_profiles(conn, org_id)}
    if csv:
        return list(every(catalogue.page, conn, org_id, sort="name", **filters)), profs, s
    return paged(catalogue.page, conn, org_id, cursor=cursor, sort="name", **filters), profs, s


def _product_filters(args: ListArgs) -> dict[str, Any]:
    f = args.filters
    out: dict[str, Any] = {}
    if f.get("state") in ("active", "retired"):
        out["active"] = f["state"] == "active"
    if f.get("type") in PRODUCT_TYPES:
        out["type"] = f["type"]
    if f.get("q"):
        out["q"] = f["q"][:100]
    return out


class Catalogue(Section):
    """Products and RADIUS profiles."""

    app = Klein()
    paths = ("products", "profiles")
    nav = (Nav("products", "Products", "catalogue.read"), Nav("profiles", "RADIUS profiles", "network.read"))

    # -- products -------------------------------------------------------------------------------

    @app.route("/products", methods=["GET"])
    @defer.inlineCallbacks
    def products(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The catalogue, filtered; ``?format=csv`` every matching product."""
        who = yield self.require(request, "catalogue.read")
        args = ListArgs.from_request(request, filters=("state", "type", "q"))
        found, profs, s = yield self.read(_products, who.org_id, _product_filters(args), args.cursor, args.csv)
        if args.csv:
            return csv_body(request, "products",
                            ["id", "name", "type", "price", "setup_fee", "currency", "period", "period_days",
                             "taxable", "on_portal", "zones", "active", "data_cap", "rate_limit", "fup_tiers"],
                            ([p.id, p.name, p.type, money.format_amount(p.price, s.currency),
                              money.format_amount(p.setup_fee, s.currency), s.currency, p.period,
                              p.period_days or "", "yes" if p.taxable else "no", "yes" if p.on_portal else "no",
                              " ".join(p.zones), "yes" if p.active else "no",
                              fup.format_size(p.data_cap) if p.data_cap is not None else "",
                              (profs[p.profile_id].rate_limit or "") if p.profile_id in profs else "",
                              tiers_text(profs.get(p.profile_id) if p.profile_id is not None else None)]
                             for p in found))
        return self.render(request, "admin/catalogue/products.html", who, products=found.items, profiles=profs,
                           args=args, next_cursor=found.next_cursor, types=TYPE_LABELS, periods=PERIOD_LABELS,
                           money=self._money(s), size=fup.format_size)

    def _money(self, s: settings.Settings) -> Callable[[int], str]:
        return lambda minor: documents.format_money(minor, s.currency, s.locale)

    @app.route("/products/<int:product_id>", methods=["GET"])
    @defer.inlineCallbacks
    def product(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """A product with its RADIUS profile and FUP tiers."""
        who = yield self.require(request, "catalogue.read")
        page = yield self._product(request, who, product_id, {}, {})
        return page

    @defer.inlineCallbacks
    def _product(self, request: IRequest, who: Any, product_id: int, tier: dict[str, str],
                 errors: dict[str, str], notice: str = "") -> Generator[Any, Any, bytes]:
        p, prof, s = yield self.read(_product_page, who.org_id, product_id)
        return self.render(request, "admin/catalogue/product.html", who, product=p, profile=prof, settings=s,
                           types=TYPE_LABELS, periods=PERIOD_LABELS, money=self._money(s), size=fup.format_size,
                           tier=tier, tier_errors=errors, notice=notice)

    @app.route("/products/new", methods=["GET"])
    @defer.inlineCallbacks
    def product_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The form for a new product."""
        who = yield self.require(request, "catalogue.write")
        s = yield self.read(settings.get, who.org_id)
        typed = {"type": "internet", "period": "monthly", "taxable": "1", "on_portal": "1", "active": "1"}
        return self._product_form(request, who, s, None, typed, {})

    def _product_form(self, request: IRequest, who: Any, s: settings.Settings, product: catalogue.Product | None,
                      typed: dict[str, str], errors: dict[str, str]) -> bytes:
        return self.render(request, "admin/catalogue/product_form.html", who, product=product, form=typed,
                           errors=errors, settings=s, types=list(TYPE_LABELS.items()),
                           periods=[(p, PERIOD_LABELS[p]) for p in PERIODS])

    def _read_product(self, request: IRequest, s: settings.Settings, adding: bool) -> tuple[Form, dict[str, Any]]:
        names = ("name", "type", "price", "setup_fee", "period", "period_days", "zones", "data_cap",
                 *PROFILE_TEXT, *PROFILE_SECONDS)
        form = Form(request, names)
        for box in ("taxable", "on_portal", "active"):
            form.typed[box] = "1" if form.ticked(box) else ""
        values: dict[str, Any] = {
            "name": form.typed["name"], "price": form.amount("price", s.currency),
            "setup_fee": form.amount("setup_fee", s.currency) or 0, "period": form.text("period"),
            "taxable": form.ticked("taxable"), "on_portal": form.ticked("on_portal"),
            "zones": [z.strip() for z in form.typed["zones"].split(",") if z.strip()],
            "active": form.ticked("active"), "data_cap": form.size("data_cap")}
        form.require("name", "Type the product's name.")
        form.require("price", "Type the price per period, e.g. 25.00 (0 for free).")
        pd = form.typed["period_days"]
        if pd:
            if pd.isdigit() and 1 <= int(pd) <= 3660:
                values["period_days"] = int(pd)
            else:
                form.errors["period_days"] = "A whole number of days, 1 to 3660."
        else:
            values["period_days"] = None
        kind = form.typed["type"] if adding else None
        if adding:
            if kind not in PRODUCT_TYPES:
                form.errors["type"] = "Choose what kind of product it is."
            values["type"] = kind
        for k in PROFILE_TEXT:
            values[k] = form.text(k)
        for k in PROFILE_SECONDS:
            values[k] = form.seconds(k)
        if values["period"] is None:
            values.pop("period")
        return form, values

    @app.route("/products", methods=["POST"])
    @defer.inlineCallbacks
    def product_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a product (an internet product's RADIUS profile is created with it)."""
        who = yield self.require(request, "catalogue.write")
        self.check_csrf(request, who)
        s = yield self.read(settings.get, who.org_id)
        form, values = self._read_product(request, s, adding=True)
        if values.get("type") != "internet":
            for k in (*PROFILE_TEXT, *PROFILE_SECONDS, "data_cap"):
                if values.get(k) is not None:
                    form.errors.setdefault(k, "Only internet products have a RADIUS profile and a data cap.")
                values.pop(k, None)
        if not form.errors:
            writer, now = self.deps.login_writer, self.now()
            try:
                p = yield self.write(request, who, "catalogue.write",
                                     lambda conn: catalogue.add_product(conn, writer, who.org_id, now, **values),
                                     target=f"product {values['name']}")
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"products/{p.id}")
        request.setResponseCode(400)
        return self._product_form(request, who, s, None, form.typed, form.errors)

    @app.route("/products/<int:product_id>/edit", methods=["GET"])
    @defer.inlineCallbacks
    def product_edit_form(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """The product's form, filled in."""
        who = yield self.require(request, "catalogue.write")
        p, prof, s = yield self.read(_product_page, who.org_id, product_id)
        typed = {"name": p.name, "type": p.type, "price": money.format_amount(p.price, s.currency),
                 "setup_fee": money.format_amount(p.setup_fee, s.currency), "period": p.period,
                 "period_days": str(p.period_days or ""), "zones": ", ".join(p.zones),
                 "data_cap": fup.format_size(p.data_cap) if p.data_cap is not None else "",
                 "taxable": "1" if p.taxable else "", "on_portal": "1" if p.on_portal else "",
                 "active": "1" if p.active else ""}
        for k in (*PROFILE_TEXT, *PROFILE_SECONDS):
            v = getattr(prof, k) if prof is not None else None
            typed[k] = "" if v is None else str(v)
        return self._product_form(request, who, s, p, typed, {})

    @app.route("/products/<int:product_id>/edit", methods=["POST"])
    @defer.inlineCallbacks
    def product_edit(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """Change the product (and its profile's fields); unticking "still sold" retires it."""
        who = yield self.require(request, "catalogue.write")
        self.check_csrf(request, who)
        before, prof, s = yield self.read(_product_page, who.org_id, product_id)
        form, values = self._read_product(request, s, adding=False)
        form.typed["type"] = before.type
        if before.type != "internet":
            for k in (*PROFILE_TEXT, *PROFILE_SECONDS, "data_cap"):
                if values.get(k) is not None:
                    form.errors.setdefault(k, "Only internet products have a RADIUS profile and a data cap.")
                values.pop(k, None)
        if not form.errors:
            writer, now = self.deps.login_writer, self.now()
            try:
                yield self.write(request, who, "catalogue.write", catalogue.update_product, writer, who.org_id,
                                 product_id, now, target=f"product {product_id}", before=before, **values)
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"products/{product_id}")
        request.setResponseCode(400)
        return self._product_form(request, who, s, before, form.typed, form.errors)

    @app.route("/products/<int:product_id>/tiers", methods=["POST"])
    @defer.inlineCallbacks
    def product_tier_add(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """Add a FUP tier to the product's profile."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        p, prof, _ = yield self.read(_product_page, who.org_id, product_id)
        form = Form(request, ("after", "rate_limit"))
        if prof is None:
            form.errors["after"] = "Only internet products have a RADIUS profile with FUP tiers."
        tier = _parse_tier(form)
        if tier is not None and prof is not None:
            try:
                yield self._tiers(request, who, prof, add=tier)
            except ValidationError as e:
                form.errors["after" if e.field == "fup_tiers" else e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"products/{product_id}")
        request.setResponseCode(400)
        page = yield self._product(request, who, product_id, form.typed, form.errors)
        return page

    @app.route("/products/<int:product_id>/tiers/remove", methods=["POST"])
    @defer.inlineCallbacks
    def product_tier_remove(self, request: IRequest, product_id: int) -> Generator[Any, Any, bytes]:
        """Remove the FUP tier at a threshold from the product's profile."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        p, prof, _ = yield self.read(_product_page, who.org_id, product_id)
        after = forms.arg(request, "after", 30)
        if prof is None or not after.isdigit():
            raise NotFound("tier", after)
        yield self._tiers(request, who, prof, remove=int(after))
        return self.see_other(request, self.base(request) + f"products/{product_id}")

    def _tiers(self, request: IRequest, who: Any, prof: Profile, *, add: fup.Tier | None = None,
               remove: int | None = None) -> defer.Deferred[Any]:
        return self.write(request, who, "network.write", _tier_change, self.deps.login_writer, who.org_id, prof.id,
                          self.now(), target=f"profile {prof.id}", before=prof, add=add, remove=remove)

    # -- profiles -------------------------------------------------------------------------------

    @app.route("/profiles", methods=["GET"])
    @defer.inlineCallbacks
    def profiles(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's RADIUS profiles; ``?q=`` part of the name; ``?format=csv``."""
        who = yield self.require(request, "network.read")
        args = ListArgs.from_request(request, filters=("q",))
        q = args.filters.get("q", "")[:100] or None
        if args.csv:
            found = yield self.read(lambda conn: list(every(store.page_profiles, conn, who.org_id, q=q, sort="name")))
            return csv_body(request, "profiles",
                            ["id", "name", "rate_limit", "fup_rate_limit", "fup_tiers", "session_timeout", "pool",
                             "interim_interval", "address_list", "block_when_exhausted", "free_hours"],
                            ([p.id, p.name, p.rate_limit or "", p.fup_rate_limit or "", tiers_text(p),
                              p.session_timeout or "", p.pool or "", p.interim_interval or "", p.address_list or "",
                              "yes" if p.block_when_exhausted else "no", str(p.free_hours or "")] for p in found))
        found = yield self.read(lambda conn: paged(store.page_profiles, conn, who.org_id, cursor=args.cursor, q=q,
                                                     sort="name"))
        return self.render(request, "admin/catalogue/profiles.html", who, profiles=found.items, args=args,
                           next_cursor=found.next_cursor, size=fup.format_size)

    def _profile_typed(self, p: Profile | None) -> dict[str, str]:
        if p is None:
            return {k: "" for k in ("name", *PROFILE_TEXT, *PROFILE_SECONDS, "free_hours", "block_when_exhausted")}
        typed = {k: "" if getattr(p, k) is None else str(getattr(p, k)) for k in (*PROFILE_TEXT, *PROFILE_SECONDS)}
        typed.update(name=p.name, free_hours=str(p.free_hours or ""),
                     block_when_exhausted="1" if p.block_when_exhausted else "")
        return typed

    def _profile_page(self, request: IRequest, who: Any, p: Profile | None, typed: dict[str, str],
                      errors: dict[str, str], tier: dict[str, str] | None = None,
                      tier_errors: dict[str, str] | None = None) -> bytes:
        return self.render(request, "admin/catalogue/profile.html", who, profile=p, form=typed, errors=errors,
                           tier=tier or {}, tier_errors=tier_errors or {}, size=fup.format_size)

    @app.route("/profiles/new", methods=["GET"])
    @defer.inlineCallbacks
    def profile_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "network.write")
        return self._profile_page(request, who, None, self._profile_typed(None), {})

    @app.route("/profiles/<int:profile_id>", methods=["GET"])
    @defer.inlineCallbacks
    def profile(self, request: IRequest, profile_id: int) -> Generator[Any, Any, bytes]:
        """A profile, its FUP tiers and its form."""
        who = yield self.require(request, "network.read")
        p = yield self._get_profile(who, profile_id)
        return self._profile_page(request, who, p, self._profile_typed(p), {})

    @defer.inlineCallbacks
    def _get_profile(self, who: Any, profile_id: int) -> Generator[Any, Any, Profile]:
        p = yield self.read(store.get_profile, who.org_id, profile_id)
        if p is None:
            raise NotFound("profile", profile_id)
        return p

    def _read_profile(self, request: IRequest) -> tuple[Form, dict[str, Any]]:
        form = Form(request, ("name", *PROFILE_TEXT, *PROFILE_SECONDS, "free_hours"))
        form.typed["block_when_exhausted"] = "1" if form.ticked("block_when_exhausted") else ""
        values: dict[str, Any] = {k: form.text(k) for k in (*PROFILE_TEXT, "free_hours")}
        values.update({k: form.seconds(k) for k in PROFILE_SECONDS})
        values["block_when_exhausted"] = form.ticked("block_when_exhausted")
        return form, values

    @app.route("/profiles", methods=["POST"])
    @defer.inlineCallbacks
    def profile_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a profile (the name is unique in the org)."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        form, values = self._read_profile(request)
        form.require("name", "Type the profile's name.")
        if not form.errors:
            name, writer, now = form.typed["name"], self.deps.login_writer, self.now()
            try:
                p = yield self.write(request, who, "network.write", writer.create_profile, who.org_id, name, now,
                                     target=f"profile {name}", **values)
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"profiles/{p.id}")
        request.setResponseCode(400)
        return self._profile_page(request, who, None, form.typed, form.errors)

    @app.route("/profiles/<int:profile_id>", methods=["POST"])
    @defer.inlineCallbacks
    def profile_edit(self, request: IRequest, profile_id: int) -> Generator[Any, Any, bytes]:
        """Change the profile: an empty field clears it; logins get the new reply at their next request."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        before = yield self._get_profile(who, profile_id)
        form, values = self._read_profile(request)
        form.typed["name"] = before.name
        if not form.errors:
            try:
                yield self.write(request, who, "network.write", self.deps.login_writer.update_profile, who.org_id,
                                 profile_id, self.now(), target=f"profile {profile_id}", before=before, **values)
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"profiles/{profile_id}")
        request.setResponseCode(400)
        return self._profile_page(request, who, before, form.typed, form.errors)

    @app.route("/profiles/<int:profile_id>/tiers", methods=["POST"])
    @defer.inlineCallbacks
    def profile_tier_add(self, request: IRequest, profile_id: int) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        p = yield self._get_profile(who, profile_id)
        form = Form(request, ("after", "rate_limit"))
        tier = _parse_tier(form)
        if tier is not None:
            try:
                yield self._tiers(request, who, p, add=tier)
            except ValidationError as e:
                form.errors["after" if e.field == "fup_tiers" else e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"profiles/{profile_id}")
        request.setResponseCode(400)
        return self._profile_page(request, who, p, self._profile_typed(p), {}, form.typed, form.errors)

    @app.route("/profiles/<int:profile_id>/tiers/remove", methods=["POST"])
    @defer.inlineCallbacks
    def profile_tier_remove(self, request: IRequest, profile_id: int) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        p = yield self._get_profile(who, profile_id)
        after = forms.arg(request, "after", 30)
        if not after.isdigit():
            raise NotFound("tier", after)
        yield self._tiers(request, who, p, remove=int(after))
        return self.see_other(request, self.base(request) + f"profiles/{profile_id}")
