"""Coverage zones (billing.signup.coverage): areas, postcodes, GeoJSON polygons, the products sold there."""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from billing.signup import coverage
from billing.signup.coverage import Place
from tests.billing.signup.conftest import T0, org, product

# Accra, roughly: a square around Osu (lon -0.19..-0.16, lat 5.54..5.57)
OSU = {"type": "Polygon", "coordinates": [[[-0.19, 5.54], [-0.16, 5.54], [-0.16, 5.57], [-0.19, 5.57],
                                            [-0.19, 5.54]]]}


def test_postcode_normalisation() -> None:
    """Postcodes compare without case, spaces, dashes or dots; a trailing * is kept for prefixes."""
    assert coverage.normalise_postcode(" sw1a 1aa ") == "SW1A1AA"
    assert coverage.normalise_postcode("GA-123-4567") == "GA1234567"
    assert coverage.normalise_postcode("ga-*") == "GA*"
    assert coverage.postcode_matches("GA*", "GA1234567") and not coverage.postcode_matches("GA*", "GE1")
    assert coverage.postcode_matches("GA1234567", "GA1234567") and not coverage.postcode_matches("GA123", "GA1234")
    assert not coverage.postcode_matches("*", "")


postcodes = st.text(alphabet="abcdefgHIJKLMN0123456789 -.", min_size=0, max_size=20)


@given(postcodes)
def test_normalising_twice_changes_nothing(text: str) -> None:
    """normalise_postcode is idempotent and leaves only upper-case letters and digits."""
    once = coverage.normalise_postcode(text)
    assert coverage.normalise_postcode(once) == once
    assert all(c.isupper() or c.isdigit() for c in once)


@given(postcodes, st.sampled_from([str.lower, str.upper, lambda s: s.replace("-", " "), lambda s: f"  {s} "]))
def test_typing_a_postcode_differently_still_matches(text: str, variant: Any) -> None:
    """A postcode typed in another case or spacing matches the same exact and prefix entries."""
    entry = coverage.normalise_postcode(text)
    typed = coverage.normalise_postcode(variant(text))
    if entry:
        assert coverage.postcode_matches(entry, typed)
        assert coverage.postcode_matches(entry[:2] + "*", typed)


@given(st.floats(-0.30, -0.05), st.floats(5.45, 5.65))
def test_point_in_polygon_agrees_with_the_square(lon: float, lat: float) -> None:
    """A point is inside the square exactly when its coordinates are within its bounds (border included)."""
    inside = -0.19 <= lon <= -0.16 and 5.54 <= lat <= 5.57
    assert coverage.contains(OSU, lat, lon) == inside


def test_a_multipolygon_covers_each_part_but_not_the_hole() -> None:
    """MultiPolygon parts are covered; a polygon's hole is not."""
    holed = {"type": "Polygon", "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]}
    assert coverage.contains(holed, 1, 1) and not coverage.contains(holed, 5, 5)
    multi = {"type": "MultiPolygon", "coordinates": [OSU["coordinates"], holed["coordinates"]]}
    clean = coverage.check_geojson(multi)
    assert coverage.contains(clean, 5.55, -0.17) and coverage.contains(clean, 1, 1)
    assert not coverage.contains(clean, 5, 5) and not coverage.contains(clean, 20, 20)


@pytest.mark.parametrize("bad, says", [
    ("{not json", "not valid JSON"),
    ({"type": "Point", "coordinates": [0, 0]}, "Polygon or a MultiPolygon"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 2]]]}, "ends where it starts"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}, "longitude from -180"),
    ({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]}, "[longitude, latitude]"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}, "not a valid polygon"),
    ({"type": "FeatureCollection", "features": []}, "exactly one feature"),
    ([1, 2], "a GeoJSON object"),
])
def test_bad_geojson_is_refused_naming_the_field(bad: Any, says: str) -> None:
    """Each kind of bad GeoJSON is a ValidationError on field geojson saying what is wrong."""
    with pytest.raises(ValidationError) as e:
        coverage.check_geojson(bad)
    assert e.value.field == "geojson" and says in e.value.message


def test_positions_keep_longitude_and_latitude_only() -> None:
    """An altitude (or anything after it) is dropped; integers become floats."""
    got = coverage.check_geojson({"type": "Polygon", "coordinates": [
        [[0, 0, 12, "x"], [1, 0, 3], [1, 1], [0, 0, None]]]})
    assert got == {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}


def test_a_feature_or_collection_is_unwrapped() -> None:
    """A Feature (or a FeatureCollection of one) is accepted as its geometry; JSON text too."""
    feat = {"type": "Feature", "properties": {}, "geometry": OSU}
    assert coverage.check_geojson(feat) == OSU
    assert coverage.check_geojson(json.dumps({"type": "FeatureCollection", "features": [feat]})) == OSU


