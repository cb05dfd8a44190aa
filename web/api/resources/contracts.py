"""/contracts and /contract-signatures: the org's versioned contract text and customers' signatures of it.

A new text is a new version (versions are never edited); the newest is the
one the portal asks customers to sign.  A signature keeps the version, the
name typed, the time, the IP address and the user agent, and a signed PDF
copy (``/contract-signatures/{id}.pdf``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from billing.signup import contracts
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Raw, Router
from web.api.resources._billing import Text

router = Router("contracts", "Contracts: versioned contract text, and customers' signatures with their "
                             "signed PDF copies")


class ContractOut(Out):
    id: int
    version: int = Field(description="1, 2, ... per org; the newest is current.")
    title: str
    body: str = Field(description="Plain text; blank lines separate paragraphs.")
    current: bool = Field(description="The version customers sign now.")
    created_at: datetime


class ContractQuery(ListQuery):
    sort: Literal["-version", "version", "-id", "id", "-created_at", "created_at"] = "-version"


class ContractPath(In):
    contract_id: Id


class ContractIn(In):
    title: Text = Field(min_length=1, max_length=200)
    body: Text = Field(min_length=1, max_length=contracts.MAX_BODY)


def _contract(c: contracts.Contract, current_id: int | None) -> ContractOut:
    return ContractOut(id=c.id, version=c.version, title=c.title, body=c.body, current=c.id == current_id,
                       created_at=c.created_at)


def _current_id(conn: Connection, org_id: int) -> int | None:
    cur = contracts.current(conn, org_id)
    return None if cur is None else cur.id


@router.get("/contracts", summary="List contract versions")
async def list_contracts(call: Call, query: ContractQuery) -> Page[ContractOut]:
    """The org's contract versions, newest first unless asked."""
    def run(conn: Connection) -> Page[ContractOut]:
        p = contracts.page(conn, call.org_id, sort=query.sort, cursor=query.cursor,
                           limit=query.limit)
        cur = _current_id(conn, call.org_id)
        return Page[ContractOut](items=[_contract(c, cur) for c in p.items], next_cursor=p.next_cursor)
    return await call.read(run)


@router.get("/contracts/{contract_id}", summary="A contract version")
async def get_contract(call: Call, path: ContractPath) -> ContractOut:
    def run(conn: Connection) -> ContractOut:
        return _contract(contracts.require(conn, call.org_id, path.contract_id),
                         _current_id(conn, call.org_id))
    return await call.read(run)


@router.post("/contracts", summary="Publish a new contract version")
async def create_contract(call: Call, body: ContractIn) -> ContractOut:
    """A new version of the contract text: from now on the one customers sign on the portal (those who
    signed an earlier version are asked again with their next order)."""
    def add(conn: Connection) -> ContractOut:
        c = contracts.add_version(conn, call.org_id, call.now, title=body.title,
                                  body=body.body)
        return _contract(c, c.id)
    return await call.write(add, target="contract")


# -- signatures -----------------------------------------------------------------------------------

class SignatureOut(Out):
    id: int
    customer_id: int
    contract_id: int
    version: int
    full_name: str = Field(description="The name the customer typed to sign.")
    ip: str
    user_agent: str
    signed_at: datetime


class SignatureQuery(ListQuery):
    customer_id: Id | None = None
    contract_id: Id | None = None
    sort: Literal["-id", "id", "-signed_at", "signed_at"] = "-id"


class SignaturePath(In):
    contract_signature_id: Id


@router.get("/contract-signatures", summary="List contract signatures")
async def list_contract_signatures(call: Call, query: SignatureQuery) -> Page[SignatureOut]:
    """Who signed which version, when, from where; of one customer or one version if asked."""
    p = await call.read(contracts.signature_page, call.org_id, customer_id=query.customer_id,
                        contract_id=query.contract_id, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[SignatureOut](items=[SignatureOut.model_validate(s) for s in p.items], next_cursor=p.next_cursor)


@router.get("/contract-signatures/{contract_signature_id}", summary="A contract signature")
async def get_contract_signature(call: Call, path: SignaturePath) -> SignatureOut:
    return SignatureOut.model_validate(await call.read(contracts.require_signature, call.org_id,
                                                       path.contract_signature_id))


@router.get("/contract-signatures/{contract_signature_id}.pdf", summary="A signed contract as PDF",
            media="application/pdf")
async def get_contract_signature_pdf(call: Call, path: SignaturePath) -> Raw:
    """The signed PDF copy kept when the customer signed (the contract's text and the signature's details)."""
    pdf = await call.read(contracts.signature_pdf, call.org_id, path.contract_signature_id)
    return Raw(pdf, "application/pdf", f"contract-signature-{path.contract_signature_id}.pdf")
