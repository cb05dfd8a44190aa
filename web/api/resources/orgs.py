"""/orgs: the organisations (ISPs) on this aaad; platform tokens only."""
from __future__ import annotations

from pydantic import Field

from aaad import orgs
from aaad.errors import NotFound
from web.api.declare import Call, Id, In, Out, Page, Router

router = Router("orgs", "Organisations (platform tokens only)")


class OrgOut(Out):
    id: int
    slug: str
    name: str
    timezone: str
    currency: str


class OrgIn(In):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Lower-case letters, digits and '-'; "
                                                                          "the portal is at /{slug}/portal/.")
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("UTC", max_length=64, description="IANA zone, e.g. Africa/Accra.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class OrgPath(In):
    org_id: Id


@router.get("/orgs", summary="List organisations", platform=True)
async def list_orgs(call: Call) -> Page[OrgOut]:
    """Every organisation, by id."""
    found = await call.read(orgs.list_all)
    return Page[OrgOut](items=[OrgOut.model_validate(o) for o in found], next_cursor=None)


@router.get("/orgs/{org_id}", summary="An organisation", platform=True)
async def get_org(call: Call, path: OrgPath) -> OrgOut:
    o = await call.read(orgs.get, path.org_id)
    if o is None:
        raise NotFound("org", path.org_id)
    return OrgOut.model_validate(o)


@router.post("/orgs", summary="Add an organisation", platform=True)
async def create_org(call: Call, body: OrgIn) -> OrgOut:
    """A new organisation; its billing settings start at their defaults."""
    o = await call.write(orgs.add, body.slug, body.name, call.now, body.timezone, body.currency,
                         target=f"org {body.slug}")
    return OrgOut.model_validate(o)
