"""/customers: the people and companies the org bills."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, TypeAdapter

from aaad import paging, urls
from aaad.errors import NotFound
from billing import customer_accounts, customers
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router

router = Router("customers", "Customers: add, find, change, close")

Status = Literal["pending", "active", "suspended", "closed"]
CustomerSort = Literal["id", "-id", "name", "-name", "username", "-username", "created_at", "-created_at"]


class CustomerOut(Out):
    id: int
    username: str = Field(description="Generated from the name, unique in the org (john-doe-5432).")
    name: str
    email: str | None
    phone: str | None = Field(description="E.164 (+233540000000).")
    address: str | None
    zone: str | None
    status: Status
    custom_fields: dict[str, Any]
    has_password: bool = Field(description="Whether the customer has set a portal password.")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class CustomerCreatedOut(CustomerOut):
    voucher_id: int | None = Field(None, description="The voucher assigned with package_id (see /vouchers).")
    charged: bool = Field(False, description="The voucher was invoiced at its package's price.")
    credentials_sent: bool = Field(False, description="The login details were queued by e-mail.")


class CustomerQuery(ListQuery):
    status: Status | None = None
    zone: str | None = Field(None, max_length=100)
    q: str | None = Field(None, max_length=100, description="Part of the name, username, e-mail or phone.")
    sort: CustomerSort = "id"


class CustomerIn(In):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40, description="National or international; stored as E.164 "
                                                                "(the org's country is the default region).")
    address: str | None = Field(None, max_length=1000)
    zone: str | None = Field(None, max_length=100)
    custom_fields: dict[str, Any] | None = None
    status: Literal["pending", "active", "suspended"] = "active"
    package_id: Id | None = Field(None, description="A voucher package: a voucher of it is assigned to the new "
                                                    "customer at once (free unless charge).")
    charge: bool = Field(False, description="With package_id: invoice the voucher at the package's price.")
    send_credentials: bool = Field(False, description="Set a first portal password and e-mail it with the username "
                                                      "and the portal's sign-in link (needs the e-mail address).")


class CustomerPatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=1000)
    zone: str | None = Field(None, max_length=100)
    custom_fields: dict[str, Any] | None = None
    status: Literal["pending", "active", "suspended"] | None = None


class CloseIn(In):
    reason: str = Field("", max_length=500)


class CustomerPath(In):
    customer_id: Id


def out(c: customers.Customer) -> CustomerOut:
    return CustomerOut.model_validate(c)


_PAGE = TypeAdapter(Page[CustomerOut])


def _maybe_out(c: customers.Customer | None) -> CustomerOut | None:
    return None if c is None else out(c)


def _page_out(p: paging.Page[customers.Customer]) -> Page[CustomerOut]:
    """A page of customers as its response model, validated in one call (0.13 ms for 50 against
    0.17 ms an item at a time)."""
    return _PAGE.validate_python({"items": p.items, "next_cursor": p.next_cursor}, from_attributes=True)


@router.get("/customers", summary="List customers")
async def list_customers(call: Call, query: CustomerQuery) -> Page[CustomerOut]:
    """The org's customers, filtered by status, zone and a search text; sorted by id unless asked."""
    return await call.read_out(_page_out, customers.page, call.org_id, status=query.status, q=query.q,
                               zone=query.zone, sort=query.sort, cursor=query.cursor, limit=query.limit)


@router.get("/customers/{customer_id}", summary="A customer")
async def get_customer(call: Call, path: CustomerPath) -> CustomerOut:
    c = await call.read_out(_maybe_out, customers.get, call.org_id, path.customer_id)
    if c is None:
        raise NotFound("customer", path.customer_id)
    return c


@router.post("/customers", summary="Add a customer")
async def create_customer(call: Call, body: CustomerIn) -> CustomerCreatedOut:
    """A new customer; the username is generated from the name. E-mail and phone are unique in the org.
    Optionally a voucher of a package assigned at once, and the login details sent by e-mail."""
    done = await call.write(customer_accounts.create, call.deps.login_writer, call.deps.box, call.org_id, call.now,
                            base_url=urls.public_url(call.deps.conf.web), target="customer", **body.model_dump())
    return CustomerCreatedOut(**out(done.customer).model_dump(),
                              voucher_id=done.voucher.id if done.voucher is not None else None,
                              charged=done.charged, credentials_sent=done.credentials_sent)


@router.patch("/customers/{customer_id}", summary="Change a customer")
async def update_customer(call: Call, path: CustomerPath, body: CustomerPatch) -> CustomerOut:
    """Change the fields sent (null clears e-mail, phone, address, zone); a closed customer is not changed."""
    values = body.model_dump(exclude_unset=True)
    if values.get("name", "") is None:
        values.pop("name")
    if "status" in values and values["status"] is None:
        values.pop("status")
    c = await call.write(customers.update, call.org_id, path.customer_id, call.now, **values,
                         target=f"customer {path.customer_id}",
                         before=lambda conn: customers.get(conn, call.org_id, path.customer_id))
    return out(c)


@router.post("/customers/{customer_id}/close", summary="Close a customer")
async def close_customer(call: Call, path: CustomerPath, body: CloseIn) -> CustomerOut:
    """Cancel every live service (a pending one is rejected), remove its logins, mark the customer closed;
    all history is kept."""
    c = await call.write(customers.close, call.deps.login_writer, call.org_id, path.customer_id, call.now,
                         reason=body.reason, target=f"customer {path.customer_id}",
                         before=lambda conn: customers.get(conn, call.org_id, path.customer_id))
    return out(c)
