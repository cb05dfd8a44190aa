"""Contracts: the org's contract text, versioned, and customers' signatures of it.

An admin adds versions (never edited: a change is a new version); the newest
is the current one.  A customer signs the current version by typing their
full name and ticking the agreement; the signature keeps the version, the
name as typed, the time, the IP address and the user agent on the
customer's record, with a PDF copy of the signed text (WeasyPrint, from the
same HTML) kept in the database, which no web folder serves: admins fetch
it through the API, the customer never needs to.

Rendering a PDF takes a while, so a page renders it first (``signed_pdf``,
on a reading thread) and then records the signature (``sign``, on the
writer) with it; ``sign`` refuses a version that is no longer current.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Connection

from aaad import orgs, paging
from aaad.errors import NotFound, ValidationError
from billing import documents, settings
from billing.schema import contract_signatures, contracts, customers

MAX_BODY = 200_000


@dataclass(frozen=True)
class Contract:
    id: int
    org_id: int
    version: int
    title: str
    body: str
    created_at: datetime

    @property
    def paragraphs(self) -> list[str]:
        """The body's paragraphs (blank lines separate them)."""
        return [p.strip() for p in self.body.replace("\r\n", "\n").split("\n\n") if p.strip()]


@dataclass(frozen=True)
class Signature:
    id: int
    org_id: int
    customer_id: int
    contract_id: int
    version: int
    full_name: str
    ip: str
    user_agent: str
    signed_at: datetime


def _contract(r: Any) -> Contract:
    return Contract(r.id, r.org_id, r.version, r.title, r.body, r.created_at)


def _signature(r: Any) -> Signature:
    return Signature(r.id, r.org_id, r.customer_id, r.contract_id, r.version, r.full_name, r.ip, r.user_agent,
                     r.signed_at)


# -- versions ------------------------------------------------------------------------------

def add_version(conn: Connection, org_id: int, now: datetime, *, title: str, body: str) -> Contract:
    """A new version of the org's contract (1, 2, ...): from now on the one customers sign."""
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if not title or len(title) > 200:
        raise ValidationError("title", "1 to 200 characters")
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY:
        raise ValidationError("body", f"the contract's text, 1 to {MAX_BODY} characters")
    last = conn.execute(sa.select(sa.func.max(contracts.c.version)).where(contracts.c.org_id == org_id)).scalar()
    key = conn.execute(contracts.insert().values(org_id=org_id, version=(last or 0) + 1, title=title,
                                                 body=body.strip(), created_at=now)).inserted_primary_key
    assert key is not None
    return require(conn, org_id, key[0])


def get(conn: Connection, org_id: int, contract_id: int) -> Contract | None:
    r = conn.execute(sa.select(contracts).where(contracts.c.org_id == org_id, contracts.c.id == contract_id)).first()
    return None if r is None else _contract(r)


def require(conn: Connection, org_id: int, contract_id: int) -> Contract:
    c = get(conn, org_id, contract_id)
    if c is None:
        raise NotFound("contract", contract_id)
    return c


def current(conn: Connection, org_id: int) -> Contract | None:
    """The version customers sign now (the newest), or None: the org has no contract."""
    r = conn.execute(sa.select(contracts).where(contracts.c.org_id == org_id)
                     .order_by(contracts.c.version.desc()).limit(1)).first()
    return None if r is None else _contract(r)


SORTS = {"id": contracts.c.id, "version": contracts.c.version, "created_at": contracts.c.created_at}


def page(conn: Connection, org_id: int, *, sort: str = "-version", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Contract]:
    """One page of the org's contract versions (newest first by default)."""
    query = sa.select(contracts).where(contracts.c.org_id == org_id)
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=contracts.c.id, cursor=cursor, limit=limit,
                       row=_contract)


# -- signing -------------------------------------------------------------------------------

def to_sign(conn: Connection, org_id: int, customer_id: int) -> Contract | None:
    """The current contract if the customer has not signed it yet (None: nothing to sign)."""
    c = current(conn, org_id)
    if c is None or signature_for(conn, org_id, customer_id, c.id) is not None:
        return None
    return c


def signature_for(conn: Connection, org_id: int, customer_id: int, contract_id: int) -> Signature | None:
    r = conn.execute(sa.select(*_COLUMNS).where(
        contract_signatures.c.org_id == org_id, contract_signatures.c.customer_id == customer_id,
        contract_signatures.c.contract_id == contract_id)).first()
    return None if r is None else _signature(r)


