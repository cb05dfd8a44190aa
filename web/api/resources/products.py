"""/products and /discounts: the catalogue an org sells, and its discount rules.

Nothing with money attached is deleted: a product is retired (``active``
false: no longer sold, its services go on); a discount rule may be removed
(invoices already issued keep what it gave).
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from aaad.view import store
from aaad.view.model import Profile
from billing import catalogue, settings
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router
from web.api.resources.services import Day

router = Router("products", "The catalogue: products (an internet product carries its RADIUS profile) and "
                            "their discount rules")

ProductType = Literal["internet", "voice", "bundle", "recurring", "one_time"]
Period = Literal["monthly", "days", "daily", "once"]
ProductSort = Literal["id", "-id", "name", "-name", "price", "-price", "created_at", "-created_at"]
MAX_MONEY = 10**15           # minor units; far above any price, well inside 64 bits
MAX_OCTETS = 2**62

Zone = Annotated[str, Field(min_length=1, max_length=100)]


class ProductOut(Out):
    id: int
    name: str
    type: ProductType
    price: int = Field(description="Per period, in minor units of currency.")
    setup_fee: int = Field(description="Charged once at activation, in minor units of currency.")
    currency: str
    taxable: bool = Field(description="VAT applies.")
    period: Period = Field(description="monthly; days: a prepaid period of period_days; daily; "
                                       "once (one_time products).")
    period_days: int | None
    on_portal: bool = Field(description="Offered on the customer portal.")
    zones: list[str] = Field(description="Zones where it is sold; empty: everywhere.")
    active: bool = Field(description="Still sold (false: retired; its services go on).")
    data_cap: int | None = Field(description="Octets per cycle, set on the logins of its services.")
    profile_id: int | None = Field(description="The RADIUS profile it owns (internet products).")
    rate_limit: str | None
    fup_rate_limit: str | None = Field(description="Rate once the data cap is used up.")
    session_timeout: int | None = Field(description="Seconds.")
    pool: str | None = Field(description="Address pool (Framed-Pool).")
    address_list: str | None = Field(description="MikroTik address list.")
    interim_interval: int | None = Field(description="Accounting interim interval, seconds.")
    created_at: datetime
    updated_at: datetime


class ProductQuery(ListQuery):
    type: ProductType | None = None
    active: bool | None = Field(None, description="true: still sold; false: retired.")
    on_portal: bool | None = None
    q: str | None = Field(None, max_length=100, description="Part of the name.")
    sort: ProductSort = "id"


class ProductIn(In):
    name: str = Field(min_length=1, max_length=100)
    type: ProductType
    price: int = Field(ge=0, le=MAX_MONEY, description="Per period, in minor units of the org's currency.")
    setup_fee: int = Field(0, ge=0, le=MAX_MONEY)
    taxable: bool = True
    period: Period | None = Field(None, description="Default: once for one_time products, else monthly.")
    period_days: int | None = Field(None, ge=1, le=3660, description="With period=days, and only then.")
    on_portal: bool = True
    zones: list[Zone] = Field([], max_length=100, description="Zones where it is sold; empty: everywhere.")
    active: bool = True
    data_cap: int | None = Field(None, ge=0, le=MAX_OCTETS, description="Octets per cycle (internet products).")
    rate_limit: str | None = Field(None, max_length=200, description="MikroTik rate limit, e.g. 10M/10M.")
    fup_rate_limit: str | None = Field(None, max_length=200)
    session_timeout: int | None = Field(None, ge=1, le=2**31 - 1)
    pool: str | None = Field(None, max_length=100)
    address_list: str | None = Field(None, max_length=100)
    interim_interval: int | None = Field(None, ge=1, le=2**31 - 1)


class ProductPatch(In):
    """The fields to change; null clears a profile field, the data cap or period_days, and leaves any other
    field as it is.  The type does not change; the period of a product with live services does not either."""
    name: str | None = Field(None, min_length=1, max_length=100)
    price: int | None = Field(None, ge=0, le=MAX_MONEY)
    setup_fee: int | None = Field(None, ge=0, le=MAX_MONEY)
    taxable: bool | None = Field(None)
    period: Period | None = Field(None)
    period_days: int | None = Field(None, ge=1, le=3660)
    on_portal: bool | None = Field(None)
    zones: list[Zone] | None = Field(None, max_length=100)
    active: bool | None = Field(None, description="false retires the product; true sells it again.")
    data_cap: int | None = Field(None, ge=0, le=MAX_OCTETS)
    rate_limit: str | None = Field(None, max_length=200, description="MikroTik rate limit, e.g. 10M/10M.")
    fup_rate_limit: str | None = Field(None, max_length=200)
    session_timeout: int | None = Field(None, ge=1, le=2**31 - 1)
    pool: str | None = Field(None, max_length=100)
    address_list: str | None = Field(None, max_length=100)
    interim_interval: int | None = Field(None, ge=1, le=2**31 - 1)


_CLEARABLE = {"period_days", "data_cap", *catalogue.PROFILE_FIELDS}


class ProductPath(In):
    product_id: Id


class DiscountOut(Out):
    id: int
    product_id: int
    kind: Literal["percent", "fixed"] = Field(description="percent: value in basis points (1000 = 10 %); "
                                                          "fixed: value in minor units of currency per period.")
    value: int
    currency: str
    periods: int | None = Field(description="For the first N billed periods of a service.")
    until: date | None = Field(description="For periods starting before this date.")
    created_at: datetime


class DiscountQuery(ListQuery):
    product_id: Id | None = None
    sort: Literal["id", "-id", "created_at", "-created_at"] = "id"


class DiscountIn(In):
    product_id: Id
    kind: Literal["percent", "fixed"] = "percent"
    value: int = Field(ge=1, le=MAX_MONEY, description="Basis points (1 to 10000) for percent; minor units "
                                                       "for fixed.")
    periods: int | None = Field(None, ge=1, le=10_000)
    until: Day | None = None


class DiscountPath(In):
    discount_id: Id


# -- reads ------------------------------------------------------------------------------------

def _profiles(conn: Connection, org_id: int, found: list[catalogue.Product]) -> dict[int, Profile]:
    if not any(p.profile_id is not None for p in found):
        return {}
    if len(found) == 1 and found[0].profile_id is not None:
        one = store.get_profile(conn, org_id, found[0].profile_id)
        return {one.id: one} if one is not None else {}
    return {p.id: p for p in store.list_profiles(conn, org_id)}


def _out(p: catalogue.Product, currency: str, profiles: dict[int, Profile]) -> ProductOut:
    prof = profiles.get(p.profile_id) if p.profile_id is not None else None
    extra = {k: getattr(prof, k) if prof is not None else None for k in catalogue.PROFILE_FIELDS}
    return ProductOut.model_validate({**asdict(p), **extra, "currency": currency})


def _currency(conn: Connection, org_id: int) -> str:
    return settings.get(conn, org_id).currency


def _one(conn: Connection, org_id: int, product_id: int) -> ProductOut:
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None:
        raise NotFound("product", product_id)
    return _out(p, _currency(conn, org_id), _profiles(conn, org_id, [p]))


def _discount_out(d: catalogue.Discount, currency: str) -> DiscountOut:
    return DiscountOut.model_validate({**asdict(d), "currency": currency})


@router.get("/products", summary="List products")
async def list_products(call: Call, query: ProductQuery) -> Page[ProductOut]:
    """The org's products, filtered by type, whether still sold or on the portal, and a part of the name."""
    def run(conn: Connection) -> Page[ProductOut]:
        p = catalogue.page(conn, call.org_id, type=query.type, active=query.active, on_portal=query.on_portal,
                           q=query.q, sort=query.sort, cursor=query.cursor, limit=query.limit)
        cur, profs = _currency(conn, call.org_id), _profiles(conn, call.org_id, p.items)
        return Page[ProductOut](items=[_out(x, cur, profs) for x in p.items], next_cursor=p.next_cursor)
    return await call.read(run)


