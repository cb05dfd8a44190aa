"""NAS clients: the routers allowed to talk RADIUS to us, with their secrets.

A request is looked up by its source address: an exact address first (a
dict lookup on the hot path), then the configured networks, most specific
first.  A packet from an address no NAS covers is discarded silently.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import changes, paging
from aaad.crypto import SecretBox
from aaad.errors import NotFound
from aaad.orgs import ValidationError
from aaad.schema import nas as nas_t

NAS_TYPES = ("mikrotik", "other")


@dataclass(frozen=True, slots=True)
class Nas:
    id: int
    org_id: int
    name: str
    address: str
    secret: bytes
    type: str
    coa_port: int
    require_message_authenticator: bool
    api_host: str | None = None
    api_port: int | None = None
    api_username: str | None = None
    api_password: bytes | None = None
    api_tls: bool = False


def _row(r, box: SecretBox) -> Nas:  # type: ignore[no-untyped-def]
    return Nas(r.id, r.org_id, r.name, r.address, box.decrypt(r.secret_enc), r.type, r.coa_port,
               bool(r.require_message_authenticator), r.api_host, r.api_port, r.api_username,
               box.decrypt(r.api_password_enc) if r.api_password_enc else None, bool(r.api_tls))


def normalise_address(address: str) -> str:
    try:
        net = ipaddress.ip_network(address, strict=False)
    except ValueError:
        raise ValidationError("address", f"{address!r} is not an IP address or network") from None
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def add(conn: Connection, box: SecretBox, org_id: int, name: str, address: str, secret: str,
        now: datetime, *, type: str = "mikrotik", coa_port: int = 3799,
        require_message_authenticator: bool = True, api_host: str | None = None,
        api_port: int | None = None, api_username: str | None = None,
        api_password: str | None = None, api_tls: bool = False) -> Nas:
    if not secret:
        raise ValidationError("secret", "must not be empty")
    if type not in NAS_TYPES:
        raise ValidationError("type", f"one of {', '.join(NAS_TYPES)}")
    if not 0 < coa_port < 65536:
        raise ValidationError("coa_port", "a port number")
    addr = normalise_address(address)
    if conn.execute(sa.select(nas_t.c.id).where(nas_t.c.address == addr)).first():
        raise ValidationError("address", f"a NAS with address {addr} already exists")
    if conn.execute(sa.select(nas_t.c.id).where(nas_t.c.org_id == org_id, nas_t.c.name == name)).first():
        raise ValidationError("name", f"a NAS named {name!r} already exists in this org")
    pk = conn.execute(nas_t.insert().values(
        org_id=org_id, name=name, address=addr, secret_enc=box.encrypt(secret), type=type,
        coa_port=coa_port, require_message_authenticator=require_message_authenticator,
        api_host=api_host, api_port=api_port, api_username=api_username,
        api_password_enc=box.encrypt(api_password) if api_password else None, api_tls=api_tls,
        created_at=now)).inserted_primary_key
    assert pk is not None  # an INSERT always has one
    nid = pk[0]
    n = get(conn, box, org_id, nid)
    assert n is not None  # just inserted in this transaction
    changes.record(conn, org_id, "nas", nid, "upsert", now, n)
    return n


_UNSET: Any = object()


def update(conn: Connection, box: SecretBox, org_id: int, name: str, now: datetime, *,
           address: str | None = None, secret: str | None = None, type: str | None = None,
           coa_port: int | None = None, require_message_authenticator: bool | None = None,
           api_host: Any = _UNSET, api_port: Any = _UNSET, api_username: Any = _UNSET,
           api_password: Any = _UNSET, api_tls: bool | None = None) -> Nas:
    """Change the NAS named ``name`` (None or unset: keep; the api_* fields take None to clear them)."""
    r = conn.execute(sa.select(nas_t.c.id).where(nas_t.c.org_id == org_id, nas_t.c.name == name)).first()
    if r is None:
        raise ValidationError("name", f"no NAS named {name!r} in this org")
    return update_by_id(conn, box, org_id, r.id, now, address=address, secret=secret, type=type,
                        coa_port=coa_port, require_message_authenticator=require_message_authenticator,
                        api_host=api_host, api_port=api_port, api_username=api_username,
                        api_password=api_password, api_tls=api_tls)


def update_by_id(conn: Connection, box: SecretBox, org_id: int, nas_id: int, now: datetime, *,
                 name: str | None = None, address: str | None = None, secret: str | None = None,
                 type: str | None = None, coa_port: int | None = None,
                 require_message_authenticator: bool | None = None, api_host: Any = _UNSET,
                 api_port: Any = _UNSET, api_username: Any = _UNSET, api_password: Any = _UNSET,
                 api_tls: bool | None = None) -> Nas:
    """Change the org's NAS ``nas_id`` (as :func:`update`; ``name`` renames it); NotFound if the org
    has no such NAS."""
    r = conn.execute(sa.select(nas_t.c.id, nas_t.c.name).where(nas_t.c.org_id == org_id,
                                                               nas_t.c.id == nas_id)).first()
    if r is None:
        raise NotFound("nas", nas_id)
    values: dict[str, Any] = {}
    if name is not None and name != r.name:
        if not name:
            raise ValidationError("name", "must not be empty")
        if conn.execute(sa.select(nas_t.c.id).where(nas_t.c.org_id == org_id, nas_t.c.name == name)).first():
            raise ValidationError("name", f"a NAS named {name!r} already exists in this org")
        values["name"] = name
    if address is not None:
        addr = normalise_address(address)
        if conn.execute(sa.select(nas_t.c.id).where(nas_t.c.address == addr, nas_t.c.id != r.id)).first():
            raise ValidationError("address", f"a NAS with address {addr} already exists")
        values["address"] = addr
    if secret is not None:
        if not secret:
            raise ValidationError("secret", "must not be empty")
        values["secret_enc"] = box.encrypt(secret)
    if type is not None:
        if type not in NAS_TYPES:
            raise ValidationError("type", f"one of {', '.join(NAS_TYPES)}")
        values["type"] = type
    if coa_port is not None:
        if not 0 < coa_port < 65536:
            raise ValidationError("coa_port", "a port number")
        values["coa_port"] = coa_port
    if require_message_authenticator is not None:
        values["require_message_authenticator"] = require_message_authenticator
    if api_port is not _UNSET and api_port is not None and not 0 < api_port < 65536:
        raise ValidationError("api_port", "a port number")
    for key, v in (("api_host", api_host), ("api_port", api_port), ("api_username", api_username)):
        if v is not _UNSET:
            values[key] = v
    if api_password is not _UNSET:
        values["api_password_enc"] = box.encrypt(api_password) if api_password else None
    if api_tls is not None:
        values["api_tls"] = api_tls
    if values:
        conn.execute(nas_t.update().where(nas_t.c.id == r.id).values(**values))
    n = get(conn, box, org_id, r.id)
    assert n is not None
    if values:
        changes.record(conn, org_id, "nas", r.id, "upsert", now, n)
    return n


def get(conn: Connection, box: SecretBox, org_id: int, nas_id: int) -> Nas | None:
    r = conn.execute(sa.select(nas_t).where(nas_t.c.org_id == org_id, nas_t.c.id == nas_id)).first()
    return _row(r, box) if r else None


def get_many(conn: Connection, box: SecretBox, nas_ids: Iterable[int]) -> dict[int, Nas]:
    """The NAS with these ids, whatever their org (the action sender serves every org)."""
    ids = list(nas_ids)
    return {n.id: n for n in (_row(r, box) for r in conn.execute(sa.select(nas_t).where(nas_t.c.id.in_(ids))))} \
        if ids else {}


def list_all(conn: Connection, box: SecretBox, org_id: int | None = None) -> list[Nas]:
    q = sa.select(nas_t).order_by(nas_t.c.id)
    if org_id is not None:
        q = q.where(nas_t.c.org_id == org_id)
    return [_row(r, box) for r in conn.execute(q)]


def remove(conn: Connection, org_id: int, name: str, now: datetime) -> bool:
    r = conn.execute(sa.select(nas_t.c.id).where(nas_t.c.org_id == org_id, nas_t.c.name == name)).first()
    if r is None:
        return False
    return remove_by_id(conn, org_id, r.id, now)


def remove_by_id(conn: Connection, org_id: int, nas_id: int, now: datetime) -> bool:
    """Remove the org's NAS ``nas_id``; False if the org has none such."""
    n = conn.execute(nas_t.delete().where(nas_t.c.org_id == org_id, nas_t.c.id == nas_id)).rowcount
    if n:
        changes.record(conn, org_id, "nas", nas_id, "delete", now)
    return bool(n)


