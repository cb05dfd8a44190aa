"""Orgs: the tenants. Every tenant-owned row carries org_id."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.errors import ValidationError as ValidationError  # re-exported: callers catch orgs.ValidationError
from aaad.schema import orgs

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# An org's portal lives at /{slug}/portal/, beside the web root's own
# top-level paths; a slug equal to one of them would make that org's
# portal unreachable (or shadow the route), so it is refused.
RESERVED_SLUGS = frozenset({"admin", "api", "gateway", "healthz", "hooks", "metrics", "static"})


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    slug: str
    name: str
    timezone: str
    currency: str


def _row(r) -> Org:  # type: ignore[no-untyped-def]
    return Org(r.id, r.slug, r.name, r.timezone, r.currency)


def validate(slug: str, tz: str, currency: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationError("slug", "lower-case letters, digits and '-', at most 63, starting with a letter or digit")
    if slug in RESERVED_SLUGS:
        raise ValidationError("slug", f"{slug!r} is reserved for the web root's /{slug}/ path "
                                      f"(reserved: {', '.join(sorted(RESERVED_SLUGS))})")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("timezone", f"unknown time zone {tz!r}") from None
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError("currency", "an ISO 4217 code such as USD or KES")


def add(conn: Connection, slug: str, name: str, now: datetime, tz: str = "UTC", currency: str = "USD") -> Org:
    validate(slug, tz, currency)
    if get_by_slug(conn, slug) is not None:
        raise ValidationError("slug", f"an org {slug!r} already exists")
    pk = conn.execute(orgs.insert().values(slug=slug, name=name, timezone=tz, currency=currency,
                                           created_at=now)).inserted_primary_key
    assert pk is not None  # an INSERT always has one
    oid = pk[0]
    return Org(oid, slug, name, tz, currency)


def get_by_slug(conn: Connection, slug: str) -> Org | None:
    r = conn.execute(sa.select(orgs).where(orgs.c.slug == slug)).first()
    return _row(r) if r else None


def get(conn: Connection, org_id: int) -> Org | None:
    r = conn.execute(sa.select(orgs).where(orgs.c.id == org_id)).first()
    return _row(r) if r else None


def list_all(conn: Connection) -> list[Org]:
    return [_row(r) for r in conn.execute(sa.select(orgs).order_by(orgs.c.id))]
