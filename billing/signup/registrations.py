"""Registrations: what an applicant sent through the portal's form, and what the admins decided.

Life: ``pending`` → ``approved`` | ``rejected``; an admin may ask for more information
(``info_requested``: the applicant gets a secret link back to the form, prefilled, with the
question shown; sending it again makes the registration ``pending``).  Approval creates the
customer (the typed password becomes their portal password), the service of the chosen product
(default: the org's sign-up default) and its login, in one transaction.  A registration made
with a product chosen during sign-up already has its customer and order
(:func:`register_with_order`); approving it approves the order.  With
``approval = automatic`` in the sign-up settings a registration is approved as it arrives
(when a product is known).

The password is kept only as its argon2 hash, and only until the decision.  A duplicate
e-mail address or phone number (of a customer, or of another open registration) is refused
with :data:`DUPLICATE`, one message whichever it was, so the form tells a stranger no more
than the login page does.  Every decision is a conditional UPDATE on the status it started
from: two admins deciding at once settle by row count.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging, passwords
from aaad.errors import NotFound, ValidationError
from billing import catalogue, customers, services, settings
from billing.events import (
    RegistrationApproved,
    RegistrationCreated,
    RegistrationInfoRequested,
    RegistrationRejected,
)
from billing.orders import orders
from billing.schema import customers as customers_t
from billing.schema import registrations as reg_t
from billing.schema import signup_attempts
from billing.signup import forms
from billing.signup.uploads import Document

if TYPE_CHECKING:
    from aaad.view.write import LoginWriter

OPEN = ("pending", "info_requested")
DUPLICATE = ("These details cannot be used for a new registration. If you already have an account, "
             "sign in, or use \u201cforgot password\u201d.")
INFO_DAYS = 14


@dataclass(frozen=True)
class Registration:
    id: int
    org_id: int
    status: str
    name: str
    email: str | None
    phone: str | None
    address: str | None
    fields: dict[str, Any]
    product_id: int | None
    zone: str | None
    customer_id: int | None
    order_id: int | None
    service_id: int | None
    has_document: bool
    document_type: str | None
    document_size: int | None
    document_name: str | None
    ip: str
    user_agent: str
    question: str
    reason: str
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


def _row(r: Any) -> Registration:
    m = r._mapping
    return Registration(
        m["id"], m["org_id"], m["status"], m["name"], m["email"], m["phone"], m["address"],
        json.loads(m["fields"] or "{}"), m["product_id"], m["zone"], m["customer_id"], m["order_id"],
        m["service_id"], m["document_path"] is not None, m["document_type"], m["document_size"],
        m["document_name"], m["ip"], m["user_agent"], m["question"], m["reason"], m["created_at"],
        m["updated_at"], m["decided_at"])


# -- reads -------------------------------------------------------------------------------------

def get(conn: Connection, org_id: int, registration_id: int) -> Registration | None:
    r = conn.execute(sa.select(reg_t).where(reg_t.c.org_id == org_id, reg_t.c.id == registration_id)).first()
    return None if r is None else _row(r)


def _require(conn: Connection, org_id: int, registration_id: int) -> Registration:
    reg = get(conn, org_id, registration_id)
    if reg is None:
        raise NotFound("registration", registration_id)
    return reg


SORTS = {"id": reg_t.c.id, "created_at": reg_t.c.created_at, "name": reg_t.c.name}


def page(conn: Connection, org_id: int, *, status: str | None = None, q: str | None = None,
         since: datetime | None = None, has_document: bool | None = None, sort: str = "-id",
         cursor: str | None = None, limit: int = 50) -> paging.Page[Registration]:
    """One page of the org's registrations: of one status, matching ``q`` (part of the name, e-mail or
    phone), sent since an instant, with or without a document."""
    c = reg_t.c
    query = sa.select(reg_t).where(c.org_id == org_id)
    if status is not None:
        query = query.where(c.status == status)
    if q:
        like = f"%{q.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(c.name).like(like), sa.func.lower(c.email).like(like),
                                   c.phone.like(like)))
    if since is not None:
        query = query.where(c.created_at >= since)
    if has_document is not None:
        query = query.where(c.document_path.is_not(None) if has_document else c.document_path.is_(None))
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=c.id, cursor=cursor, limit=limit, row=_row)


def document_of(conn: Connection, org_id: int, registration_id: int) -> tuple[str, str, str] | None:
    """The stored document of a registration: (path under the data directory, type, file name)."""
    r = conn.execute(sa.select(reg_t.c.document_path, reg_t.c.document_type, reg_t.c.document_name).where(
        reg_t.c.org_id == org_id, reg_t.c.id == registration_id)).first()
    if r is None or r.document_path is None:
        return None
    return r.document_path, r.document_type, r.document_name or "document"


# -- the applicant's side ----------------------------------------------------------------------

def _ip_hash(ip: str) -> str:
    return hashlib.sha256(ip.encode("utf-8")).hexdigest()


def attempt(conn: Connection, org_id: int, ip: str, now: datetime, per_hour: int) -> int:
    """Count a registration form sent from ``ip``: 0 if it may be handled, else the seconds until the
    address may send another (``per_hour`` forms an hour; refused ones are not counted)."""
    t = signup_attempts.c
    conn.execute(signup_attempts.delete().where(t.org_id == org_id, t.at < now - timedelta(hours=1)))
    key = _ip_hash(ip)
    recent = [r.at for r in conn.execute(sa.select(t.at).where(
        t.org_id == org_id, t.ip_hash == key, t.at > now - timedelta(hours=1)).order_by(t.at))]
    if len(recent) >= per_hour:
        return max(1, int((recent[len(recent) - per_hour] + timedelta(hours=1) - now).total_seconds()) + 1)
    conn.execute(signup_attempts.insert().values(org_id=org_id, ip_hash=key, at=now))
    return 0


def check_unique(conn: Connection, org_id: int, email: str | None, phone: str | None,
                 exclude: int | None = None) -> None:
    """ValidationError("form", DUPLICATE) if a customer or another open registration has the address or
    the number."""
    for col_c, col_r, value in ((customers_t.c.email, reg_t.c.email, email),
                                (customers_t.c.phone, reg_t.c.phone, phone)):
        if value is None:
            continue
        if conn.execute(sa.select(customers_t.c.id).where(customers_t.c.org_id == org_id, col_c == value)
                        ).first() is not None:
            raise ValidationError("form", DUPLICATE)
        q = sa.select(reg_t.c.id).where(reg_t.c.org_id == org_id, col_r == value, reg_t.c.status.in_(OPEN))
        if exclude is not None:
            q = q.where(reg_t.c.id != exclude)
        if conn.execute(q).first() is not None:
            raise ValidationError("form", DUPLICATE)


def _document_values(document: Document | None) -> dict[str, Any]:
    if document is None:
        return {}
    return {"document_path": document.path, "document_type": document.content_type,
            "document_size": document.size, "document_name": document.name}


def submit(conn: Connection, writer: LoginWriter, org_id: int, form: forms.Clean, now: datetime, *,
           ip: str = "", user_agent: str = "", document: Document | None = None, product_id: int | None = None,
           zone: str | None = None) -> Registration:
    """A new pending registration (publishes ``registration.created``); approved at once when the org
    approves automatically and a product is known (left pending if that approval cannot be made).
    ValidationError("form", DUPLICATE) for a duplicate."""
    st = forms.get_settings(conn, org_id)
    if not st.enabled:
        raise ValidationError("form", "Registration is closed.")
    check_unique(conn, org_id, form.email, form.phone)
    key = conn.execute(reg_t.insert().values(
        org_id=org_id, status="pending", name=form.name, email=form.email, phone=form.phone, address=form.address,
        password_hash=passwords.hash_password(form.password), fields=json.dumps(form.custom, sort_keys=True),
        product_id=product_id, zone=zone, ip=ip[:64], user_agent=user_agent[:400], created_at=now,
        updated_at=now, **_document_values(document))).inserted_primary_key
    assert key is not None
    reg = _require(conn, org_id, key[0])
    events.publish(conn, org_id, RegistrationCreated(reg.id, reg.name), now)
    if st.approval == "automatic" and (product_id or st.default_product_id):
        try:
            with conn.begin_nested():
                reg = approve(conn, writer, org_id, reg.id, now)
        except ValidationError:
            pass        # e.g. the default product is not sold in the zone given: an admin decides
    return reg


def register_with_order(conn: Connection, writer: LoginWriter, org_id: int, form: forms.Clean, now: datetime, *,
                        product_id: int, zone: str | None, ip: str = "", user_agent: str = "",
                        document: Document | None = None) -> tuple[Registration, orders.Order]:
    """Sign-up with a product chosen (the coverage step): the customer at once (status pending, the typed
    password set), the order of the product to be invoiced (its service pending until approved or paid),
    and a pending registration linking both; publishes ``registration.created``."""
    st = forms.get_settings(conn, org_id)
    if not st.enabled:
        raise ValidationError("form", "Registration is closed.")
    check_unique(conn, org_id, form.email, form.phone)
    c = customers.add(conn, org_id, now, name=form.name, email=form.email, phone=form.phone,
                      address=form.address, zone=zone, custom_fields=form.custom, status="pending")
    customers.set_password(conn, org_id, c.id, form.password, now)
    o = orders.place(conn, writer, org_id, c.id, [product_id], now, method="invoice", zone=zone)
    key = conn.execute(reg_t.insert().values(
        org_id=org_id, status="pending", name=form.name, email=form.email, phone=form.phone, address=form.address,
        fields=json.dumps(form.custom, sort_keys=True), product_id=product_id, zone=zone, customer_id=c.id,
        order_id=o.id, service_id=o.service_ids[0] if o.service_ids else None, ip=ip[:64],
        user_agent=user_agent[:400], created_at=now, updated_at=now, **_document_values(document))
    ).inserted_primary_key
    assert key is not None
    reg = _require(conn, org_id, key[0])
    events.publish(conn, org_id, RegistrationCreated(reg.id, reg.name), now)
    return reg, o


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def by_token(conn: Connection, org_id: int, token: str, now: datetime) -> Registration | None:
    """The registration waiting for more information that the link's token is for (unexpired)."""
    if not token or len(token) > 100:
        return None
    r = conn.execute(sa.select(reg_t).where(reg_t.c.org_id == org_id, reg_t.c.info_token_hash == _token_hash(token),
                                            reg_t.c.status == "info_requested")).first()
    if r is None or r.info_expires_at is None or r.info_expires_at <= now:
        return None
    return _row(r)


