"""/nas: the org's NAS clients (routers), with their RouterOS API settings.

The RADIUS secret and the API password are write-only: a response says
whether they are set (``has_secret``, ``has_api_password``), never what they are.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from aaad import nas
from aaad.errors import NotFound
from web.api.coretypes import Text
from web.api.declare import Call, Deleted, Id, In, ListQuery, Out, Page, Router

router = Router("nas", "NAS clients: the routers that send RADIUS requests, and their RouterOS API settings")

NasType = Literal["mikrotik", "other"]
NasSort = Literal["id", "-id", "name", "-name", "address", "-address"]
Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[Text, Field(min_length=1, max_length=100)]
Address = Annotated[Text, Field(min_length=1, max_length=64, description="An IP address or a network (CIDR) "
                                                                          "the router sends from.")]
Secret = Annotated[Text, Field(min_length=1, max_length=128, description="Write-only.")]
ApiHost = Annotated[Text, Field(min_length=1, max_length=255)]
ApiUser = Annotated[Text, Field(min_length=1, max_length=100)]


class NasOut(Out):
    id: int
    name: str
    address: str = Field(description="IP address or network (CIDR).")
    type: NasType
    coa_port: int = Field(description="The router's CoA/Disconnect port (RouterOS: 3799).")
    require_message_authenticator: bool = Field(description="Access-Requests without Message-Authenticator "
                                                            "are dropped (Blast-RADIUS).")
    has_secret: bool = Field(description="Whether the RADIUS shared secret is set (always).")
    api_host: str | None = Field(description="RouterOS API address, if not the NAS address.")
    api_port: int | None = Field(description="RouterOS API port (8728 plain, 8729 TLS).")
    api_username: str | None
    has_api_password: bool = Field(description="Whether a RouterOS API password is stored.")
    api_tls: bool


class NasQuery(ListQuery):
    type: NasType | None = None
    q: Text | None = Field(None, max_length=100, description="Part of the name or address.")
    sort: NasSort = "id"


class NasIn(In):
    name: Name
    address: Address
    secret: Secret = Field(description="The RADIUS shared secret (write-only; also signs CoA/Disconnect).")
    type: NasType = "mikrotik"
    coa_port: Port = 3799
    require_message_authenticator: bool = True
    api_host: ApiHost | None = None
    api_port: Port | None = None
    api_username: ApiUser | None = None
    api_password: Secret | None = Field(None, description="RouterOS API password (write-only, stored encrypted).")
    api_tls: bool = False


class NasPatch(In):
    name: Name | None = None
    address: Address | None = None
    secret: Secret | None = Field(None, description="A new RADIUS shared secret (write-only).")
    type: NasType | None = None
    coa_port: Port | None = None
    require_message_authenticator: bool | None = None
    api_host: ApiHost | None = Field(None, description="null clears it.")
    api_port: Port | None = Field(None, description="null clears it.")
    api_username: ApiUser | None = Field(None, description="null clears it.")
    api_password: Secret | None = Field(None, description="Write-only; null clears it.")
    api_tls: bool | None = None


class NasPath(In):
    nas_id: Id


def out(n: nas.Nas) -> NasOut:
    return NasOut.model_validate({
        "id": n.id, "name": n.name, "address": n.address, "type": n.type, "coa_port": n.coa_port,
        "require_message_authenticator": n.require_message_authenticator, "has_secret": bool(n.secret),
        "api_host": n.api_host, "api_port": n.api_port, "api_username": n.api_username,
        "has_api_password": bool(n.api_password), "api_tls": n.api_tls})


def _existing(call: Call, nas_id: int) -> Any:
    """A ``before`` for writes: the NAS as it was, NotFound if the org has none such."""
    def before(conn: Any) -> nas.Nas:
        n = nas.get(conn, call.deps.box, call.org_id, nas_id)
        if n is None:
            raise NotFound("nas", nas_id)
        return n
    return before


@router.get("/nas", summary="List NAS clients")
async def list_nas(call: Call, query: NasQuery) -> Page[NasOut]:
    """The org's NAS clients, of one type and matching a search text; sorted by id unless asked."""
    p = await call.read(nas.page, call.deps.box, call.org_id, type=query.type, q=query.q, sort=query.sort,
                        cursor=query.cursor, limit=query.limit)
    return Page[NasOut](items=[out(n) for n in p.items], next_cursor=p.next_cursor)


@router.get("/nas/{nas_id}", summary="A NAS client")
async def get_nas(call: Call, path: NasPath) -> NasOut:
    n = await call.read(nas.get, call.deps.box, call.org_id, path.nas_id)
    if n is None:
        raise NotFound("nas", path.nas_id)
    return out(n)


@router.post("/nas", summary="Add a NAS client")
async def create_nas(call: Call, body: NasIn) -> NasOut:
    """A new NAS client; it may send requests within a second. The address (or network) is unique
    across the whole aaad (a request is told apart by its source address), the name within the org."""
    n = await call.write(nas.add, call.deps.box, call.org_id, body.name, body.address, body.secret, call.now,
                         type=body.type, coa_port=body.coa_port,
                         require_message_authenticator=body.require_message_authenticator,
                         api_host=body.api_host, api_port=body.api_port, api_username=body.api_username,
                         api_password=body.api_password, api_tls=body.api_tls, target=f"nas {body.name}")
    return out(n)


@router.patch("/nas/{nas_id}", summary="Change a NAS client")
async def update_nas(call: Call, path: NasPath, body: NasPatch) -> NasOut:
    """Change the fields sent; null clears an API setting (api_host, api_port, api_username, api_password)
    and leaves the others as they are."""
    values = body.model_dump(exclude_unset=True)
    for key in ("name", "address", "secret", "type", "coa_port", "require_message_authenticator", "api_tls"):
        if key in values and values[key] is None:
            values.pop(key)
    n = await call.write(nas.update_by_id, call.deps.box, call.org_id, path.nas_id, call.now, **values,
                         target=f"nas {path.nas_id}", before=_existing(call, path.nas_id))
    return out(n)


@router.delete("/nas/{nas_id}", summary="Remove a NAS client")
async def delete_nas(call: Call, path: NasPath) -> Deleted:
    """Remove the NAS client: its requests are dropped from then on."""
    await call.write(nas.remove_by_id, call.org_id, path.nas_id, call.now, target=f"nas {path.nas_id}",
                     before=_existing(call, path.nas_id))
    return Deleted(id=path.nas_id)
