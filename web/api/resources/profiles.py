"""/profiles: the RADIUS side of a plan (rate limit, FUP tiers, pool, timeouts...).

Billing writes one profile per internet product; an operator without billing
manages them here, as ``aaad profile`` does.  A change reaches every login of
the profile at its next request (and the routers through enforcement).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from aaad import fup
from aaad.errors import NotFound
from aaad.view import store
from aaad.view.model import Profile
from web.api.coretypes import Text
from web.api.declare import Call, Deleted, Id, In, ListQuery, Out, Page, Router

router = Router("profiles", "Profiles: rate limits, FUP tiers, pools and timeouts a login gets")

ProfileSort = Literal["id", "-id", "name", "-name"]
Seconds = Annotated[int, Field(ge=1, le=2**31 - 1)]
RateLimit = Annotated[Text, Field(min_length=1, max_length=200, description="Mikrotik-Rate-Limit, e.g. 10M/10M.")]
Short = Annotated[Text, Field(min_length=1, max_length=100)]
FreeHours = Annotated[Text, Field(min_length=1, max_length=11, description="HH:MM-HH:MM in the org's time zone "
                                                                           "(may wrap midnight), e.g. 00:00-06:00.")]


class FupTierIn(In):
    """After ``after`` octets counted in the quota cycle, ``rate_limit`` applies."""
    after: int = Field(ge=1, le=2**63 - 1, description="Threshold in octets (in + out) counted in the cycle.")
    rate_limit: RateLimit


class FupTierOut(Out):
    after: int = Field(description="Threshold in octets (in + out) counted in the cycle.")
    rate_limit: str


class ProfileOut(Out):
    id: int
    name: str
    rate_limit: str | None = Field(description="Mikrotik-Rate-Limit.")
    fup_rate_limit: str | None = Field(description="Rate once the login's data cap is passed.")
    session_timeout: int | None = Field(description="Seconds.")
    pool: str | None = Field(description="Framed-Pool (the router's IP pool).")
    interim_interval: int | None = Field(description="Acct-Interim-Interval seconds.")
    address_list: str | None = Field(description="Mikrotik-Address-List.")
    block_when_exhausted: bool = Field(description="Reject logins of this profile once their data cap is used up.")
    fup_tiers: list[FupTierOut] = Field(description="FUP tiers by threshold.")
    free_hours: str | None = Field(description="Local time whose traffic does not count, HH:MM-HH:MM.")


class ProfileQuery(ListQuery):
    q: Text | None = Field(None, max_length=100, description="Part of the name.")
    sort: ProfileSort = "id"


class ProfileIn(In):
    name: Short
    rate_limit: RateLimit | None = None
    fup_rate_limit: RateLimit | None = None
    session_timeout: Seconds | None = None
    pool: Short | None = None
    interim_interval: Seconds | None = None
    address_list: Short | None = None
    block_when_exhausted: bool = False
    fup_tiers: list[FupTierIn] = Field(default_factory=list, max_length=fup.MAX_TIERS)
    free_hours: FreeHours | None = None


class ProfilePatch(In):
    rate_limit: RateLimit | None = Field(None, description="null clears it (as for every field but the flag).")
    fup_rate_limit: RateLimit | None = None
    session_timeout: Seconds | None = None
    pool: Short | None = None
    interim_interval: Seconds | None = None
    address_list: Short | None = None
    block_when_exhausted: bool | None = None
    fup_tiers: list[FupTierIn] | None = Field(None, max_length=fup.MAX_TIERS, description="Replaces every tier; "
                                                                                        "[] or null: none.")
    free_hours: FreeHours | None = None


class ProfilePath(In):
    profile_id: Id


def out(p: Profile) -> ProfileOut:
    return ProfileOut(id=p.id, name=p.name, rate_limit=p.rate_limit, fup_rate_limit=p.fup_rate_limit,
                      session_timeout=p.session_timeout, pool=p.pool, interim_interval=p.interim_interval,
                      address_list=p.address_list, block_when_exhausted=p.block_when_exhausted,
                      fup_tiers=[FupTierOut(after=t.after, rate_limit=t.rate_limit) for t in p.fup_tiers],
                      free_hours=str(p.free_hours) if p.free_hours else None)


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """Body fields as LoginWriter's profile functions take them."""
    if values.get("fup_tiers") is not None:
        values["fup_tiers"] = [(t["after"], t["rate_limit"]) for t in values["fup_tiers"]]
    return values


def _existing(call: Call, profile_id: int) -> Any:
    """A ``before`` for writes: the profile as it was, NotFound if the org has none such."""
    def before(conn: Any) -> Profile:
        p = store.get_profile(conn, call.org_id, profile_id)
        if p is None:
            raise NotFound("profile", profile_id)
        return p
    return before


@router.get("/profiles", summary="List profiles")
async def list_profiles(call: Call, query: ProfileQuery) -> Page[ProfileOut]:
    """The org's profiles, matching a search text; sorted by id unless asked."""
    p = await call.read(store.page_profiles, call.org_id, q=query.q, sort=query.sort, cursor=query.cursor,
                        limit=query.limit)
    return Page[ProfileOut](items=[out(x) for x in p.items], next_cursor=p.next_cursor)


@router.get("/profiles/{profile_id}", summary="A profile")
async def get_profile(call: Call, path: ProfilePath) -> ProfileOut:
    p = await call.read(store.get_profile, call.org_id, path.profile_id)
    if p is None:
        raise NotFound("profile", path.profile_id)
    return out(p)


@router.post("/profiles", summary="Add a profile")
async def create_profile(call: Call, body: ProfileIn) -> ProfileOut:
    """A new profile; the name is unique in the org."""
    values = _values(body.model_dump(exclude={"name"}))
    p = await call.write(call.deps.login_writer.create_profile, call.org_id, body.name, call.now, **values,
                         target=f"profile {body.name}")
    return out(p)


@router.patch("/profiles/{profile_id}", summary="Change a profile")
async def update_profile(call: Call, path: ProfilePath, body: ProfilePatch) -> ProfileOut:
    """Change the fields sent (null clears one; block_when_exhausted takes true or false). Logins of the
    profile get the new reply at their next request."""
    values = body.model_dump(exclude_unset=True)
    if "block_when_exhausted" in values and values["block_when_exhausted"] is None:
        values.pop("block_when_exhausted")
    if not values:
        return await get_profile(call, path)
    p = await call.write(call.deps.login_writer.update_profile, call.org_id, path.profile_id, call.now,
                         **_values(values), target=f"profile {path.profile_id}",
                         before=_existing(call, path.profile_id))
    return out(p)


@router.delete("/profiles/{profile_id}", summary="Remove a profile")
async def delete_profile(call: Call, path: ProfilePath) -> Deleted:
    """Remove a profile no login uses (422 naming ``profile`` otherwise)."""
    await call.write(call.deps.login_writer.remove_profile, call.org_id, path.profile_id, call.now,
                     target=f"profile {path.profile_id}", before=_existing(call, path.profile_id))
    return Deleted(id=path.profile_id)