def test_coordinates_parse_and_check() -> None:
    """'lat, lon' in decimal degrees parse; out of range or garbage: ValidationError('coordinates')."""
    assert coverage.parse_coordinates("5.55, -0.17") == (5.55, -0.17)
    assert coverage.parse_coordinates(" 5.55 -0.17 ") == (5.55, -0.17)
    for bad in ("", "5.55", "north, east", "95, 0", "0, 181", "nan, 0"):
        with pytest.raises(ValidationError) as e:
            coverage.parse_coordinates(bad)
        assert e.value.field == "coordinates"


def test_zones_and_the_products_sold_there(conn: Any, writer: LoginWriter) -> None:
    """A place in a zone (by area, postcode or point) gets the products naming the zone and those naming
    none; a place in no zone gets nothing; another org's zones never count."""
    a, b = org(conn), org(conn, "other")
    coverage.add_zone(conn, a, T0, name="Osu", areas=["Osu", " osu  "], geojson=OSU)
    coverage.add_zone(conn, a, T0, name="Tema", postcodes=["gt-*", "GA 100 1000"], areas=["Tema Comm. 1"])
    coverage.add_zone(conn, b, T0, name="Kumasi", areas=["Adum"])
    product(conn, writer, a, "Fibre Osu", ("Osu",))
    product(conn, writer, a, "Fibre Tema", ("Tema",))
    product(conn, writer, a, "Anywhere")
    product(conn, writer, a, "Hidden", on_portal=False)

    def names(place: Place) -> tuple[tuple[str, ...], list[str]]:
        got = coverage.available(conn, a, place)
        return got.zones, [p.name for p in got.products]
    assert names(Place(area="OSU")) == (("Osu",), ["Anywhere", "Fibre Osu"])
    assert names(Place(postcode="gt-044-1234")) == (("Tema",), ["Anywhere", "Fibre Tema"])
    assert names(Place(postcode="GA1001000")) == (("Tema",), ["Anywhere", "Fibre Tema"])
    assert names(Place(latitude=5.555, longitude=-0.175)) == (("Osu",), ["Anywhere", "Fibre Osu"])
    assert names(Place(latitude=6.69, longitude=-1.62)) == ((), [])
    assert names(Place(area="Adum")) == ((), [])
    assert not coverage.available(conn, a, Place(area="Adum")).covered
    assert coverage.areas(conn, a) == ["Osu", "Tema Comm. 1"]
    assert coverage.sold_in(conn, a, coverage.available(conn, a, Place(area="Osu")).products[1].id, "Osu")
    fibre_tema = coverage.available(conn, a, Place(area="Tema Comm. 1")).products[1]
    assert not coverage.sold_in(conn, a, fibre_tema.id, "Osu")
    assert not coverage.sold_in(conn, a, fibre_tema.id, "Nowhere")


def test_an_org_without_zones_sells_everywhere(conn: Any, writer: LoginWriter) -> None:
    """With no zone at all, every portal product is available wherever the visitor is."""
    a = org(conn)
    product(conn, writer, a, "Basic")
    got = coverage.available(conn, a, Place(postcode="X1"))
    assert got.covered and [p.name for p in got.products] == ["Basic"]


def test_zone_fields_are_validated(conn: Any) -> None:
    """Name taken, nothing describing the zone, bad postcodes, bad lists: ValidationError naming the field."""
    a = org(conn)
    coverage.add_zone(conn, a, T0, name="Osu", areas=["Osu"])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "Osu", "areas": ["x"]}, "name"), ({"name": " "}, "name"), ({"name": "Empty"}, "areas"),
             ({"name": "P", "postcodes": ["GA/12"]}, "postcodes"), ({"name": "L", "areas": "Osu"}, "areas"),
             ({"name": "G", "geojson": {"type": "Point"}}, "geojson")]
    for kw, field in cases:
        with pytest.raises(ValidationError) as e:
            coverage.add_zone(conn, a, T0, **kw)
        assert e.value.field == field, kw


def test_update_and_remove_are_scoped_by_org(conn: Any) -> None:
    """A zone is changed and removed in its own org only; another org's id is NotFound."""
    a, b = org(conn), org(conn, "other")
    z = coverage.add_zone(conn, a, T0, name="Osu", areas=["Osu"])
    z2 = coverage.update_zone(conn, a, z.id, T0, postcodes=["ga1*"], geojson=OSU)
    assert z2.postcodes == ("GA1*",) and z2.kinds == ("areas", "postcodes", "polygon")
    with pytest.raises(ValidationError) as e:
        coverage.update_zone(conn, a, z.id, T0, areas=[], postcodes=[], geojson=None)
    assert e.value.field == "areas"
    with pytest.raises(NotFound):
        coverage.update_zone(conn, b, z.id, T0, name="Mine")
    with pytest.raises(NotFound):
        coverage.remove_zone(conn, b, z.id)
    assert [x.name for x in coverage.page(conn, a).items] == ["Osu"] and coverage.page(conn, b).items == []
    coverage.remove_zone(conn, a, z.id)
    assert coverage.get_zone(conn, a, z.id) is None
