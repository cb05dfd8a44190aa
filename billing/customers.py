"""Customers: the people and companies an org bills.

A customer has a unique username generated from the name (``john-doe-5432``),
an e-mail address and a phone number each unique in the org (the phone
normalised to E.164 with the org's country as the default region, so
``0540000000`` and ``540000000`` are the same Ghana number), an address, a
zone, custom fields (a JSON object, for the portal's registration form) and a
portal password (argon2).  Closing a customer cancels their services and
keeps everything: nothing with money attached is ever deleted.
"""
from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aaad import events, paging, passwords
from aaad.errors import NotFound, ValidationError
from billing import settings
from billing.events import CustomerClosed, CustomerCreated
from billing.schema import CUSTOMER_STATUSES, customers

if TYPE_CHECKING:
    from aaad.view.write import LoginWriter

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_UNSET: Any = object()


@dataclass(frozen=True)
class Customer:
    id: int
    org_id: int
    username: str
    name: str
    email: str | None
    phone: str | None           # E.164
    address: str | None
    zone: str | None
    status: str
    custom_fields: Mapping[str, Any]
    has_password: bool          # the portal password is set (the hash never leaves this module)
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


#: The table's columns in order: a row of ``select(customers)`` (paging adds columns after them)
#: is unpacked by position, four times faster than by name on a page of 50.
_COLUMNS = tuple(c.name for c in customers.columns)
assert _COLUMNS == ("id", "org_id", "username", "name", "email", "phone", "address", "zone", "status",
                    "password_hash", "custom_fields", "created_at", "updated_at", "closed_at"), _COLUMNS


def from_row(r: Any) -> Customer:
    """The Customer of a row whose first columns are the customers table's, in order (a select of the
    table, perhaps with more columns after them)."""
    (id_, org_id, username, name, email, phone, address, zone, status, password_hash, custom_fields,
     created_at, updated_at, closed_at) = r[:14]
    fields = {} if custom_fields in ("{}", None, "") else json.loads(custom_fields)
    return Customer(id_, org_id, username, name, email, phone, address, zone, status, fields,
                    password_hash is not None, created_at, updated_at, closed_at)


# -- validation -----------------------------------------------------------------------

