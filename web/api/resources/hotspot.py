"""/hotspot-bundle: the org's MikroTik hotspot login pages (what ``aaad hotspot bundle`` writes),
as a zip to upload to the router, and where the router fetches each file from."""
from __future__ import annotations

from pydantic import Field

from aaad import urls
from billing.vouchers import hotspot
from web.api.declare import Call, Out, Raw, Router

router = Router("hotspot", "The org's MikroTik hotspot login pages: login.html, md5.js and the rest, in the "
                           "org's branding")


class HotspotFileOut(Out):
    name: str = Field(description="The file's name in the router's hotspot directory.")
    size: int = Field(description="Bytes.")
    url: str = Field(description="Where the router fetches it (/tool fetch url=... dst-path=hotspot/NAME).")


class HotspotBundleOut(Out):
    files: list[HotspotFileOut]
    walled_garden: list[str] = Field(description="Hosts the router must let devices reach before login "
                                                 "(/ip hotspot walled-garden add dst-host=...), for the "
                                                 "pages' Register and Buy links.")


@router.get("/hotspot-bundle", summary="The hotspot login pages")
async def get_hotspot_bundle(call: Call) -> HotspotBundleOut:
    """The files of the org's hotspot pages with their sizes and the public URLs a router fetches them
    from (`aaad nas provision --hotspot` does), and the walled-garden hosts they need."""
    m = await call.read(hotspot.manifest, call.org_id, urls.public_url(call.deps.conf.web))
    return HotspotBundleOut.model_validate(m)


@router.get("/hotspot-bundle.zip", summary="The hotspot login pages as a zip", media="application/zip")
async def get_hotspot_bundle_zip(call: Call) -> Raw:
    """The org's hotspot pages as hotspot/FILE entries of a zip: upload them to the router's hotspot
    directory.  The same pages give the same bytes."""
    files = await call.read(hotspot.bundle, call.org_id, urls.public_url(call.deps.conf.web))
    return Raw(hotspot.zip_bytes(files), "application/zip", "hotspot.zip")