@router.get("/products/{product_id}", summary="A product")
async def get_product(call: Call, path: ProductPath) -> ProductOut:
    return await call.read(_one, call.org_id, path.product_id)


@router.post("/products", summary="Add a product")
async def create_product(call: Call, body: ProductIn) -> ProductOut:
    """A new product; an internet product's RADIUS profile (named after it) is created with it.  Names are
    unique in the org."""
    writer = call.deps.login_writer

    def add(conn: Connection) -> ProductOut:
        p = catalogue.add_product(conn, writer, call.org_id, call.now, **body.model_dump())
        return _one(conn, call.org_id, p.id)
    return await call.write(add, target="product")


@router.patch("/products/{product_id}", summary="Change a product")
async def update_product(call: Call, path: ProductPath, body: ProductPatch) -> ProductOut:
    """Change the fields sent.  Profile fields change the product's RADIUS profile (and so every login on
    it); a changed data cap is set on the logins of its live services."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k in _CLEARABLE}
    writer = call.deps.login_writer

    def change(conn: Connection) -> ProductOut:
        catalogue.update_product(conn, writer, call.org_id, path.product_id, call.now, **values)
        return _one(conn, call.org_id, path.product_id)
    return await call.write(change, target=f"product {path.product_id}",
                            before=lambda conn: _one(conn, call.org_id, path.product_id))


@router.post("/products/{product_id}/retire", summary="Retire a product", status=200)
async def retire_product(call: Call, path: ProductPath) -> ProductOut:
    """Stop selling the product (active false): it leaves the portal and takes no new services; its
    services go on.  PATCH active=true sells it again."""
    writer = call.deps.login_writer

    def retire(conn: Connection) -> ProductOut:
        catalogue.update_product(conn, writer, call.org_id, path.product_id, call.now, active=False)
        return _one(conn, call.org_id, path.product_id)
    return await call.write(retire, target=f"product {path.product_id}",
                            before=lambda conn: _one(conn, call.org_id, path.product_id))


# -- discounts --------------------------------------------------------------------------------

@router.get("/discounts", summary="List discount rules")
async def list_discounts(call: Call, query: DiscountQuery) -> Page[DiscountOut]:
    """The org's discount rules, optionally of one product."""
    def run(conn: Connection) -> Page[DiscountOut]:
        p = catalogue.discount_page(conn, call.org_id, product_id=query.product_id, sort=query.sort,
                                    cursor=query.cursor, limit=query.limit)
        cur = _currency(conn, call.org_id)
        return Page[DiscountOut](items=[_discount_out(d, cur) for d in p.items], next_cursor=p.next_cursor)
    return await call.read(run)


