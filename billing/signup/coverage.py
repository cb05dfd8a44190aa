"""Coverage: where an org can connect people, and which products it sells there.

A zone is named (products name the zones they are sold in, ``Product.zones``;
a product naming none is sold in every zone) and covers a place by any of:

- area names (a visitor picks one from a list; compared case- and space-blind);
- postcodes, normalised (upper case, no spaces or dashes); an entry ending in
  ``*`` is a prefix (``GA*`` covers ``GA-123-4567``);
- a GeoJSON Polygon or MultiPolygon (coordinates ``[longitude, latitude]``,
  as GeoJSON has them), a point on its border counting as inside (shapely).

No geocoder and no map tiles: the portal must work on an offline LAN, so the
visitor picks an area, types a postcode or gives coordinates.  An org that
has no zone at all covers everywhere (its portal products are offered to all).
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import shapely  # type: ignore[import-untyped]
import sqlalchemy as sa
from shapely.geometry import Point, shape  # type: ignore[import-untyped]
from sqlalchemy.engine import Connection

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing import catalogue
from billing.catalogue import Product
from billing.schema import coverage_zones

MAX_ENTRIES = 5000          # areas or postcodes in one zone
MAX_GEOJSON = 1_000_000     # characters of one zone's GeoJSON
MAX_VERTICES = 50_000
_POSTCODE_DROP = re.compile(r"[\s\-\u2010-\u2015.]+")
_POSTCODE_OK = re.compile(r"[A-Z0-9]{1,16}\*?")


@dataclass(frozen=True)
class Zone:
    id: int
    org_id: int
    name: str
    areas: tuple[str, ...]
    postcodes: tuple[str, ...]          # normalised; "PREFIX*" entries are prefixes
    geojson: dict[str, Any] | None      # a Polygon or MultiPolygon
    created_at: datetime
    updated_at: datetime

    @property
    def kinds(self) -> tuple[str, ...]:
        """How the zone is described: some of ``areas``, ``postcodes``, ``polygon``."""
        return tuple(k for k, v in (("areas", self.areas), ("postcodes", self.postcodes),
                                    ("polygon", self.geojson)) if v)


@dataclass(frozen=True)
class Place:
    """Where a visitor asks about: any of an area, a postcode, coordinates."""
    area: str = ""
    postcode: str = ""
    latitude: float | None = None
    longitude: float | None = None

    @property
    def given(self) -> bool:
        return bool(self.area or self.postcode or self.latitude is not None)


@dataclass(frozen=True)
class Availability:
    place: Place
    zones: tuple[str, ...]              # the zones covering the place
    products: tuple[Product, ...]       # the portal products sold there

    @property
    def covered(self) -> bool:
        return bool(self.products)


# -- pure parts ----------------------------------------------------------------------------

def area_key(text: str) -> str:
    """An area name as compared: NFKC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def normalise_postcode(text: str) -> str:
    """A postcode as stored and compared: upper case without spaces, dashes or dots (``sw1a 1aa`` ->
    ``SW1A1AA``, ``GA-123-4567`` -> ``GA1234567``); a trailing ``*`` (a prefix entry) is kept."""
    return _POSTCODE_DROP.sub("", unicodedata.normalize("NFKC", text)).upper()


def postcode_matches(entry: str, postcode: str) -> bool:
    """Whether a zone's (normalised) postcode entry covers a (normalised) postcode."""
    if not postcode:
        return False
    if entry.endswith("*"):
        return postcode.startswith(entry[:-1])
    return entry == postcode


