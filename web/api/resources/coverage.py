"""/coverage-zones, /coverage-check and /leads: where the org connects people, and who asked elsewhere.

A zone is described by area names, postcodes (an entry ending in ``*`` is a
prefix) and/or a GeoJSON Polygon or MultiPolygon (``[longitude, latitude]``);
products name the zones they are sold in (``zones`` on /products; none:
everywhere).  Leads are left on the portal's "not yet available here" form.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from aaad.errors import ValidationError
from billing.signup import coverage, leads
from billing.signup.coverage import Place
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router
from web.api.resources._billing import Text

router = Router("coverage", "Sign-up coverage: coverage zones (areas, postcodes, GeoJSON polygons), the "
                            "availability check, and leads from places not yet covered")



class ZoneOut(Out):
    id: int
    name: str = Field(description="What products name in their zones.")
    areas: list[str]
    postcodes: list[str] = Field(description="Normalised (upper case, no spaces or dashes); a trailing * is a "
                                             "prefix.")
    geojson: dict[str, Any] | None = Field(description="A GeoJSON Polygon or MultiPolygon, [longitude, latitude].")
    kinds: list[str] = Field(description="How the zone is described: areas, postcodes, polygon.")
    created_at: datetime
    updated_at: datetime


def _zone(z: coverage.Zone) -> ZoneOut:
    return ZoneOut(id=z.id, name=z.name, areas=list(z.areas), postcodes=list(z.postcodes), geojson=z.geojson,
                   kinds=list(z.kinds), created_at=z.created_at, updated_at=z.updated_at)


class ZoneQuery(ListQuery):
    q: str | None = Field(None, max_length=100, description="A part of the name.")
    sort: Literal["name", "-name", "id", "-id", "created_at", "-created_at"] = "name"


class ZonePath(In):
    coverage_zone_id: Id


class ZoneIn(In):
    name: Text = Field(min_length=1, max_length=100)
    areas: list[Text] = Field(default_factory=list, max_length=coverage.MAX_ENTRIES)
    postcodes: list[Text] = Field(default_factory=list, max_length=coverage.MAX_ENTRIES)
    geojson: dict[str, Any] | None = Field(None, description="A GeoJSON Polygon or MultiPolygon (or a Feature "
                                                             "of one).")


class ZonePatch(In):
    name: Text | None = Field(None, min_length=1, max_length=100)
    areas: list[Text] | None = Field(None, max_length=coverage.MAX_ENTRIES)
    postcodes: list[Text] | None = Field(None, max_length=coverage.MAX_ENTRIES)
    geojson: dict[str, Any] | None = Field(None, description="null removes the polygon.")


@router.get("/coverage-zones", summary="List coverage zones")
async def list_coverage_zones(call: Call, query: ZoneQuery) -> Page[ZoneOut]:
    """The org's coverage zones, by name unless asked."""
    p = await call.read(coverage.page, call.org_id, q=query.q, sort=query.sort, cursor=query.cursor,
                        limit=query.limit)
    return Page[ZoneOut](items=[_zone(z) for z in p.items], next_cursor=p.next_cursor)


@router.get("/coverage-zones/{coverage_zone_id}", summary="A coverage zone")
async def get_coverage_zone(call: Call, path: ZonePath) -> ZoneOut:
    return _zone(await call.read(coverage.require_zone, call.org_id, path.coverage_zone_id))


@router.post("/coverage-zones", summary="Add a coverage zone")
async def create_coverage_zone(call: Call, body: ZoneIn) -> ZoneOut:
    """A new zone, described by areas, postcodes and/or a polygon (at least one; a bad polygon: 422 naming
    geojson with what is wrong).  Names are unique in the org."""
    z = await call.write(coverage.add_zone, call.org_id, call.now, target="coverage zone", **body.model_dump())
    return _zone(z)


