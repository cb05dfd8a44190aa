"""/sessions: accounting sessions, open and closed (what ``aaad sessions`` shows)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from aaad.errors import NotFound, ValidationError
from accounting import store
from web.api.declare import Call, Id, In, Instant, ListQuery, Out, Page, Router

router = Router("sessions", "Accounting sessions: who is online, and what each session moved")

SessionSort = Literal["-start_time", "start_time", "-last_update", "last_update", "-id", "id"]


class SessionOut(Out):
    id: int
    login_id: int | None = Field(description="The login the user name belonged to (null: no such login then).")
    username: str
    nas_id: int
    acct_session_id: str = Field(description="Acct-Session-Id, as the NAS numbers its sessions.")
    open: bool = Field(description="No Stop yet (nor closed as stale or by a NAS reboot).")
    start_time: datetime
    last_update: datetime = Field(description="When the NAS last reported on the session.")
    stop_time: datetime | None
    session_time: int = Field(description="Seconds, as the NAS last reported.")
    input_octets: int = Field(description="Octets from the user (upload).")
    output_octets: int = Field(description="Octets to the user (download).")
    input_packets: int
    output_packets: int
    terminate_cause: int | None = Field(description="Acct-Terminate-Cause (RFC 2866): 1 user request, "
                                                    "3 lost service (closed as stale), 6 admin reset, "
                                                    "11 NAS reboot, ...")
    framed_ip: str | None
    calling_station: str | None = Field(description="Calling-Station-Id: usually the user's MAC address.")
    called_station: str | None
    nas_port: int | None
    nas_port_id: str | None
    interim_interval: int | None
    nas_ip: str | None = Field(description="The address the NAS sent this session's accounting from (where "
                                           "Disconnect and CoA go when the NAS is known by a network).")


class SessionQuery(ListQuery):
    open: bool | None = Field(None, description="true: open sessions only; false: closed ones only.")
    login_id: Id | None = None
    username: str | None = Field(None, min_length=1, max_length=253, pattern=r"^[^\x00]*$")
    nas_id: Id | None = None
    since: Instant | None = Field(None, description="Sessions still running at or after this time "
                                                          "(open, or stopped at or after it).")
    until: Instant | None = Field(None, description="Sessions started before this time.")
    sort: SessionSort = "-start_time"


class SessionPath(In):
    session_id: Id


def out(s: store.StoredSession) -> SessionOut:
    x = s.session
    return SessionOut(
        id=s.id, login_id=s.login_id, username=x.username, nas_id=x.nas_id, acct_session_id=x.session_id,
        open=x.stop_time is None, start_time=x.start_time, last_update=x.last_update, stop_time=x.stop_time,
        session_time=x.session_time, input_octets=x.input_octets, output_octets=x.output_octets,
        input_packets=x.input_packets, output_packets=x.output_packets, terminate_cause=x.terminate_cause,
        framed_ip=x.framed_ip, calling_station=x.calling_station, called_station=x.called_station,
        nas_port=x.nas_port, nas_port_id=x.nas_port_id, interim_interval=x.interim_interval, nas_ip=x.nas_ip)


@router.get("/sessions", summary="List sessions")
async def list_sessions(call: Call, query: SessionQuery) -> Page[SessionOut]:
    """The org's sessions, newest start first unless asked: open or closed, of a login (by id or user
    name), of a NAS, or running at some moment between ``since`` and ``until``."""
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise ValidationError("until", "must be after since")
    p = await call.read(store.page_sessions, call.org_id, is_open=query.open, login_id=query.login_id,
                        username=query.username, nas_id=query.nas_id, since=query.since, until=query.until,
                        sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[SessionOut](items=[out(s) for s in p.items], next_cursor=p.next_cursor)


@router.get("/sessions/{session_id}", summary="A session")
async def get_session(call: Call, path: SessionPath) -> SessionOut:
    s = await call.read(store.get_session, call.org_id, path.session_id)
    if s is None:
        raise NotFound("session", path.session_id)
    return out(s)