#: Sort keys of :func:`page` (NOT NULL columns).
SORTS: dict[str, sa.ColumnElement[Any]] = {"id": nas_t.c.id, "name": nas_t.c.name, "address": nas_t.c.address}


def page(conn: Connection, box: SecretBox, org_id: int, *, type: str | None = None, q: str | None = None,
         sort: str = "id", cursor: str | None = None, limit: int = 50) -> paging.Page[Nas]:
    """One page of the org's NAS clients (see :mod:`aaad.paging`), of one type and whose name or
    address contains ``q``; ``sort`` is a key of :data:`SORTS`, ``-`` for descending."""
    query = sa.select(nas_t).where(nas_t.c.org_id == org_id)
    if type is not None:
        query = query.where(nas_t.c.type == type)
    if q:
        like = f"%{q.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(nas_t.c.name).like(like), nas_t.c.address.like(like)))
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=nas_t.c.id, cursor=cursor, limit=limit,
                       row=lambda r: _row(r, box))


class NasTable:
    """In-memory lookup of NAS clients by source address (the hot path)."""

    def __init__(self) -> None:
        self._by_id: dict[int, Nas] = {}
        self._exact: dict[str, Nas] = {}
        self._nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Nas]] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def load(self, all_nas: list[Nas]) -> None:
        self._by_id = {n.id: n for n in all_nas}
        self._rebuild()

    def upsert(self, n: Nas) -> None:
        self._by_id[n.id] = n
        self._rebuild()

    def remove(self, nas_id: int) -> None:
        if self._by_id.pop(nas_id, None) is not None:
            self._rebuild()

    def by_id(self, nas_id: int) -> Nas | None:
        return self._by_id.get(nas_id)

    def all(self) -> list[Nas]:
        return list(self._by_id.values())

    def _rebuild(self) -> None:
        exact: dict[str, Nas] = {}
        nets = []
        for n in self._by_id.values():
            net = ipaddress.ip_network(n.address, strict=False)
            if net.num_addresses == 1:
                exact[str(net.network_address)] = n
            else:
                nets.append((net, n))
        nets.sort(key=lambda x: x[0].prefixlen, reverse=True)
        self._exact, self._nets = exact, nets

    def lookup(self, host: str) -> Nas | None:
        """The NAS for a source address, or None (discard silently)."""
        n = self._exact.get(host)
        if n is not None or not self._nets:
            return n
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        for net, n in self._nets:
            if ip in net:
                return n
        return None
