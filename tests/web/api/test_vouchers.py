"""The admin API's voucher packages, batches (with their PDF and CSV) and vouchers, in process on the
seeded world (both orgs hold the demo's vouchers): every route's happy path, 422s naming fields, 404 for
an unknown id and for the other org's, 403 for the read-only token on writes."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.web.api.conftest import ApiClient, World


def _fields(r: Any) -> set[str]:
    return {e["field"] for e in r.json()["error"]["errors"]}


def _other_ids(api: ApiClient, path: str) -> list[int]:
    return [x["id"] for x in api.as_("other").get(path + "?limit=500").json()["items"]]


def test_demo_packages_listed_with_prices(api: ApiClient) -> None:
    """GET /voucher-packages: the demo's packages with the price in minor units, currency and babel's text."""
    r = api.get("/voucher-packages?sort=price")
    assert r.code == 200
    items = {p["name"]: p for p in r.json()["items"]}
    assert {"1 hour", "1 day", "Week pass"} <= set(items)
    hour = items["1 hour"]
    assert (hour["price"], hour["currency"], hour["price_text"], hour["code_only"]) == (100, "USD", "$1.00", True)
    assert items["Week pass"]["shared_users"] == 2 and items["1 day"]["validity_hours"] == 24
    assert api.get(f"/voucher-packages/{hour['id']}").json()["rate_limit"] == "2M/2M"


def test_create_and_patch_package(api: ApiClient) -> None:
    """POST makes a package (with its own profile from a rate limit); PATCH changes what is sent and null
    clears a limit; a duplicate name is 422 naming name."""
    r = api.post("/voucher-packages", {"name": "API 2h", "price": 250, "rate_limit": "3M/3M", "time_limit": 7200,
                                       "data_limit": 2_000_000_000, "prefix": "ap"})
    assert r.code == 201
    p = r.json()
    assert (p["prefix"], p["price_text"], p["rate_limit"]) == ("AP", "$2.50", "3M/3M") and p["profile_id"]
    r = api.patch(f"/voucher-packages/{p['id']}", {"price": 300, "data_limit": None, "on_portal": False})
    assert r.code == 200 and (r.json()["price"], r.json()["data_limit"], r.json()["on_portal"]) == (300, None, False)
    r = api.post("/voucher-packages", {"name": "API 2h", "price": 1})
    assert r.code == 422 and r.json()["error"]["field"] == "name"


def test_package_errors(api: ApiClient) -> None:
    """Bad fields are one 422 naming each; validity and expiry together, or a MAC binding shared, are 422 naming
    the field; unknown and the other org's ids are 404; read-only cannot write."""
    r = api.post("/voucher-packages", {"name": "", "price": -1, "shared_users": 0, "code_length": 3,
                                       "prefix": "A-B", "colour": "x"})
    assert r.code == 422 and _fields(r) == {"name", "price", "shared_users", "code_length", "prefix", "colour"}
    r = api.post("/voucher-packages", {"name": "both", "price": 1, "validity_hours": 2,
                                       "expires_at": "2027-01-01T00:00:00Z"})
    assert r.code == 422 and r.json()["error"]["field"] == "expires_at"
    r = api.post("/voucher-packages", {"name": "shared", "price": 1, "bind_mac": True, "shared_users": 2})
    assert r.code == 422 and r.json()["error"]["field"] == "bind_mac"
    theirs = _other_ids(api, "/voucher-packages")[0]
    r = api.post("/voucher-packages", {"name": "their profile", "price": 1,
                                       "profile_id": api.as_("other").get(f"/voucher-packages/{theirs}")
                                       .json()["profile_id"]})
    assert r.code == 422 and r.json()["error"]["field"] == "profile_id"
    assert api.get(f"/voucher-packages/{theirs}").code == 404
    assert api.patch(f"/voucher-packages/{theirs}", {"price": 1}).code == 404
    assert api.get("/voucher-packages/999999").code == 404
    assert api.as_("demo_ro").post("/voucher-packages", {"name": "ro", "price": 1}).code == 403