def normalise_phone(text: str, country: str) -> str:
    """``text`` as an E.164 number (``+233540000000``), national numbers read in
    ``country``; ValidationError("phone") if it is not a valid number."""
    try:
        n = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        raise ValidationError("phone", f"{text!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(n):
        raise ValidationError("phone", f"{text!r} is not a valid phone number for {country} "
                                       "(or give it with its country code, e.g. +233...)")
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(text: str) -> str:
    """``text`` stripped and lower-cased; ValidationError("email") if it is not an address."""
    e = text.strip().lower()
    if len(e) > 254 or not _EMAIL_RE.fullmatch(e):
        raise ValidationError("email", f"{text!r} is not an e-mail address")
    return e


def slug(name: str) -> str:
    """``John Doé`` -> ``john-doe``: ASCII letters and digits joined by ``-`` (at most 40)."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return s[:40].rstrip("-") or "customer"


def _clean(conn: Connection, org_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the given fields (only those present)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "name":
            if not isinstance(v, str) or not v.strip() or len(v.strip()) > 200:
                raise ValidationError("name", "1 to 200 characters")
            out[k] = v.strip()
        elif k == "email":
            out[k] = None if v in (None, "") else normalise_email(v)
        elif k == "phone":
            out[k] = None if v in (None, "") else normalise_phone(v, settings.get(conn, org_id).country)
        elif k in ("address", "zone"):
            if v is not None and not isinstance(v, str):
                raise ValidationError(k, "text")
            out[k] = v.strip() or None if isinstance(v, str) else None
            if k == "zone" and out[k] is not None and len(out[k]) > 100:
                raise ValidationError(k, "at most 100 characters")
        elif k == "custom_fields":
            if v is None:
                v = {}
            if not isinstance(v, Mapping) or not all(isinstance(x, str) for x in v):
                raise ValidationError(k, "a JSON object (names to values)")
            try:
                out[k] = json.dumps(dict(v), sort_keys=True)
            except (TypeError, ValueError):
                raise ValidationError(k, "values must be JSON (text, numbers, lists, objects)") from None
        elif k == "status":
            if v not in CUSTOMER_STATUSES or v == "closed":
                raise ValidationError(k, "pending, active or suspended (close a customer with close)")
            out[k] = v
        else:
            raise ValidationError(k, "not a customer field")
    return out


def _check_unique(conn: Connection, org_id: int, values: dict[str, Any], exclude: int | None = None) -> None:
    for k in ("email", "phone"):
        if values.get(k) is None:
            continue
        q = sa.select(customers.c.id).where(customers.c.org_id == org_id, customers.c[k] == values[k])
        if exclude is not None:
            q = q.where(customers.c.id != exclude)
        if conn.execute(q).first() is not None:
            raise ValidationError(k, f"{values[k]} belongs to another customer")


def _integrity_field(e: IntegrityError) -> str:
    """The field whose unique constraint refused a write (PostgreSQL names the
    constraint, SQLite the columns)."""
    msg = str(e.orig).lower()
    for k in ("email", "phone", "username"):
        if f"uq_customers_org_{k}" in msg or f"customers.{k}" in msg:
            return k
    raise e


def _username_taken(conn: Connection, org_id: int, username: str) -> bool:
    return conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                        customers.c.username == username)).first() is not None


def new_username(conn: Connection, org_id: int, name: str, rng: random.Random) -> str:
    """A free username: the slug of ``name`` and four random digits (``john-doe-5432``)."""
    base = slug(name)
    for attempt in range(100):
        digits = 4 if attempt < 50 else 6   # a crowded name space: widen it
        u = f"{base}-{rng.randrange(10 ** digits):0{digits}d}"
        if not _username_taken(conn, org_id, u):
            return u
    raise ValidationError("username", f"no free username for {name!r}")


# -- writes ---------------------------------------------------------------------------

def add(conn: Connection, org_id: int, now: datetime, *, name: str, email: str | None = None,
        phone: str | None = None, address: str | None = None, zone: str | None = None,
        custom_fields: Mapping[str, Any] | None = None, status: str = "active",
        rng: random.Random | None = None) -> Customer:
    """Add a customer (see the module docstring); publishes ``customer.created``.
    ValidationError naming the field for a bad or duplicate value."""
    values = _clean(conn, org_id, {"name": name, "email": email, "phone": phone, "address": address,
                                   "zone": zone, "custom_fields": custom_fields, "status": status})
    _check_unique(conn, org_id, values)
    rng = rng or random.SystemRandom()
    for _ in range(5):
        username = new_username(conn, org_id, values["name"], rng)
        try:
            with conn.begin_nested():
                key = conn.execute(customers.insert().values(
                    org_id=org_id, username=username, created_at=now, updated_at=now, **values)
                ).inserted_primary_key
            break
        except IntegrityError as e:
            field = _integrity_field(e)
            if field != "username":   # another transaction took it since our check
                raise ValidationError(field, f"{values[field]} belongs to another customer") from None
    else:
        raise ValidationError("username", f"no free username for {name!r}")
    assert key is not None
    c = _require(conn, org_id, key[0])
    events.publish(conn, org_id, CustomerCreated(c.id, c.username, c.name), now)
    return c


def update(conn: Connection, org_id: int, customer_id: int, now: datetime, **values: Any) -> Customer:
    """Change some of name, email, phone, address, zone, custom_fields, status (same
    checks as :func:`add`).  A closed customer is not changed."""
    c = _require(conn, org_id, customer_id)
    if c.status == "closed":
        raise ValidationError("status", "the customer is closed")
    clean = _clean(conn, org_id, values)
    if not clean:
        return c
    _check_unique(conn, org_id, clean, exclude=customer_id)
    try:
        with conn.begin_nested():
            conn.execute(customers.update().where(customers.c.org_id == org_id, customers.c.id == customer_id)
                         .values(updated_at=now, **clean))
    except IntegrityError as e:
        field = _integrity_field(e)
        raise ValidationError(field, f"{clean.get(field)} belongs to another customer") from None
    return _require(conn, org_id, customer_id)


def set_status(conn: Connection, org_id: int, customer_id: int, status: str, now: datetime) -> bool:
    """Set a customer's status (never of a closed one); False if it already was."""
    n = conn.execute(customers.update().where(
        customers.c.org_id == org_id, customers.c.id == customer_id, customers.c.status != status,
        customers.c.status != "closed").values(status=status, updated_at=now)).rowcount
    return bool(n)


def close(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int, now: datetime,
          reason: str = "") -> Customer:
    """Close a customer: every live service cancelled (a pending one rejected), its login
    removed, the customer ``closed``; all history kept.  Publishes ``customer.closed``."""
    from billing import services
    c = _require(conn, org_id, customer_id)
    if c.status == "closed":
        raise ValidationError("status", "the customer is already closed")
    why = reason or "customer closed"
    today = settings.get(conn, org_id).today(now)
    for s in services.list_services(conn, org_id, customer_id=customer_id):
        if s.state == "pending":
            services.reject(conn, writer, org_id, s.id, now, reason=why)
        elif s.state in ("active", "suspended"):
            # Ends today, or, not yet started, on its start (nothing used, all credited).
            on = max(today, s.start_date) if s.start_date is not None else today
            services.cancel(conn, writer, org_id, s.id, now, on=on, reason=why)
    n = conn.execute(customers.update().where(customers.c.org_id == org_id, customers.c.id == customer_id,
                                              customers.c.status != "closed")
                     .values(status="closed", closed_at=now, updated_at=now)).rowcount
    if not n:
        raise ValidationError("status", "the customer is already closed")
    events.publish(conn, org_id, CustomerClosed(c.id, c.username), now)
    return _require(conn, org_id, customer_id)


def set_password(conn: Connection, org_id: int, customer_id: int, password: str, now: datetime) -> None:
    """Set the portal password (stored as an argon2 hash)."""
    if not isinstance(password, str) or not 8 <= len(password) <= 200:
        raise ValidationError("password", "8 to 200 characters")
    _require(conn, org_id, customer_id)
    conn.execute(customers.update().where(customers.c.org_id == org_id, customers.c.id == customer_id)
                 .values(password_hash=passwords.hash_password(password), updated_at=now))


def verify_password(conn: Connection, org_id: int, customer_id: int, password: str) -> bool:
    """True if ``password`` is the customer's portal password (False if none is set or closed)."""
    r = conn.execute(sa.select(customers.c.password_hash, customers.c.status).where(
        customers.c.org_id == org_id, customers.c.id == customer_id)).first()
    return r is not None and r.status != "closed" and passwords.verify(r.password_hash, password)


# -- reads ----------------------------------------------------------------------------

_GET = sa.select(customers).where(customers.c.org_id == sa.bindparam("org_id"), customers.c.id == sa.bindparam("id"))


def get(conn: Connection, org_id: int, customer_id: int) -> Customer | None:
    r = conn.execute(_GET, {"org_id": org_id, "id": customer_id}).first()
    return None if r is None else from_row(r)


def _require(conn: Connection, org_id: int, customer_id: int) -> Customer:
    c = get(conn, org_id, customer_id)
    if c is None:
        raise NotFound("customer", customer_id)
    return c


def by_username(conn: Connection, org_id: int, username: str) -> Customer | None:
    r = conn.execute(sa.select(customers).where(customers.c.org_id == org_id,
                                                customers.c.username == username)).first()
    return None if r is None else from_row(r)


def find(conn: Connection, org_id: int, key: str | int) -> Customer | None:
    """A customer by id, username, e-mail or phone (any form of the number)."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and len(key) < 10):
        c = get(conn, org_id, int(key))
        if c is not None or isinstance(key, int):
            return c
    key = str(key).strip()
    c = by_username(conn, org_id, key)
    if c is not None:
        return c
    col: Any
    if "@" in key:
        col, value = customers.c.email, key.lower()
    else:
        try:
            col, value = customers.c.phone, normalise_phone(key, settings.get(conn, org_id).country)
        except ValidationError:
            return None
    r = conn.execute(sa.select(customers).where(customers.c.org_id == org_id, col == value)).first()
    return None if r is None else from_row(r)


SORTS = {"id": customers.c.id, "name": customers.c.name, "username": customers.c.username,
         "created_at": customers.c.created_at}


def _query(org_id: int, status: str | None, q: str | None, zone: str | None = None) -> sa.Select[Any]:
    """The org's customers, optionally of one status and zone, matching ``q`` (a part of the
    name, username, e-mail or phone)."""
    query = sa.select(customers).where(customers.c.org_id == org_id)
    if status is not None:
        query = query.where(customers.c.status == status)
    if zone is not None:
        query = query.where(customers.c.zone == zone)
    if q:
        like = f"%{q.strip().lower()}%"
        query = query.where(sa.or_(*(sa.func.lower(customers.c[k]).like(like)
                                     for k in ("name", "username", "email", "phone"))))
    return query


def page(conn: Connection, org_id: int, *, status: str | None = None, q: str | None = None,
         zone: str | None = None, sort: str = "id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Customer]:
    """One page of the org's customers (see :mod:`aaad.paging`), filtered like
    :func:`list_customers` and by zone; ``sort`` is a key of :data:`SORTS`, ``-`` for descending."""
    return paging.page(conn, _query(org_id, status, q, zone), sort=sort, columns=SORTS, id_col=customers.c.id,
                       cursor=cursor, limit=limit, row=from_row)


def list_customers(conn: Connection, org_id: int, status: str | None = None, q: str | None = None,
                   limit: int = 200, offset: int = 0) -> list[Customer]:
    """The org's customers by id, optionally of one status and matching ``q`` (a part of
    the name, username, e-mail or phone)."""
    query = _query(org_id, status, q)
    return [from_row(r) for r in conn.execute(query.order_by(customers.c.id).limit(limit).offset(offset))]