def resubmit(conn: Connection, org_id: int, token: str, form: forms.Clean, now: datetime, *,
             document: Document | None = None, ip: str = "", user_agent: str = "") -> tuple[Registration, str | None]:
    """The applicant's answer through the link: the registration changed and pending again (the link used
    up; ``registration.created`` published with ``resubmitted``); and the path of a document replaced."""
    reg = by_token(conn, org_id, token, now)
    if reg is None:
        raise ValidationError("token", "This link has expired or was used already.")
    check_unique(conn, org_id, form.email, form.phone, exclude=reg.id)
    old = document_of(conn, org_id, reg.id) if document is not None else None
    n = conn.execute(reg_t.update().where(
        reg_t.c.org_id == org_id, reg_t.c.id == reg.id, reg_t.c.status == "info_requested",
        reg_t.c.info_token_hash == _token_hash(token)).values(
        status="pending", name=form.name, email=form.email, phone=form.phone, address=form.address,
        password_hash=passwords.hash_password(form.password), fields=json.dumps(form.custom, sort_keys=True),
        info_token_hash=None, info_expires_at=None, ip=ip[:64], user_agent=user_agent[:400], updated_at=now,
        **_document_values(document))).rowcount
    if n != 1:
        raise ValidationError("token", "This link has expired or was used already.")
    events.publish(conn, org_id, RegistrationCreated(reg.id, form.name, resubmitted=True), now)
    return _require(conn, org_id, reg.id), (old[0] if old else None)


