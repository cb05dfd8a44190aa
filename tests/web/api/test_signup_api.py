"""The admin API's sign-up resources in process: coverage zones and the availability check, leads, contract
versions and contract signatures (with their PDF); every id of the other org is a 404."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from billing.schema import customers
from billing.signup import contracts, coverage, leads
from tests.web.api.conftest import NOW, ApiClient, World

OSU = {"type": "Polygon", "coordinates": [[[-0.19, 5.54], [-0.16, 5.54], [-0.16, 5.57], [-0.19, 5.57],
                                            [-0.19, 5.54]]]}


def _fields(r: Any) -> set[str]:
    err = r.json()["error"]
    return {e["field"] for e in err.get("errors", [])} | ({err["field"]} if err.get("field") else set())


@pytest.fixture(scope="module")
def theirs(world: World) -> dict[str, int]:
    """Org other's zone, lead, contract and signature (ids the demo token must never reach)."""
    with world.db.engine.begin() as c:
        z = coverage.add_zone(c, world.other, NOW, name="Adum", areas=["Adum"])
        lead = leads.add(c, world.other, NOW, name="Yaa Asantewaa", email="yaa@example.com")
        k = contracts.add_version(c, world.other, NOW, title="Other terms", body="Theirs.")
        cid = c.execute(sa.select(customers.c.id).where(customers.c.org_id == world.other).limit(1)).scalar_one()
        s = contracts.sign(c, world.other, cid, k.id, NOW, full_name="Yaw Other", agreed=True, ip="192.0.2.9",
                           user_agent="test", pdf=b"%PDF-1.4 other")
    return {"zone": z.id, "lead": lead.id, "contract": k.id, "signature": s.id, "customer": cid}


# -- coverage zones ---------------------------------------------------------------------------------

def test_zones_are_created_read_changed_and_removed(api: ApiClient, theirs: Any) -> None:
    """POST normalises postcodes and keeps the polygon; GET and the list show it (not the other org's); PATCH
    changes what is sent; DELETE removes it."""
    r = api.post("/coverage-zones", {"name": "Osu", "areas": ["Osu", "Labone"], "postcodes": ["ga-1 *"],
                                     "geojson": {"type": "Feature", "properties": {}, "geometry": OSU}})
    assert r.code == 201, r.text
    z = r.json()
    assert (z["postcodes"], z["geojson"], z["kinds"]) == (["GA1*"], OSU, ["areas", "postcodes", "polygon"])
    assert api.get(f"/coverage-zones/{z['id']}").json() == z
    names = [x["name"] for x in api.get("/coverage-zones").json()["items"]]
    assert "Osu" in names and "Adum" not in names
    r = api.patch(f"/coverage-zones/{z['id']}", {"areas": ["Osu"], "geojson": None})
    assert r.code == 200 and r.json()["areas"] == ["Osu"] and r.json()["geojson"] is None
    assert r.json()["postcodes"] == ["GA1*"]
    assert api.delete(f"/coverage-zones/{z['id']}").code == 200
    assert api.get(f"/coverage-zones/{z['id']}").code == 404


def test_bad_zones_get_422_naming_the_field(api: ApiClient) -> None:
    """A self-crossing polygon, a point, bad postcodes, nothing describing the zone, a taken name: 422 naming
    geojson, postcodes, areas, name."""
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    r = api.post("/coverage-zones", {"name": "Bow", "geojson": bowtie})
    assert r.code == 422 and _fields(r) == {"geojson"} and "valid polygon" in r.text
    assert _fields(api.post("/coverage-zones", {"name": "P", "geojson": {"type": "Point",
                                                                          "coordinates": [0, 0]}})) == {"geojson"}
    assert _fields(api.post("/coverage-zones", {"name": "Q", "postcodes": ["GA/1"]})) == {"postcodes"}
    assert _fields(api.post("/coverage-zones", {"name": "Empty"})) == {"areas"}
    api.post("/coverage-zones", {"name": "Taken", "areas": ["X"]})
    assert _fields(api.post("/coverage-zones", {"name": "Taken", "areas": ["Y"]})) == {"name"}
    assert _fields(api.post("/coverage-zones", {"name": "", "areas": ["Y"], "colour": "red"})) == {"name", "colour"}


def test_the_availability_check_answers_like_the_portal(api: ApiClient, world: World) -> None:
    """/coverage-check: a point in the polygon finds the zone and the portal products; a place nowhere: none;
    no place at all, or half a point: 422."""
    z = api.post("/coverage-zones", {"name": "Check", "geojson": OSU}).json()
    r = api.get("/coverage-check?latitude=5.55&longitude=-0.17")
    assert r.code == 200 and "Check" in r.json()["zones"] and r.json()["covered"]
    assert {p["name"] for p in r.json()["products"]} >= {"Home 10M"}
    far = api.get("/coverage-check?latitude=40&longitude=40").json()
    assert far == {"covered": False, "zones": [], "products": []}
    assert api.get("/coverage-check").code == 422
    assert _fields(api.get("/coverage-check?latitude=5.5")) == {"longitude"}
    api.delete(f"/coverage-zones/{z['id']}")


