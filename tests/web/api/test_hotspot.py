"""/hotspot-bundle and /hotspot-bundle.zip: the org's hotspot login pages over the API."""
from __future__ import annotations

import io
import zipfile

from aaad.urls import HOTSPOT_FILES
from billing import settings
from tests.web.api.conftest import NOW, ApiClient, World


def test_bundle_lists_files_with_their_public_urls(api: ApiClient) -> None:
    """Every file with its size and the portal URL a router fetches it from; the portal's host for the walled garden."""
    r = api.get("/hotspot-bundle")
    assert r.code == 200, r.text
    body = r.json()
    assert [f["name"] for f in body["files"]] == list(HOTSPOT_FILES)
    login = body["files"][0]
    assert login["url"].endswith("/demo/portal/hotspot/login.html") and login["size"] > 1000
    assert body["walled_garden"] == ["127.0.0.1"]


def test_zip_holds_the_org_pages_in_its_branding(api: ApiClient, world: World) -> None:
    """The zip has hotspot/FILE for each file, in the caller's org's brand (never another org's)."""
    with world.db.engine.begin() as c:
        settings.update(c, world.other, NOW, brand_name="Other Hotspot Brand")
    r = api.get("/hotspot-bundle.zip")
    assert r.code == 200 and r.required_header("Content-Type") == "application/zip"
    assert "hotspot.zip" in r.required_header("Content-Disposition")
    with zipfile.ZipFile(io.BytesIO(r.body)) as z:
        assert z.namelist() == [f"hotspot/{n}" for n in HOTSPOT_FILES]
        login = z.read("hotspot/login.html").decode()
    assert "/demo/portal/register" in login and "Other Hotspot Brand" not in login
    other = api.as_("other").get("/hotspot-bundle.zip")
    with zipfile.ZipFile(io.BytesIO(other.body)) as z:
        assert "Other Hotspot Brand" in z.read("hotspot/login.html").decode()


def test_read_only_token_may_download_and_no_token_may_not(api: ApiClient) -> None:
    """A read: the read-only token gets it; without a token 401."""
    assert api.as_("demo_ro").get("/hotspot-bundle.zip").code == 200
    assert api.as_("").get("/hotspot-bundle.zip").code == 401
    assert api.as_("").get("/hotspot-bundle").code == 401


def test_documented_as_zip(api: ApiClient) -> None:
    """The OpenAPI document declares the zip's media type."""
    doc = api.get("/openapi.json").json()
    assert "application/zip" in doc["paths"]["/hotspot-bundle.zip"]["get"]["responses"]["200"]["content"]


def test_provision_with_hotspot_lists_the_fetches(api: ApiClient, world: World) -> None:
    """POST /nas/{id}/provision with hotspot: the dry run's commands fetch every page into hotspot_dir;
    a bad directory is 422 naming it."""
    from aaad import nas
    with world.db.engine.begin() as c:
        n = nas.add(c, world.box, world.demo, "hotspot-router", "10.99.0.1", "s3cret", NOW)
    body = {"dry_run": True, "radius_address": "192.0.2.10", "hotspot": True, "hotspot_dir": "flash/hotspot",
            "walled_garden": ["checkout.pay.example"]}
    r = api.post(f"/nas/{n.id}/provision", body)
    assert r.code == 200, r.text
    fetches = [c for c in r.json()["commands"] if c.startswith("/tool fetch")]
    assert len(fetches) == len(HOTSPOT_FILES)
    assert fetches[0].endswith("/demo/portal/hotspot/login.html dst-path=flash/hotspot/login.html")
    assert any(c.startswith("/ip hotspot walled-garden ip add") and "dst-host=checkout.pay.example" in c
               for c in r.json()["commands"])
    assert not any(c.startswith("/tool fetch") for c in api.post(f"/nas/{n.id}/provision", {
        "dry_run": True, "radius_address": "192.0.2.10"}).json()["commands"])
    bad = api.post(f"/nas/{n.id}/provision", {**body, "hotspot_dir": "../etc", "walled_garden": ["a b"]})
    assert bad.code == 422
    assert {e["field"] for e in bad.json()["error"]["errors"]} == {"hotspot_dir", "walled_garden.0"}