# -- the admins' side --------------------------------------------------------------------------

def _decide(conn: Connection, reg: Registration, now: datetime, **values: Any) -> None:
    n = conn.execute(reg_t.update().where(reg_t.c.org_id == reg.org_id, reg_t.c.id == reg.id,
                                          reg_t.c.status.in_(OPEN)).values(updated_at=now, **values)).rowcount
    if n != 1:
        raise ValidationError("status", f"registration {reg.id} was decided meanwhile")


def _open(conn: Connection, org_id: int, registration_id: int) -> Registration:
    reg = _require(conn, org_id, registration_id)
    if reg.status not in OPEN:
        raise ValidationError("status", f"registration {reg.id} is {reg.status} already")
    return reg


def approve(conn: Connection, writer: LoginWriter, org_id: int, registration_id: int, now: datetime, *,
            product_id: int | None = None, zone: str | None = None, start: date | None = None) -> Registration:
    """Approve: the customer (status active once the service is), the service of ``product_id`` (else
    the registration's product, else the sign-up default) in ``zone`` active from ``start`` (default
    today) with its login, all in this transaction; publishes ``registration.approved``.  A registration
    with an order has that order approved from ``start`` instead."""
    reg = _open(conn, org_id, registration_id)
    st = forms.get_settings(conn, org_id)
    today = settings.get(conn, org_id).today(now)
    start = start or today
    if reg.order_id is not None:
        orders.approve(conn, writer, org_id, reg.order_id, start, now)
        _decide(conn, reg, now, status="approved", decided_at=now, password_hash=None)
        assert reg.customer_id is not None
        events.publish(conn, org_id, RegistrationApproved(reg.id, reg.customer_id, reg.service_id), now)
        return _require(conn, org_id, reg.id)
    pid = product_id or reg.product_id or st.default_product_id
    if pid is None:
        raise ValidationError("product_id", "choose a product (the sign-up settings name no default product)")
    p = catalogue.get_product(conn, org_id, pid)
    if p is None:
        raise ValidationError("product_id", f"no product {pid} in this org")
    where = zone if zone is not None else (reg.zone or st.default_zone)
    if not p.sold_in(where):
        raise ValidationError("zone", f"{p.name} is not sold in {where or 'no zone'}")
    c = customers.add(conn, org_id, now, name=reg.name, email=reg.email, phone=reg.phone, address=reg.address,
                      zone=where, custom_fields=reg.fields, status="pending")
    pw = conn.execute(sa.select(reg_t.c.password_hash).where(reg_t.c.org_id == org_id, reg_t.c.id == reg.id)
                      ).scalar()
    if pw:
        conn.execute(customers_t.update().where(customers_t.c.org_id == org_id, customers_t.c.id == c.id)
                     .values(password_hash=pw))
    svc = services.add(conn, writer, org_id, c.id, p.id, now, start=start)
    _decide(conn, reg, now, status="approved", decided_at=now, password_hash=None, customer_id=c.id,
            service_id=svc.id, product_id=p.id, zone=where)
    events.publish(conn, org_id, RegistrationApproved(reg.id, c.id, svc.id), now)
    return _require(conn, org_id, reg.id)