def test_the_other_orgs_zone_is_404(api: ApiClient, theirs: Any) -> None:
    """GET, PATCH and DELETE of the other org's zone: 404, and it is unchanged; read-only token: 403."""
    zid = theirs["zone"]
    assert api.get(f"/coverage-zones/{zid}").code == 404
    assert api.patch(f"/coverage-zones/{zid}", {"name": "Mine"}).code == 404
    assert api.delete(f"/coverage-zones/{zid}").code == 404
    assert api.as_("other").get(f"/coverage-zones/{zid}").json()["name"] == "Adum"
    assert api.as_("demo_ro").post("/coverage-zones", {"name": "RO", "areas": ["x"]}).code == 403


# -- leads ---------------------------------------------------------------------------------------------

def test_leads_are_listed_filtered_and_worked(api: ApiClient, world: World, theirs: Any) -> None:
    """Leads of the org (none of the other's), filtered by status and postcode; PATCH moves the status; a bad
    status: 422; the other org's lead: 404."""
    with world.db.engine.begin() as c:
        mine = leads.add(c, world.demo, NOW, name="Kwame Nkrumah", phone="+233241234567",
                         place=coverage.Place(postcode="GE-22"))
    got = api.get("/leads").json()["items"]
    assert [x["id"] for x in got] == [mine.id] and got[0]["postcode"] == "GE22"
    assert api.get("/leads?postcode=ge").json()["items"][0]["id"] == mine.id
    assert api.get("/leads?postcode=zz").json()["items"] == []
    r = api.patch(f"/leads/{mine.id}", {"status": "contacted", "note": "Called: wants fibre"})
    assert r.code == 200 and (r.json()["status"], r.json()["note"]) == ("contacted", "Called: wants fibre")
    assert api.get(f"/leads/{mine.id}").json()["status"] == "contacted"
    assert api.get("/leads?status=new").json()["items"] == []
    assert _fields(api.patch(f"/leads/{mine.id}", {"status": "won"})) == {"status"}
    assert api.get(f"/leads/{theirs['lead']}").code == 404
    assert api.patch(f"/leads/{theirs['lead']}", {"status": "closed"}).code == 404
    assert api.as_("other").get(f"/leads/{theirs['lead']}").json()["status"] == "new"


# -- contracts and signatures ----------------------------------------------------------------------------

def test_contract_versions(api: ApiClient, theirs: Any) -> None:
    """POST /contracts publishes the next version, current; the earlier one is no longer current; empty text:
    422 naming body; the other org's version: 404."""
    one = api.post("/contracts", {"title": "Service agreement", "body": "First.\n\nSecond."})
    assert one.code == 201 and one.json()["current"]
    two = api.post("/contracts", {"title": "Service agreement", "body": "Changed."}).json()
    assert two["version"] == one.json()["version"] + 1 and two["current"]
    assert api.get(f"/contracts/{one.json()['id']}").json()["current"] is False
    listed = api.get("/contracts").json()["items"]
    assert [c["version"] for c in listed][:2] == [two["version"], one.json()["version"]]
    assert theirs["contract"] not in [c["id"] for c in listed]
    assert _fields(api.post("/contracts", {"title": "T", "body": ""})) == {"body"}
    assert api.get(f"/contracts/{theirs['contract']}").code == 404
    assert api.as_("demo_ro").post("/contracts", {"title": "T", "body": "x"}).code == 403


def test_signatures_and_their_pdf(api: ApiClient, world: World, theirs: Any) -> None:
    """A customer's signature is listed by customer with version, name, time, IP and user agent; its PDF is
    the one kept; the other org's signature and PDF: 404."""
    with world.db.engine.begin() as c:
        k = contracts.add_version(c, world.demo, NOW, title="Terms", body="Be nice.")
        cid = c.execute(sa.select(customers.c.id).where(customers.c.org_id == world.demo).limit(1)).scalar_one()
        pdf = contracts.signed_pdf(c, world.demo, k.id, cid, full_name="Ama Mensah", signed_at=NOW,
                                   ip="198.51.100.4", user_agent="Mozilla/5.0 test")
        s = contracts.sign(c, world.demo, cid, k.id, NOW, full_name="Ama Mensah", agreed=True, ip="198.51.100.4",
                           user_agent="Mozilla/5.0 test", pdf=pdf)
    got = api.get(f"/contract-signatures?customer_id={cid}").json()["items"]
    assert [x["id"] for x in got] == [s.id]
    assert {k2: got[0][k2] for k2 in ("version", "full_name", "ip", "user_agent", "contract_id")} == {
        "version": k.version, "full_name": "Ama Mensah", "ip": "198.51.100.4", "user_agent": "Mozilla/5.0 test",
        "contract_id": k.id}
    assert api.get(f"/contract-signatures/{s.id}").json() == got[0]
    r = api.get(f"/contract-signatures/{s.id}.pdf")
    assert r.code == 200 and r.body == pdf and r.header("Content-Type") == "application/pdf"
    assert theirs["signature"] not in [x["id"] for x in api.get("/contract-signatures").json()["items"]]
    assert api.get(f"/contract-signatures/{theirs['signature']}").code == 404
    assert api.get(f"/contract-signatures/{theirs['signature']}.pdf").code == 404
    assert api.as_("other").get(f"/contract-signatures/{theirs['signature']}.pdf").body == b"%PDF-1.4 other"