def test_batch_create_csv_pdf_revoke(api: ApiClient) -> None:
    """POST /voucher-batches generates the vouchers; .csv lists their codes and passwords; .pdf is the cards;
    revoking the batch revokes every voucher; again changes nothing."""
    day = next(p for p in api.get("/voucher-packages").json()["items"] if p["name"] == "1 day")
    r = api.post("/voucher-batches", {"package_id": day["id"], "count": 3, "note": "api", "prefix": "ab"})
    assert r.code == 201
    b = r.json()
    assert (b["count"], b["package_name"], b["revoked_at"]) == (3, "1 day", None)
    assert api.get(f"/voucher-batches/{b['id']}").json() == b
    assert api.get("/voucher-batches").json()["items"][0]["id"] == b["id"]
    r = api.get(f"/voucher-batches/{b['id']}.csv")
    assert r.code == 200 and r.required_header("Content-Type").startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and all(x["code"].startswith("AB") and x["password"] for x in rows)
    vs = api.get(f"/vouchers?batch_id={b['id']}").json()["items"]
    assert {v["code"] for v in vs} == {x["code"] for x in rows}
    assert all("password" not in v and v["state"] == "unused" for v in vs)
    r = api.get(f"/voucher-batches/{b['id']}.pdf")
    assert r.code == 200 and r.body.startswith(b"%PDF") and r.required_header("Content-Type") == "application/pdf"
    r = api.post(f"/voucher-batches/{b['id']}/revoke")
    assert r.code == 200 and r.json()["revoked_at"]
    assert {v["state"] for v in api.get(f"/vouchers?batch_id={b['id']}").json()["items"]} == {"revoked"}
    assert api.post(f"/voucher-batches/{b['id']}/revoke").json()["revoked_at"] == r.json()["revoked_at"]
    assert api.get(f"/voucher-batches?revoked=true&package_id={day['id']}").json()["items"][0]["id"] == b["id"]


def test_batch_errors(api: ApiClient) -> None:
    """Count out of range and an unknown or other org's package are 422 naming the field; the other org's
    batch is 404 for read, PDF, CSV and revoke; read-only cannot generate."""
    r = api.post("/voucher-batches", {"package_id": 1, "count": 0})
    assert r.code == 422 and _fields(r) == {"count"}
    r = api.post("/voucher-batches", {"package_id": 1, "count": 10_001})
    assert r.code == 422 and _fields(r) == {"count"}
    theirs_pkg = _other_ids(api, "/voucher-packages")[0]
    r = api.post("/voucher-batches", {"package_id": theirs_pkg, "count": 1})
    assert r.code == 422 and r.json()["error"]["field"] == "package_id"
    theirs = _other_ids(api, "/voucher-batches")[0]
    for path in (f"/voucher-batches/{theirs}", f"/voucher-batches/{theirs}.pdf", f"/voucher-batches/{theirs}.csv"):
        assert api.get(path).code == 404, path
    assert api.post(f"/voucher-batches/{theirs}/revoke").code == 404
    assert api.get("/voucher-batches/999999.csv").code == 404
    assert api.as_("demo_ro").post("/voucher-batches", {"package_id": 1, "count": 1}).code == 403
    assert theirs not in [b["id"] for b in api.get("/voucher-batches?limit=500").json()["items"]]


def test_vouchers_get_history_revoke(api: ApiClient) -> None:
    """A sold voucher is found by customer; its history shows created and sold; revoking it answers the
    voucher revoked, and history then ends with revoked."""
    sold = api.get("/vouchers?sold=true").json()["items"]
    assert sold and sold[0]["customer_id"] and sold[0]["batch_id"] is None
    v = sold[0]
    assert api.get(f"/vouchers?customer_id={v['customer_id']}").json()["items"][0]["id"] == v["id"]
    assert api.get(f"/vouchers/{v['id']}").json()["code"] == v["code"]
    h = api.get(f"/vouchers/{v['id']}/history").json()
    assert [e["what"] for e in h["entries"]] == ["created", "sold"] and h["sessions"] == []
    r = api.post(f"/vouchers/{v['id']}/revoke")
    assert r.code == 200 and r.json()["state"] == "revoked"
    assert api.get(f"/vouchers/{v['id']}/history").json()["entries"][-1]["what"] == "revoked"
    assert api.get("/vouchers?state=revoked").json()["items"]


@pytest.mark.parametrize("path", ["/vouchers/{id}", "/vouchers/{id}/history"])
def test_voucher_isolation(api: ApiClient, path: str) -> None:
    """The other org's vouchers are 404 (and unknown ids too)."""
    theirs = _other_ids(api, "/vouchers")[0]
    assert api.get(path.format(id=theirs)).code == 404
    assert api.get(path.format(id=999999)).code == 404


def test_voucher_errors(api: ApiClient, world: World) -> None:
    """Revoking the other org's voucher is 404; read-only cannot revoke; a bad state filter is 422."""
    theirs = _other_ids(api, "/vouchers")[0]
    assert api.post(f"/vouchers/{theirs}/revoke").code == 404
    mine = api.get("/vouchers").json()["items"][0]["id"]
    assert api.as_("demo_ro").post(f"/vouchers/{mine}/revoke").code == 403
    r = api.get("/vouchers?state=lost")
    assert r.code == 422 and _fields(r) == {"state"}
    assert theirs not in [v["id"] for v in api.get("/vouchers?limit=500").json()["items"]]