def parse_coordinates(text: str, field: str = "coordinates") -> tuple[float, float]:
    """``"5.6037, -0.1870"`` (latitude, longitude in decimal degrees) as floats; ValidationError(field)."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if len(parts) != 2:
        raise ValidationError(field, "latitude and longitude in decimal degrees, e.g. 5.6037, -0.1870")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValidationError(field, "latitude and longitude in decimal degrees, e.g. 5.6037, -0.1870") from None
    check_point(lat, lon, field)
    return lat, lon


def check_point(lat: float, lon: float, field: str = "coordinates") -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)) or not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise ValidationError(field, "latitude from -90 to 90 and longitude from -180 to 180")


def _ring_ok(ring: Any, where: str) -> int:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValidationError("geojson", f"{where}: a linear ring of at least 4 positions")
    for pos in ring:
        if (not isinstance(pos, list) or len(pos) < 2 or
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pos[:2])):
            raise ValidationError("geojson", f"{where}: each position is [longitude, latitude]")
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat)) or not -180 <= lon <= 180 or not -90 <= lat <= 90:
            raise ValidationError("geojson", f"{where}: longitude from -180 to 180, latitude from -90 to 90")
    if ring[0][:2] != ring[-1][:2]:
        raise ValidationError("geojson", f"{where}: a ring ends where it starts")
    return len(ring)


def check_geojson(value: Any) -> dict[str, Any]:
    """A GeoJSON Polygon or MultiPolygon (also given as a Feature, or a FeatureCollection of one
    feature, or as JSON text) as a plain geometry object; ValidationError("geojson") naming what is
    wrong: not JSON, another type, bad rings or positions, a self-intersecting polygon."""
    if isinstance(value, str):
        if len(value) > MAX_GEOJSON:
            raise ValidationError("geojson", f"at most {MAX_GEOJSON} characters")
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError("geojson", "not valid JSON") from None
    if not isinstance(value, dict):
        raise ValidationError("geojson", "a GeoJSON object (Polygon, MultiPolygon or a Feature of one)")
    if value.get("type") == "FeatureCollection":
        feats = value.get("features")
        if not isinstance(feats, list) or len(feats) != 1:
            raise ValidationError("geojson", "a FeatureCollection of exactly one feature")
        value = feats[0]
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValidationError("geojson", "the geometry must be a Polygon or a MultiPolygon")
    coords = value.get("coordinates")
    polygons = [coords] if value["type"] == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        raise ValidationError("geojson", "coordinates: a list of polygons" if value["type"] == "MultiPolygon"
                              else "coordinates: a list of linear rings")
    vertices = 0
    for i, poly in enumerate(polygons):
        where = "coordinates" if value["type"] == "Polygon" else f"coordinates[{i}]"
        if not isinstance(poly, list) or not poly:
            raise ValidationError("geojson", f"{where}: a list of linear rings (the outline first)")
        for j, ring in enumerate(poly):
            vertices += _ring_ok(ring, f"{where}[{j}]")
            if vertices > MAX_VERTICES:
                raise ValidationError("geojson", f"at most {MAX_VERTICES} positions")
    # Positions kept as [longitude, latitude] floats only (an altitude or anything after it is dropped).
    flat = [[[[float(p[0]), float(p[1])] for p in ring] for ring in poly] for poly in polygons]
    clean = {"type": value["type"], "coordinates": flat[0] if value["type"] == "Polygon" else flat}
    geom = shape(clean)
    if not geom.is_valid:
        raise ValidationError("geojson", "not a valid polygon (rings cross themselves or each other)")
    if geom.area == 0:
        raise ValidationError("geojson", "the polygon has no area")
    return clean


@lru_cache(maxsize=256)
def _prepared(text: str) -> Any:
    geom = shape(json.loads(text))
    shapely.prepare(geom)
    return geom


def contains(geojson: dict[str, Any], latitude: float, longitude: float) -> bool:
    """Whether the polygon covers the point (its border included)."""
    geom = _prepared(json.dumps(geojson, sort_keys=True))
    return bool(geom.covers(Point(longitude, latitude)))


def covers(zone: Zone, place: Place) -> bool:
    """Whether ``zone`` covers ``place`` by any of its descriptions."""
    if place.area and any(area_key(a) == area_key(place.area) for a in zone.areas):
        return True
    pc = normalise_postcode(place.postcode)
    if pc and any(postcode_matches(e, pc) for e in zone.postcodes):
        return True
    if zone.geojson is not None and place.latitude is not None and place.longitude is not None:
        return contains(zone.geojson, place.latitude, place.longitude)
    return False


def products_in(products: Iterable[Product], zone_names: Sequence[str], everywhere: bool = False) -> list[Product]:
    """The products sold in any of ``zone_names`` (one naming no zone is sold in all of them); with
    ``everywhere`` (an org with no zones), all of them."""
    if everywhere:
        return list(products)
    if not zone_names:
        return []
    return [p for p in products if not p.zones or any(z in p.zones for z in zone_names)]


# -- the zones -----------------------------------------------------------------------------

def _zone(r: Any) -> Zone:
    return Zone(r.id, r.org_id, r.name, tuple(json.loads(r.areas or "[]")), tuple(json.loads(r.postcodes or "[]")),
                json.loads(r.geojson) if r.geojson else None, r.created_at, r.updated_at)


def _names(field: str, values: Any, norm: Any, limit: int) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise ValidationError(field, "a list of texts")
    if len(values) > MAX_ENTRIES:
        raise ValidationError(field, f"at most {MAX_ENTRIES} entries")
    out: dict[str, str] = {}
    for v in values:
        if not isinstance(v, str) or not v.strip() or len(v.strip()) > limit:
            raise ValidationError(field, f"each entry 1 to {limit} characters")
        n = norm(v)
        out.setdefault(area_key(n) if field == "areas" else n, n)
    return sorted(out.values(), key=str.casefold)


def _postcode_entry(text: str) -> str:
    n = normalise_postcode(text)
    if not _POSTCODE_OK.fullmatch(n):
        raise ValidationError("postcodes", f"{text!r}: letters and digits (spaces and dashes are ignored), "
                                           "optionally ending in * for a prefix")
    return n


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "name":
            if not isinstance(v, str) or not v.strip() or len(v.strip()) > 100:
                raise ValidationError("name", "1 to 100 characters")
            out[k] = v.strip()
        elif k == "areas":
            out[k] = json.dumps(_names("areas", v, lambda s: " ".join(s.split()), 100))
        elif k == "postcodes":
            out[k] = json.dumps(_names("postcodes", v, _postcode_entry, 40))
        elif k == "geojson":
            out[k] = None if v is None else json.dumps(check_geojson(v))
        else:
            raise ValidationError(k, "not a coverage zone field")
    return out


def _name_free(conn: Connection, org_id: int, name: str, exclude: int | None = None) -> None:
    q = sa.select(coverage_zones.c.id).where(coverage_zones.c.org_id == org_id, coverage_zones.c.name == name)
    if exclude is not None:
        q = q.where(coverage_zones.c.id != exclude)
    if conn.execute(q).first() is not None:
        raise ValidationError("name", f"a zone named {name!r} already exists")


def _describes(clean: dict[str, Any]) -> None:
    if clean.get("areas", "[]") == "[]" and clean.get("postcodes", "[]") == "[]" and not clean.get("geojson"):
        raise ValidationError("areas", "give the zone's areas, postcodes or a polygon (geojson)")


def add_zone(conn: Connection, org_id: int, now: datetime, *, name: str, areas: Sequence[str] = (),
             postcodes: Sequence[str] = (), geojson: Any = None) -> Zone:
    """A new coverage zone described by areas, postcodes and/or a GeoJSON polygon (at least one)."""
    clean = _clean({"name": name, "areas": areas, "postcodes": postcodes, "geojson": geojson})
    _describes(clean)
    _name_free(conn, org_id, clean["name"])
    key = conn.execute(coverage_zones.insert().values(org_id=org_id, created_at=now, updated_at=now, **clean)
                       ).inserted_primary_key
    assert key is not None
    return require_zone(conn, org_id, key[0])


def update_zone(conn: Connection, org_id: int, zone_id: int, now: datetime, **values: Any) -> Zone:
    """Change some of a zone's fields (``geojson=None`` removes the polygon).  Renaming a zone does
    not rename it in the products that name it: say so to the admin, who changes them too."""
    z = require_zone(conn, org_id, zone_id)
    clean = _clean(values)
    merged = {"areas": json.dumps(list(z.areas)), "postcodes": json.dumps(list(z.postcodes)),
              "geojson": json.dumps(z.geojson) if z.geojson else None, **clean}
    _describes(merged)
    if "name" in clean:
        _name_free(conn, org_id, clean["name"], exclude=zone_id)
    if clean:
        conn.execute(coverage_zones.update().where(coverage_zones.c.org_id == org_id,
                                                   coverage_zones.c.id == zone_id).values(updated_at=now, **clean))
    return require_zone(conn, org_id, zone_id)


def remove_zone(conn: Connection, org_id: int, zone_id: int) -> None:
    """Delete a zone (products naming it are then sold nowhere through it)."""
    n = conn.execute(coverage_zones.delete().where(coverage_zones.c.org_id == org_id,
                                                   coverage_zones.c.id == zone_id)).rowcount
    if not n:
        raise NotFound("coverage zone", zone_id)


def get_zone(conn: Connection, org_id: int, zone_id: int) -> Zone | None:
    r = conn.execute(sa.select(coverage_zones).where(coverage_zones.c.org_id == org_id,
                                                     coverage_zones.c.id == zone_id)).first()
    return None if r is None else _zone(r)


def require_zone(conn: Connection, org_id: int, zone_id: int) -> Zone:
    z = get_zone(conn, org_id, zone_id)
    if z is None:
        raise NotFound("coverage zone", zone_id)
    return z


def list_zones(conn: Connection, org_id: int) -> list[Zone]:
    """The org's zones by name."""
    return [_zone(r) for r in conn.execute(sa.select(coverage_zones).where(coverage_zones.c.org_id == org_id)
                                           .order_by(coverage_zones.c.name, coverage_zones.c.id))]


