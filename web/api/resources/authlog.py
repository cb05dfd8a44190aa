"""/auth-log: every RADIUS authentication decision of the org's NAS clients (never a secret)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from aaad import authlog
from web.api.coretypes import Text, UtcTime
from web.api.declare import Call, Id, ListQuery, Out, Page, Router

router = Router("auth-log", "The auth log: who was accepted or rejected, by which NAS, and why")

Result = Literal["accept", "reject"]


class AuthLogOut(Out):
    id: int
    created_at: UtcTime
    nas_id: int | None
    username: str | None = Field(description="The User-Name the NAS sent.")
    method: str | None = Field(description="pap, chap, mschap, mschapv2...")
    result: Result
    reason: str | None = Field(description="Why it was rejected (also sent in Reply-Message).")
    calling_station: str | None = Field(description="Calling-Station-Id (usually the client's MAC address).")
    latency_us: int | None = Field(description="Time to decide, in microseconds.")


class AuthLogQuery(ListQuery):
    username: Text | None = Field(None, max_length=253, description="Exactly this user name.")
    result: Result | None = None
    nas_id: Id | None = None
    since: UtcTime | None = Field(None, description="Decisions at or after this time.")
    until: UtcTime | None = Field(None, description="Decisions before this time.")
    sort: Literal["-id", "id"] = Field("-id", description="-id: newest first.")


@router.get("/auth-log", summary="List the auth log")
async def list_auth_log(call: Call, query: AuthLogQuery) -> Page[AuthLogOut]:
    """The org's authentication decisions, newest first, filtered by user name, result, NAS and time.
    Decisions are written in batches about a second after they are made.  Every reject is logged; an
    accept repeating one logged less than ``[radius] auth_log_repeat_seconds`` (60) before, with the
    same user name, NAS and Calling-Station-Id, is only counted (``radius_auth_log_repeats``)."""
    p = await call.read(authlog.page, call.org_id, username=query.username, result=query.result,
                        nas_id=query.nas_id, since=query.since, until=query.until, sort=query.sort,
                        cursor=query.cursor, limit=query.limit)
    return Page[AuthLogOut](items=[AuthLogOut.model_validate(e) for e in p.items], next_cursor=p.next_cursor)
