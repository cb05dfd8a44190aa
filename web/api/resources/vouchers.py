"""/voucher-packages, /voucher-batches and /vouchers: hotspot vouchers.

A voucher is a login owned by the voucher; its state is the login's (unused until its first
login, active, exhausted, revoked, expired).  Nothing is deleted: a package is retired
(``active`` false), vouchers and batches are revoked.  Passwords are never in the JSON (a
batch's cards (``.pdf``) and its ``.csv`` carry them) but once: the answer to a counter
sale (``POST /vouchers/sell``), for the cashier to hand over.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from billing import voucher_sales
from billing.vouchers import batches, cards, packages, vouchers
from web.api.declare import Call, Id, In, Instant, ListQuery, Out, Page, Raw, Router
from web.api.resources._billing import Text

router = Router("vouchers", "Hotspot vouchers: packages, batches of printed cards, vouchers")

MAX_MONEY = 10**15
MAX_OCTETS = 2**62
#: Vouchers one API request may generate (the CLI takes up to billing.vouchers.batches.MAX_COUNT).
MAX_BATCH = 10_000
State = Literal["unused", "active", "exhausted", "revoked", "expired"]
PackageSort = Literal["id", "-id", "name", "-name", "price", "-price", "created_at", "-created_at"]
BatchSort = Literal["-id", "id", "-created_at", "created_at"]
VoucherSort = Literal["id", "-id", "code", "-code", "created_at", "-created_at"]


# -- packages --------------------------------------------------------------------------------

class VoucherPackageOut(Out):
    id: int
    name: str
    price: int = Field(description="Minor units of currency.")
    currency: str
    price_text: str = Field(description="The price as the org's locale writes it (GH₵5.00).")
    profile_id: int | None = Field(description="The RADIUS profile giving the speed.")
    rate_limit: str | None = Field(description="The profile's rate limit.")
    time_limit: int | None = Field(description="Seconds of online time in total.")
    data_limit: int | None = Field(description="Octets (in + out) in total.")
    validity_hours: int | None = Field(description="Valid for this many hours from the first login.")
    expires_at: datetime | None = Field(description="Or valid until this time.")
    shared_users: int = Field(description="Devices at once.")
    bind_mac: bool = Field(description="Each voucher is bound to its first device's MAC address.")
    code_only: bool = Field(description="The code is the password too.")
    code_length: int
    prefix: str
    on_portal: bool = Field(description="Sold on the customer portal.")
    active: bool = Field(description="Still sold (false: retired).")
    created_at: datetime
    updated_at: datetime


class VoucherPackageQuery(ListQuery):
    active: bool | None = None
    on_portal: bool | None = None
    sort: PackageSort = "id"


class VoucherPackagePath(In):
    voucher_package_id: Id


class VoucherPackageIn(In):
    name: Text = Field(min_length=1, max_length=100)
    price: int = Field(ge=0, le=MAX_MONEY, description="Minor units of the org's currency.")
    profile_id: int | None = Field(None, ge=1, le=2**31 - 1, description="An existing profile for the speed.")
    rate_limit: Text | None = Field(None, min_length=1, max_length=200,
                                    description="Or a MikroTik rate limit: a profile is made for the package.")
    time_limit: int | None = Field(None, ge=1, le=2**31 - 1, description="Seconds.")
    data_limit: int | None = Field(None, ge=1, le=MAX_OCTETS, description="Octets.")
    validity_hours: int | None = Field(None, ge=1, le=24 * 3650)
    expires_at: Instant | None = None
    shared_users: int = Field(1, ge=1, le=100)
    bind_mac: bool = False
    code_only: bool = False
    code_length: int = Field(8, ge=packages.MIN_CODE, le=packages.MAX_CODE)
    prefix: str = Field("", pattern=r"^[A-Za-z0-9]{0,8}$", description="Printed before each code (upper-cased).")
    on_portal: bool = True
    active: bool = True


class VoucherPackagePatch(In):
    name: Text | None = Field(None, min_length=1, max_length=100)
    price: int | None = Field(None, ge=0, le=MAX_MONEY)
    profile_id: int | None = Field(None, ge=1, le=2**31 - 1)
    time_limit: int | None = Field(None, ge=1, le=2**31 - 1)
    data_limit: int | None = Field(None, ge=1, le=MAX_OCTETS)
    validity_hours: int | None = Field(None, ge=1, le=24 * 3650)
    expires_at: Instant | None = None
    shared_users: int | None = Field(None, ge=1, le=100)
    bind_mac: bool | None = None
    code_only: bool | None = None
    code_length: int | None = Field(None, ge=packages.MIN_CODE, le=packages.MAX_CODE)
    prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9]{0,8}$")
    on_portal: bool | None = None
    active: bool | None = None


#: Patch fields where null clears the value (the others: null leaves it).
_CLEARABLE = ("profile_id", "time_limit", "data_limit", "validity_hours", "expires_at")


def _package(conn: Connection, org_id: int, package_id: int) -> packages.Package:
    return packages.require(conn, org_id, package_id)


@router.get("/voucher-packages", summary="List voucher packages")
async def list_voucher_packages(call: Call, query: VoucherPackageQuery) -> Page[VoucherPackageOut]:
    """The org's voucher packages, filtered by whether still sold and shown on the portal."""
    p = await call.read(packages.page, call.org_id, active=query.active, on_portal=query.on_portal,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[VoucherPackageOut](items=[VoucherPackageOut.model_validate(x) for x in p.items],
                                   next_cursor=p.next_cursor)


@router.get("/voucher-packages/{voucher_package_id}", summary="A voucher package")
async def get_voucher_package(call: Call, path: VoucherPackagePath) -> VoucherPackageOut:
    return VoucherPackageOut.model_validate(await call.read(_package, call.org_id, path.voucher_package_id))


@router.post("/voucher-packages", summary="Add a voucher package")
async def create_voucher_package(call: Call, body: VoucherPackageIn) -> VoucherPackageOut:
    """A new package.  Its speed: ``profile_id``, or ``rate_limit`` (a profile ``voucher: NAME`` is made with
    it), or neither.  Validity: hours from first use, or a fixed expiry, not both.  Names are unique."""
    p = await call.write(packages.add, call.deps.login_writer, call.org_id, call.now, target="voucher package",
                         **body.model_dump())
    return VoucherPackageOut.model_validate(p)


@router.patch("/voucher-packages/{voucher_package_id}", summary="Change a voucher package")
async def update_voucher_package(call: Call, path: VoucherPackagePath,
                                 body: VoucherPackagePatch) -> VoucherPackageOut:
    """Change the fields sent (null clears a limit, the validity or the profile).  Vouchers generated from
    now on get the new values; those already made keep theirs (they are printed)."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k in _CLEARABLE}
    p = await call.write(packages.update, call.org_id, path.voucher_package_id, call.now, **values,
                         target=f"voucher package {path.voucher_package_id}",
                         before=lambda conn: packages.get(conn, call.org_id, path.voucher_package_id))
    return VoucherPackageOut.model_validate(p)


# -- batches ---------------------------------------------------------------------------------

class VoucherBatchOut(Out):
    id: int
    package_id: int
    package_name: str
    count: int
    note: str
    created_at: datetime
    revoked_at: datetime | None


class VoucherBatchQuery(ListQuery):
    package_id: int | None = Field(None, ge=1, le=2**31 - 1)
    revoked: bool | None = None
    sort: BatchSort = "-id"


class VoucherBatchPath(In):
    voucher_batch_id: Id


class VoucherBatchIn(In):
    package_id: int = Field(ge=1, le=2**31 - 1)
    count: int = Field(ge=1, le=MAX_BATCH)
    note: Text = Field("", max_length=500)
    code_length: int | None = Field(None, ge=packages.MIN_CODE, le=packages.MAX_CODE,
                                    description="Instead of the package's.")
    prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9]{0,8}$", description="Instead of the package's.")


def _batch(conn: Connection, org_id: int, batch_id: int) -> batches.Batch:
    return batches.require(conn, org_id, batch_id)


@router.get("/voucher-batches", summary="List voucher batches")
async def list_voucher_batches(call: Call, query: VoucherBatchQuery) -> Page[VoucherBatchOut]:
    """The org's batches, newest first unless asked, optionally of one package or (not) revoked."""
    p = await call.read(batches.page, call.org_id, package_id=query.package_id, revoked=query.revoked,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[VoucherBatchOut](items=[VoucherBatchOut.model_validate(b) for b in p.items],
                                 next_cursor=p.next_cursor)


@router.get("/voucher-batches/{voucher_batch_id}", summary="A voucher batch")
async def get_voucher_batch(call: Call, path: VoucherBatchPath) -> VoucherBatchOut:
    return VoucherBatchOut.model_validate(await call.read(_batch, call.org_id, path.voucher_batch_id))


@router.post("/voucher-batches", summary="Generate a batch of vouchers")
async def create_voucher_batch(call: Call, body: VoucherBatchIn) -> VoucherBatchOut:
    """Generate ``count`` vouchers of the package (up to 10,000 a request), each with its login, unused until
    its first login.  Their cards: ``/voucher-batches/{id}.pdf``; codes and passwords: ``.csv``."""
    b = await call.write(batches.create, call.deps.login_writer, call.org_id, body.package_id, body.count,
                         call.now, note=body.note, code_length=body.code_length, prefix=body.prefix,
                         target="voucher batch")
    return VoucherBatchOut.model_validate(b)


@router.post("/voucher-batches/{voucher_batch_id}/revoke", summary="Revoke a batch", status=200)
async def revoke_voucher_batch(call: Call, path: VoucherBatchPath) -> VoucherBatchOut:
    """Revoke every voucher of the batch: their logins are rejected ("voucher revoked") and running sessions
    disconnected.  Revoking again changes nothing."""
    b = await call.write(batches.revoke, call.deps.login_writer, call.org_id, path.voucher_batch_id, call.now,
                         target=f"voucher batch {path.voucher_batch_id}",
                         before=lambda conn: batches.get(conn, call.org_id, path.voucher_batch_id))
    return VoucherBatchOut.model_validate(b)


def _pdf(conn: Connection, box: SecretBox, org_id: int, batch_id: int) -> Raw:
    return Raw(cards.batch_pdf(conn, box, org_id, batch_id), "application/pdf", f"vouchers-{batch_id}.pdf")


def _csv(conn: Connection, box: SecretBox, org_id: int, batch_id: int, now: datetime) -> Raw:
    return Raw(cards.batch_csv(conn, box, org_id, batch_id, now).encode("utf-8"), "text/csv; charset=utf-8",
               f"vouchers-{batch_id}.csv")


@router.get("/voucher-batches/{voucher_batch_id}.pdf", summary="A batch's cards as PDF", media="application/pdf")
async def get_voucher_batch_pdf(call: Call, path: VoucherBatchPath) -> Raw:
    """The batch's printable cards (A4, ten a page, the org's branding): code, password unless code-only,
    price, limits and a QR code opening the hotspot login page with the code filled in.  Rendering takes
    about 25 ms a card (a thousand in under half a minute)."""
    return await call.read(_pdf, call.deps.box, call.org_id, path.voucher_batch_id)


@router.get("/voucher-batches/{voucher_batch_id}.csv", summary="A batch's codes as CSV", media="text/csv")
async def get_voucher_batch_csv(call: Call, path: VoucherBatchPath) -> Raw:
    """The batch's vouchers, one row each: code, password, package, price, limits, state, login URL."""
    return await call.read(_csv, call.deps.box, call.org_id, path.voucher_batch_id, call.now)


# -- vouchers --------------------------------------------------------------------------------

class VoucherOut(Out):
    id: int
    code: str = Field(description="The login's user name (upper case, no look-alike characters).")
    code_only: bool = Field(description="The password is the code.")
    package_id: int
    package_name: str
    batch_id: int | None = Field(description="null: sold online.")
    login_id: int | None
    customer_id: int | None = Field(description="Who bought it (sold online or assigned).")
    transaction_id: int | None = Field(description="The gateway transaction that paid for it.")
    price: int = Field(description="Minor units of currency.")
    currency: str
    price_text: str
    state: State
    created_at: datetime
    sold_at: datetime | None
    first_used_at: datetime | None
    expires_at: datetime | None = Field(description="When it stops being valid (fixed, or first use + validity).")
    time_limit: int | None = Field(description="Seconds.")
    data_limit: int | None = Field(description="Octets.")
    time_used: int
    octets_used: int
    time_left: int | None
    data_left: int | None
    bound_mac: str | None = Field(description="The device it was bound to at its first login.")


class VoucherQuery(ListQuery):
    batch_id: int | None = Field(None, ge=1, le=2**31 - 1)
    package_id: int | None = Field(None, ge=1, le=2**31 - 1)
    customer_id: int | None = Field(None, ge=1, le=2**31 - 1)
    state: State | None = Field(None, description="The login's state as stored (a validity that ran out shows "
                                                  "as expired, but is filtered under the stored state).")
    sold: bool | None = None
    sort: VoucherSort = "id"


class VoucherPath(In):
    voucher_id: Id


class HistoryEntryOut(Out):
    at: datetime
    what: Literal["created", "sold", "first_use", "session", "revoked"]
    detail: str


class SessionUseOut(Out):
    start_time: datetime
    stop_time: datetime | None
    session_time: int
    input_octets: int
    output_octets: int
    calling_station: str | None
    framed_ip: str | None


class VoucherHistoryOut(Out):
    voucher: VoucherOut
    entries: list[HistoryEntryOut]
    sessions: list[SessionUseOut] = Field(description="From accounting, oldest first (the latest 500).")
    session_time: int
    octets: int


def _voucher(conn: Connection, org_id: int, voucher_id: int, now: datetime) -> vouchers.Voucher:
    return vouchers.require(conn, org_id, voucher_id, now)


@router.get("/vouchers", summary="List vouchers")
async def list_vouchers(call: Call, query: VoucherQuery) -> Page[VoucherOut]:
    """The org's vouchers, filtered by batch, package, customer, state and whether sold."""
    p = await call.read(vouchers.page, call.org_id, call.now, batch_id=query.batch_id, package_id=query.package_id,
                        customer_id=query.customer_id, state=query.state, sold=query.sold, sort=query.sort,
                        cursor=query.cursor, limit=query.limit)
    return Page[VoucherOut](items=[VoucherOut.model_validate(v) for v in p.items], next_cursor=p.next_cursor)


@router.get("/vouchers/{voucher_id}", summary="A voucher")
async def get_voucher(call: Call, path: VoucherPath) -> VoucherOut:
    return VoucherOut.model_validate(await call.read(_voucher, call.org_id, path.voucher_id, call.now))


@router.get("/vouchers/{voucher_id}/history", summary="A voucher's history")
async def get_voucher_history(call: Call, path: VoucherPath) -> VoucherHistoryOut:
    """Created (in a batch or sold online), sold, first use, its sessions and usage, revoked."""
    h = await call.read(vouchers.history, call.org_id, path.voucher_id, call.now)
    return VoucherHistoryOut.model_validate(h)


@router.post("/vouchers/{voucher_id}/revoke", summary="Revoke a voucher", status=200)
async def revoke_voucher(call: Call, path: VoucherPath) -> VoucherOut:
    """Its login is rejected ("voucher revoked") and a running session disconnected.  Again: no change."""
    v = await call.write(vouchers.revoke, call.deps.login_writer, call.org_id, path.voucher_id, call.now,
                         target=f"voucher {path.voucher_id}",
                         before=lambda conn: vouchers.get(conn, call.org_id, path.voucher_id))
    return VoucherOut.model_validate(v)



class VoucherSaleIn(In):
    package_id: int = Field(ge=1, le=2**31 - 1, description="An active package of the org.")
    customer_id: int = Field(ge=1, le=2**31 - 1)
    method: str = Field(min_length=1, max_length=32, description="How it was paid: cash, mobile_money, card...")
    reference: Text = Field(min_length=1, max_length=128,
                            description="The receipt-book number or the mobile-money transaction id: once per "
                                        "method (the same sale again answers the same voucher).")


class VoucherSoldOut(VoucherOut):
    password: str | None = Field(description="The voucher's password (its code if code-only): shown in this "
                                             "answer only.")


@router.post("/vouchers/sell", summary="Sell a voucher at the counter")
async def sell_voucher(call: Call, body: VoucherSaleIn) -> VoucherSoldOut:
    """A cashier sells the customer one voucher of an active package, paid there and then: the voucher at the
    package's price, booked as a sale (cash of ``method`` in, revenue and the VAT inside the price; not
    customer credit).  The answer carries its code and password.  Once per method and ``reference``: the
    same sale again answers the voucher already sold; a reference used for another sale or a payment is a
    422 on ``reference``."""
    v = await call.write(voucher_sales.sell_at_counter, call.deps.login_writer, call.org_id, body.package_id,
                         body.customer_id, call.now, method=body.method, reference=body.reference,
                         target=f"customer {body.customer_id}")
    return VoucherSoldOut.model_validate(v)