SORTS = {"id": coverage_zones.c.id, "name": coverage_zones.c.name, "created_at": coverage_zones.c.created_at}


def page(conn: Connection, org_id: int, *, q: str | None = None, sort: str = "name", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Zone]:
    """One page of the org's zones, optionally those whose name contains ``q``."""
    query = sa.select(coverage_zones).where(coverage_zones.c.org_id == org_id)
    if q:
        query = query.where(sa.func.lower(coverage_zones.c.name).like(f"%{q.strip().lower()}%"))
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=coverage_zones.c.id, cursor=cursor,
                       limit=limit, row=_zone)


def areas(conn: Connection, org_id: int) -> list[str]:
    """Every area name of the org's zones, for the portal's list (sorted, no duplicates)."""
    seen: dict[str, str] = {}
    for z in list_zones(conn, org_id):
        for a in z.areas:
            seen.setdefault(area_key(a), a)
    return sorted(seen.values(), key=str.casefold)


def available(conn: Connection, org_id: int, place: Place) -> Availability:
    """The zones covering ``place`` and the portal products sold there (an org with no zones: all)."""
    zones = list_zones(conn, org_id)
    names = tuple(z.name for z in zones if covers(z, place))
    products = catalogue.list_products(conn, org_id, portal_only=True)
    return Availability(place, names, tuple(products_in(products, names, everywhere=not zones)))


def sold_in(conn: Connection, org_id: int, product_id: int, zone: str | None) -> bool:
    """Whether the portal product is offered in the zone (a zone the org does not have: no; an org with no
    zones: every portal product, whatever the zone)."""
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None or not p.on_portal or not p.active:
        return False
    zones = list_zones(conn, org_id)
    if not zones:
        return True
    return zone in {z.name for z in zones} and p.sold_in(zone)