@router.get("/discounts/{discount_id}", summary="A discount rule")
async def get_discount(call: Call, path: DiscountPath) -> DiscountOut:
    def run(conn: Connection) -> DiscountOut:
        d = catalogue.get_discount(conn, call.org_id, path.discount_id)
        if d is None:
            raise NotFound("discount", path.discount_id)
        return _discount_out(d, _currency(conn, call.org_id))
    return await call.read(run)


@router.post("/discounts", summary="Add a discount rule")
async def create_discount(call: Call, body: DiscountIn) -> DiscountOut:
    """A discount on a product: percent (basis points) or fixed (minor units off each period), for the first
    ``periods`` billed periods of a service and/or the periods starting before ``until`` (neither: for
    ever).  It applies to invoices issued from now on."""
    def add(conn: Connection) -> DiscountOut:
        values = body.model_dump()
        product_id = values.pop("product_id")
        if catalogue.get_product(conn, call.org_id, product_id) is None:
            raise ValidationError("product_id", f"no product {product_id} in this org")
        d = catalogue.add_discount(conn, call.org_id, product_id, call.now, **values)
        return _discount_out(d, _currency(conn, call.org_id))
    return await call.write(add, target=f"product {body.product_id} discount")


@router.delete("/discounts/{discount_id}", summary="Remove a discount rule")
async def delete_discount(call: Call, path: DiscountPath) -> DiscountOut:
    """Remove the rule: invoices issued from now on no longer apply it; those issued keep what it gave."""
    def remove(conn: Connection) -> DiscountOut:
        d = catalogue.get_discount(conn, call.org_id, path.discount_id)
        if d is None:
            raise NotFound("discount", path.discount_id)
        catalogue.remove_discount(conn, call.org_id, path.discount_id)
        return _discount_out(d, _currency(conn, call.org_id))
    return await call.write(remove, target=f"discount {path.discount_id}")