@router.patch("/coverage-zones/{coverage_zone_id}", summary="Change a coverage zone")
async def update_coverage_zone(call: Call, path: ZonePath, body: ZonePatch) -> ZoneOut:
    """Change the fields sent (geojson null removes the polygon).  Renaming a zone does not rename it in the
    products naming it: change their zones too."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "geojson"}
    z = await call.write(coverage.update_zone, call.org_id, path.coverage_zone_id, call.now,
                         target=f"coverage zone {path.coverage_zone_id}",
                         before=lambda conn: coverage.require_zone(conn, call.org_id, path.coverage_zone_id),
                         **values)
    return _zone(z)


@router.delete("/coverage-zones/{coverage_zone_id}", summary="Remove a coverage zone")
async def delete_coverage_zone(call: Call, path: ZonePath) -> ZoneOut:
    """Remove the zone; products naming it are no longer sold through it."""
    def remove(conn: Connection) -> ZoneOut:
        z = coverage.require_zone(conn, call.org_id, path.coverage_zone_id)
        coverage.remove_zone(conn, call.org_id, path.coverage_zone_id)
        return _zone(z)
    return await call.write(remove, target=f"coverage zone {path.coverage_zone_id}")


class CheckQuery(In):
    area: str | None = Field(None, max_length=100)
    postcode: str | None = Field(None, max_length=32)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class CheckProduct(Out):
    id: int
    name: str
    type: str
    price: int = Field(description="Per period, in minor units.")
    setup_fee: int


class CheckOut(Out):
    covered: bool
    zones: list[str]
    products: list[CheckProduct] = Field(description="The portal products sold there.")


@router.get("/coverage-check", summary="Check availability at a place")
async def check_coverage(call: Call, query: CheckQuery) -> CheckOut:
    """What the portal's coverage step answers for an area, a postcode and/or a point: the zones covering it
    and the portal products sold there (an org with no zone: all of them)."""
    if (query.latitude is None) != (query.longitude is None):
        raise ValidationError("latitude" if query.latitude is None else "longitude",
                              "give latitude and longitude together")
    if not (query.area or query.postcode or query.latitude is not None):
        raise ValidationError("area", "give an area, a postcode or latitude and longitude")
    got = await call.read(coverage.available, call.org_id,
                          Place(query.area or "", query.postcode or "", query.latitude, query.longitude))
    return CheckOut(covered=got.covered, zones=list(got.zones),
                    products=[CheckProduct(id=p.id, name=p.name, type=p.type, price=p.price, setup_fee=p.setup_fee)
                              for p in got.products])


# -- leads ----------------------------------------------------------------------------------------

LeadStatus = Literal["new", "contacted", "closed"]


class LeadOut(Out):
    id: int
    name: str
    email: str | None
    phone: str | None = Field(description="E.164.")
    area: str
    postcode: str = Field(description="Normalised.")
    latitude: float | None
    longitude: float | None
    note: str
    status: LeadStatus
    created_at: datetime
    updated_at: datetime


class LeadQuery(ListQuery):
    status: LeadStatus | None = None
    area: str | None = Field(None, max_length=100)
    postcode: str | None = Field(None, max_length=32, description="A prefix of the postcode.")
    sort: Literal["-id", "id", "-created_at", "created_at", "name", "-name"] = "-id"


class LeadPath(In):
    lead_id: Id


class LeadPatch(In):
    status: LeadStatus | None = None
    note: Text | None = Field(None, max_length=2000)


def _lead(x: leads.Lead) -> LeadOut:
    return LeadOut.model_validate(x)


@router.get("/leads", summary="List leads")
async def list_leads(call: Call, query: LeadQuery) -> Page[LeadOut]:
    """Visitors who asked where the org does not reach yet, newest first; by status, area and postcode."""
    p = await call.read(leads.page, call.org_id, status=query.status, area=query.area, postcode=query.postcode,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[LeadOut](items=[_lead(x) for x in p.items], next_cursor=p.next_cursor)


@router.get("/leads/{lead_id}", summary="A lead")
async def get_lead(call: Call, path: LeadPath) -> LeadOut:
    return _lead(await call.read(leads.require, call.org_id, path.lead_id))


@router.patch("/leads/{lead_id}", summary="Change a lead's status or note")
async def update_lead(call: Call, path: LeadPath, body: LeadPatch) -> LeadOut:
    """Progress on a lead: new, contacted, closed; and the note."""
    values = body.model_dump(exclude_unset=True)
    got = await call.write(leads.update, call.org_id, path.lead_id, call.now, target=f"lead {path.lead_id}",
                           before=lambda conn: leads.require(conn, call.org_id, path.lead_id), **values)
    return _lead(got)

