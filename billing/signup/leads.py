"""Leads: "not yet available here" — a visitor's contact details, kept for when coverage reaches them.

A lead names a person and how to reach them (an e-mail address or a phone
number, normalised like a customer's), where they asked about (the area,
postcode or coordinates they gave the coverage step) and a note.  Admins work
through them (status ``new`` -> ``contacted`` -> ``closed``) over the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing import customers, settings
from billing.schema import leads
from billing.signup.coverage import Place, check_point, normalise_postcode

STATUSES = ("new", "contacted", "closed")


@dataclass(frozen=True)
class Lead:
    id: int
    org_id: int
    name: str
    email: str | None
    phone: str | None
    area: str
    postcode: str
    latitude: float | None
    longitude: float | None
    note: str
    status: str
    created_at: datetime
    updated_at: datetime


def _lead(r: Any) -> Lead:
    return Lead(r.id, r.org_id, r.name, r.email, r.phone, r.area, r.postcode, r.latitude, r.longitude, r.note,
                r.status, r.created_at, r.updated_at)


def check(conn: Connection, org_id: int, *, name: str, email: str = "", phone: str = "",
          note: str = "") -> dict[str, Any]:
    """The contact fields validated and normalised; ValidationError names the first bad field (``name``,
    ``email``, ``phone`` (neither given: ``email``), ``note``)."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationError("name", "Type your name (at most 200 characters).")
    email, phone = email.strip(), phone.strip()
    if not email and not phone:
        raise ValidationError("email", "Give an e-mail address or a phone number so we can reach you.")
    out: dict[str, Any] = {"name": name, "email": None, "phone": None}
    if email:
        out["email"] = customers.normalise_email(email)
    if phone:
        out["phone"] = customers.normalise_phone(phone, settings.get(conn, org_id).country)
    if len(note) > 2000:
        raise ValidationError("note", "At most 2000 characters.")
    out["note"] = note.strip()
    return out


def add(conn: Connection, org_id: int, now: datetime, *, name: str, email: str = "", phone: str = "",
        note: str = "", place: Place | None = None) -> Lead:
    """Keep a visitor's contact details and where they asked about."""
    place = place or Place()
    values = check(conn, org_id, name=name, email=email, phone=phone, note=note)
    if place.latitude is not None or place.longitude is not None:
        if place.latitude is None or place.longitude is None:
            raise ValidationError("coordinates", "both latitude and longitude")
        check_point(place.latitude, place.longitude)
    key = conn.execute(leads.insert().values(
        org_id=org_id, area=" ".join(place.area.split())[:100], postcode=normalise_postcode(place.postcode)[:32],
        latitude=place.latitude, longitude=place.longitude, status="new", created_at=now, updated_at=now,
        **values)).inserted_primary_key
    assert key is not None
    return require(conn, org_id, key[0])


def get(conn: Connection, org_id: int, lead_id: int) -> Lead | None:
    r = conn.execute(sa.select(leads).where(leads.c.org_id == org_id, leads.c.id == lead_id)).first()
    return None if r is None else _lead(r)


def require(conn: Connection, org_id: int, lead_id: int) -> Lead:
    got = get(conn, org_id, lead_id)
    if got is None:
        raise NotFound("lead", lead_id)
    return got


def update(conn: Connection, org_id: int, lead_id: int, now: datetime, *, status: str | None = None,
           note: str | None = None) -> Lead:
    """An admin's progress on a lead: its status and/or note."""
    require(conn, org_id, lead_id)
    values: dict[str, Any] = {}
    if status is not None:
        if status not in STATUSES:
            raise ValidationError("status", f"one of {', '.join(STATUSES)}")
        values["status"] = status
    if note is not None:
        if len(note) > 2000:
            raise ValidationError("note", "at most 2000 characters")
        values["note"] = note.strip()
    if values:
        conn.execute(leads.update().where(leads.c.org_id == org_id, leads.c.id == lead_id)
                     .values(updated_at=now, **values))
    return require(conn, org_id, lead_id)


SORTS = {"id": leads.c.id, "created_at": leads.c.created_at, "name": leads.c.name}


def page(conn: Connection, org_id: int, *, status: str | None = None, area: str | None = None,
         postcode: str | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Lead]:
    """One page of the org's leads, filtered by status, area and postcode (a prefix)."""
    query = sa.select(leads).where(leads.c.org_id == org_id)
    if status is not None:
        query = query.where(leads.c.status == status)
    if area:
        query = query.where(sa.func.lower(leads.c.area) == " ".join(area.split()).lower())
    if postcode:
        query = query.where(leads.c.postcode.like(normalise_postcode(postcode).rstrip("*") + "%"))
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=leads.c.id, cursor=cursor, limit=limit,
                       row=_lead)