def check_signature(full_name: str, agreed: bool) -> str:
    """The typed name, cleaned; ValidationError(``full_name`` or ``agree``) when missing."""
    name = " ".join(full_name.split())
    if len(name) < 2 or len(name) > 200:
        raise ValidationError("full_name", "Type your full name to sign.")
    if not agreed:
        raise ValidationError("agree", "Tick the box to agree to the contract.")
    return name


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(documents.TEMPLATES)), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def signed_html(conn: Connection, org_id: int, contract_id: int, customer_id: int, *, full_name: str,
                signed_at: datetime, ip: str, user_agent: str) -> str:
    """The signed copy as HTML: the contract's text, the parties and the signature's details."""
    c = require(conn, org_id, contract_id)
    org = orgs.get(conn, org_id)
    st = settings.get(conn, org_id)
    cust = conn.execute(sa.select(customers.c.name, customers.c.username, customers.c.email)
                        .where(customers.c.org_id == org_id, customers.c.id == customer_id)).first()
    if org is None or cust is None:
        raise NotFound("customer", customer_id)
    locale = st.locale or "en_US"
    local = signed_at.astimezone(ZoneInfo(st.timezone))
    return _env().get_template("contract.html").render(
        contract=c, seller=st.brand_name or org.name, colour=st.brand_colour or documents.DEFAULT_COLOUR,
        customer=cust, full_name=full_name, ip=ip, user_agent=user_agent, lang=locale.split("_")[0],
        signed_at=local.strftime("%Y-%m-%d %H:%M:%S %Z"), signed_utc=signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"))


def signed_pdf(conn: Connection, org_id: int, contract_id: int, customer_id: int, *, full_name: str,
               signed_at: datetime, ip: str, user_agent: str) -> bytes:
    """The signed copy as PDF (WeasyPrint; slow: run it off the writer)."""
    return documents.html_to_pdf(signed_html(conn, org_id, contract_id, customer_id, full_name=full_name,
                                             signed_at=signed_at, ip=ip, user_agent=user_agent))


def sign(conn: Connection, org_id: int, customer_id: int, contract_id: int, now: datetime, *, full_name: str,
         agreed: bool, ip: str, user_agent: str, pdf: bytes) -> Signature:
    """Record the customer's signature of the contract version they read (it must still be the current
    one: ValidationError("contract") otherwise) with its PDF copy.  Signing the same version again
    returns the first signature."""
    name = check_signature(full_name, agreed)
    cur = current(conn, org_id)
    if cur is None or cur.id != contract_id:
        require(conn, org_id, contract_id)
        raise ValidationError("contract", "The contract has changed since you opened it: read the new "
                                          "version and sign again.")
    if conn.execute(sa.select(customers.c.id).where(customers.c.org_id == org_id,
                                                    customers.c.id == customer_id)).first() is None:
        raise NotFound("customer", customer_id)
    done = signature_for(conn, org_id, customer_id, contract_id)
    if done is not None:
        return done
    if not pdf.startswith(b"%PDF"):
        raise ValidationError("pdf", "not a PDF")
    key = conn.execute(contract_signatures.insert().values(
        org_id=org_id, customer_id=customer_id, contract_id=contract_id, version=cur.version, full_name=name,
        ip=ip[:64], user_agent=user_agent[:500], signed_at=now, pdf=pdf)).inserted_primary_key
    assert key is not None
    got = get_signature(conn, org_id, key[0])
    assert got is not None
    return got


_COLUMNS = [c for c in contract_signatures.c if c.name != "pdf"]


def get_signature(conn: Connection, org_id: int, signature_id: int) -> Signature | None:
    r = conn.execute(sa.select(*_COLUMNS).where(contract_signatures.c.org_id == org_id,
                                                contract_signatures.c.id == signature_id)).first()
    return None if r is None else _signature(r)


def signature_pdf(conn: Connection, org_id: int, signature_id: int) -> bytes:
    """The signed PDF copy (NotFound for another org's or an unknown signature)."""
    r = conn.execute(sa.select(contract_signatures.c.pdf).where(contract_signatures.c.org_id == org_id,
                                                                contract_signatures.c.id == signature_id)).first()
    if r is None:
        raise NotFound("contract signature", signature_id)
    return bytes(r.pdf)


def signatures_of(conn: Connection, org_id: int, customer_id: int) -> list[Signature]:
    """The customer's signatures, oldest first (what the admin sees on the customer's record)."""
    return [_signature(r) for r in conn.execute(
        sa.select(*_COLUMNS).where(contract_signatures.c.org_id == org_id,
                                   contract_signatures.c.customer_id == customer_id)
        .order_by(contract_signatures.c.id))]


SIGNATURE_SORTS = {"id": contract_signatures.c.id, "signed_at": contract_signatures.c.signed_at}


def signature_page(conn: Connection, org_id: int, *, customer_id: int | None = None,
                   contract_id: int | None = None, sort: str = "-id", cursor: str | None = None,
                   limit: int = 50) -> paging.Page[Signature]:
    """One page of the org's contract signatures, of one customer and/or one version."""
    query = sa.select(*_COLUMNS).where(contract_signatures.c.org_id == org_id)
    if customer_id is not None:
        query = query.where(contract_signatures.c.customer_id == customer_id)
    if contract_id is not None:
        query = query.where(contract_signatures.c.contract_id == contract_id)
    return paging.page(conn, query, sort=sort, columns=SIGNATURE_SORTS, id_col=contract_signatures.c.id,
                       cursor=cursor, limit=limit, row=_signature)


def require_signature(conn: Connection, org_id: int, signature_id: int) -> Signature:
    s = get_signature(conn, org_id, signature_id)
    if s is None:
        raise NotFound("contract signature", signature_id)
    return s