@dataclass(frozen=True)
class BulkResult:
    registration_id: int
    ok: bool
    error: str = ""
    registration: Registration | None = None


def approve_many(conn: Connection, writer: LoginWriter, org_id: int, registration_ids: list[int], now: datetime, *,
                 product_id: int | None = None, zone: str | None = None,
                 start: date | None = None) -> list[BulkResult]:
    """Approve several (each as :func:`approve`, each on its own savepoint: one that cannot be approved
    is reported and the others go ahead)."""
    out = []
    for rid in dict.fromkeys(registration_ids):
        try:
            with conn.begin_nested():
                reg = approve(conn, writer, org_id, rid, now, product_id=product_id, zone=zone, start=start)
            out.append(BulkResult(rid, True, registration=reg))
        except NotFound:
            out.append(BulkResult(rid, False, f"no registration {rid}"))
        except ValidationError as e:
            out.append(BulkResult(rid, False, f"{e.field}: {e.message}"))
    return out


def reject(conn: Connection, writer: LoginWriter, org_id: int, registration_id: int, now: datetime, *,
           reason: str) -> Registration:
    """Reject with a reason the applicant is told; a customer created for it is closed (its order
    cancelled, its pending service rejected).  Publishes ``registration.rejected``."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise ValidationError("reason", "1 to 1000 characters: the applicant is told")
    reg = _open(conn, org_id, registration_id)
    if reg.order_id is not None:
        orders.cancel(conn, writer, org_id, reg.order_id, now, reason=reason)
    if reg.customer_id is not None:
        c = customers.get(conn, org_id, reg.customer_id)
        if c is not None and c.status != "closed":
            customers.close(conn, writer, org_id, c.id, now, reason="registration rejected")
    _decide(conn, reg, now, status="rejected", reason=reason, decided_at=now, password_hash=None,
            info_token_hash=None, info_expires_at=None)
    events.publish(conn, org_id, RegistrationRejected(reg.id, reason), now)
    return _require(conn, org_id, reg.id)


def request_info(conn: Connection, org_id: int, registration_id: int, question: str, now: datetime, *,
                 days: int = INFO_DAYS, send: Callable[[Registration, str], Any] | None = None) -> Registration:
    """Ask the applicant for more information: a new secret link (valid ``days``, replacing any earlier
    one) back to the prefilled form with ``question`` shown; ``send(registration, token)`` queues the
    message with it (the token is never stored, only its hash).  Publishes ``registration.info_requested``."""
    question = (question or "").strip()
    if not question or len(question) > 2000:
        raise ValidationError("question", "1 to 2000 characters: the applicant sees it on the form")
    reg = _open(conn, org_id, registration_id)
    if reg.customer_id is not None:
        raise ValidationError("status", "this applicant has an account already: ask them through a ticket")
    token = secrets.token_urlsafe(32)
    _decide(conn, reg, now, status="info_requested", question=question, info_token_hash=_token_hash(token),
            info_expires_at=now + timedelta(days=days))
    events.publish(conn, org_id, RegistrationInfoRequested(reg.id, question), now)
    reg = _require(conn, org_id, reg.id)
    if send is not None:
        send(reg, token)
    return reg


def seed_one(conn: Connection, org_id: int, now: datetime, document: Document | None = None) -> Registration:
    """A pending registration, with ``document`` if given (for the demo and the API's isolation sweep)."""
    st = forms.get_settings(conn, org_id)
    if not st.enabled:
        forms.update_settings(conn, org_id, now, enabled=True)
    n = conn.execute(sa.select(sa.func.count()).select_from(reg_t).where(reg_t.c.org_id == org_id)).scalar_one()
    form = forms.Clean(f"Applicant {n + 1}", f"applicant{n + 1}-{org_id}@example.com", None, "1 Main Street",
                       secrets.token_urlsafe(12))
    key = conn.execute(reg_t.insert().values(
        org_id=org_id, status="pending", name=form.name, email=form.email, address=form.address,
        password_hash=passwords.hash_password(form.password), created_at=now, updated_at=now,
        **_document_values(document))
    ).inserted_primary_key
    assert key is not None
    reg = _require(conn, org_id, key[0])
    events.publish(conn, org_id, RegistrationCreated(reg.id, reg.name), now)
    return reg
