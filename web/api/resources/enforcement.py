"""Enforcement: the action queue (CoA and Disconnect-Requests, profile syncs), disconnect now,
and routers through their RouterOS API (provision, status).

What ``aaad actions``, ``aaad disconnect``, ``aaad nas provision`` and ``aaad nas status`` do, and
retrying a failed action.
The router calls run on the running daemon's enforcement service (its RouterOS API pool):
without it they answer 503.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyAddress

from aaad.errors import NotFound, ValidationError
from aaad.nas import Nas
from aaad.nas import get as get_nas
from enforcement import actions, provision, status_store
from enforcement.routeros import RouterAccess, RouterError, RouterStatus
from web.api.app import ApiError
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router

router = Router("enforcement", "Enforcement: what was sent to the routers, disconnect now, provision a router "
                               "and check its status")

State = Literal["pending", "done", "failed"]
Kind = Literal["disconnect", "coa", "sync_profiles"]
ActionSort = Literal["-id", "id", "-created_at", "created_at"]
NO_TEXT_NUL = r"^[^\x00]*$"
HOST = r"^[A-Za-z0-9*]([A-Za-z0-9*.:-]*[A-Za-z0-9])?$"


class EnforcementActionOut(Out):
    id: int
    kind: Kind = Field(description="disconnect: a Disconnect-Request; coa: a CoA-Request (a new rate); "
                                   "sync_profiles: the org's profiles onto the router through its API.")
    cause: str = Field(description="The event that decided it (login.state_changed, ...), or manual.")
    event_id: int | None
    login_id: int | None
    username: str
    nas_id: int
    session_id: int | None = Field(description="The accounting session acted on (null: a router-wide action).")
    acct_session_id: str
    framed_ip: str | None
    nas_ip: str | None = Field(description="The session's NAS address: where the request went when the NAS is "
                                           "known by a network (else the NAS's own address).")
    attrs: dict[str, Any] = Field(description="Attributes sent besides the session's identity (the rate limit).")
    reason: str
    state: State
    attempts: int
    outcome: str | None = Field(description="ack, nak, gone, timeout, fallback, error or skipped.")
    error_cause: int | None = Field(description="The Error-Cause of a NAK (RFC 5176).")
    detail: str
    fallback: str | None = Field(description="api: the session was removed through the RouterOS API instead.")
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    rtt_ms: int | None


class ActionQuery(ListQuery):
    state: State | None = None
    kind: Kind | None = None
    login_id: Id | None = None
    nas_id: Id | None = None
    sort: ActionSort = "-id"


class ActionPath(In):
    action_id: Id


class DisconnectIn(In):
    login_id: Id | None = Field(None, description="The login to disconnect (or give username).")
    username: str | None = Field(None, min_length=1, max_length=253, pattern=NO_TEXT_NUL)
    reason: str = Field("", max_length=500, pattern=NO_TEXT_NUL, description="Recorded with each action.")


class DisconnectOut(Out):
    login_id: int
    username: str
    queued: int = Field(description="Disconnect-Requests queued: one per open session (0: none open).")
    actions: list[EnforcementActionOut] = Field(description="The actions queued, pending: the daemon sends "
                                                            "them at once; GET /actions/{id} shows the outcome.")


class RouterPath(In):
    nas_id: Id


class ProvisionIn(In):
    dry_run: bool = Field(False, description="Read the router and answer the commands that would be sent, "
                                             "sending none; without API credentials, the full configuration.")
    radius_address: IPvAnyAddress | None = Field(None, description="The address the router sends RADIUS to "
                                                                   "(default: [radius] address, or the IP of "
                                                                   "[web] public_url).")
    proxy_port: int = Field(8080, ge=1, le=65535, description="The router's web-proxy port the walled garden "
                                                              "redirects through.")
    hotspot: bool = Field(False, description="Also install the org's hotspot login pages (the router fetches "
                                             "each from [web] public_url with /tool fetch; fetched on every "
                                             "run) and the portal's host in the hotspot walled garden.")
    hotspot_dir: str = Field("hotspot", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                             description="The hotspot server profile's html-directory on the router.")
    hotspot_profile: str = Field("hsprof1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                 description="With hotspot, the hotspot server profile set to use RADIUS (aaad) "
                                             "for authentication and accounting, with hotspot_dir as its pages; "
                                             "added if missing (hsprof1 is the one /ip hotspot setup makes).")
    walled_garden: list[Annotated[str, Field(min_length=1, max_length=253, pattern=HOST)]] = Field(
        [], max_length=50, description="With hotspot, hosts devices may reach before login besides the "
                                       "portal's (e.g. the payment gateway's checkout); hosts no longer given "
                                       "are removed.")


class ProvisionOut(Out):
    nas_id: int
    dry_run: bool
    compared: bool = Field(description="Whether the router was read (false: a dry run without API credentials "
                                       "lists the full configuration).")
    commands: list[str] = Field(description="What was (or would be) sent, in RouterOS terminal syntax; "
                                            "secrets masked.")
    changed: int = Field(description="Commands the router accepted (0 on a dry run).")
    errors: list[str] = Field(description="Commands the router refused.")
    warnings: list[str]


class StatusQuery(In):
    live: bool = Field(False, description="Check the router now through its API (and record what was found) "
                                          "instead of answering the last recorded check.")


class RouterStatusOut(Out):
    nas_id: int
    has_api: bool = Field(description="Whether the NAS has RouterOS API credentials.")
    checked: bool = Field(description="Whether the router was ever checked (false: every other field is null).")
    reachable: bool | None = Field(description="Whether the router answered its API (a refused login "
                                               "counts as reachable, with an error).")
    version: str | None
    board: str | None
    identity: str | None
    uptime: str | None = Field(description="Only from a live check.")
    error: str | None
    checked_at: datetime | None


def out(a: actions.Action) -> EnforcementActionOut:
    return EnforcementActionOut.model_validate({**asdict(a), "session_id": a.session_row or None})


def _service(call: Call, what: str) -> Any:
    svc = call.deps.services.get("enforcement")
    if svc is None:
        raise ApiError(503, "unavailable", f"{what} runs on the daemon's enforcement service, which is not "
                                           "running here.")
    return svc


async def _nas(call: Call, nas_id: int) -> Nas:
    n: Nas | None = await call.read(get_nas, call.deps.box, call.org_id, nas_id)
    if n is None:
        raise NotFound("NAS", nas_id)
    return n


def _no_api(n: Nas) -> ApiError:
    return ApiError(409, "no_api_credentials", f"NAS {n.name} has no RouterOS API credentials: set api_username "
                                               "and api_password first.")


def _router_error(n: Nas, e: RouterError) -> ApiError:
    # 409, not 502: the router's state (down, refusing logins) stops the request, not aaad.
    return ApiError(409, "router_error", f"NAS {n.name}: the router's API failed: {e}")


# -- the action queue -----------------------------------------------------------------------------


@router.get("/actions", summary="List enforcement actions")
async def list_actions(call: Call, query: ActionQuery) -> Page[EnforcementActionOut]:
    """What enforcement sent (or will send) to the routers and how they answered, newest first unless
    asked; filtered by state, kind, login and NAS."""
    p = await call.read(actions.page_actions, call.org_id, state=query.state, kind=query.kind,
                        login_id=query.login_id, nas_id=query.nas_id, sort=query.sort, cursor=query.cursor,
                        limit=query.limit)
    return Page[EnforcementActionOut](items=[out(a) for a in p.items], next_cursor=p.next_cursor)


@router.get("/actions/{action_id}", summary="An enforcement action")
async def get_action(call: Call, path: ActionPath) -> EnforcementActionOut:
    a = await call.read(actions.get, call.org_id, path.action_id)
    if a is None:
        raise NotFound("action", path.action_id)
    return out(a)


@router.post("/actions/{action_id}/retry", summary="Send a failed action again", status=200)
async def retry_action(call: Call, path: ActionPath) -> EnforcementActionOut:
    """A failed action goes back to pending with a fresh attempt budget (its attempts, outcome and timings
    cleared; the failure kept in its detail); the daemon sends it at once. 422 naming ``state`` for an
    action that is pending or done."""
    a = await call.write(actions.retry, call.org_id, path.action_id, call.now, target=f"action {path.action_id}",
                         before=lambda conn: actions.get(conn, call.org_id, path.action_id))
    svc = call.deps.services.get("enforcement")
    if svc is not None:
        svc.sender.kick(rescan=True)
    return out(a)


@router.post("/disconnect", summary="Disconnect a login now", status=202, errors=(404,))
async def disconnect_login(call: Call, body: DisconnectIn) -> DisconnectOut:
    """Queue a Disconnect-Request (RFC 5176) for each open session of the login, by id or user name; the
    daemon sends them at once and records each NAS's answer on the action. The login is not changed:
    it may authenticate again (suspend it to keep it out)."""
    done: actions.Disconnected = await call.write(
        actions.disconnect_login, call.org_id, call.now, login_id=body.login_id, username=body.username,
        reason=body.reason or "API disconnect",
        target=f"login {body.login_id}" if body.login_id is not None else f"login {body.username}")
    svc = call.deps.services.get("enforcement")
    if svc is not None and done.actions:
        svc.sender.kick()
    return DisconnectOut(login_id=done.login_id, username=done.username, queued=len(done.actions),
                         actions=[out(a) for a in done.actions])


# -- routers ----------------------------------------------------------------------------------------


def _provisioned(conn: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The audit entry's 'after' of a provisioning (the router changed, not the database)."""
    return result


@router.post("/nas/{nas_id}/provision", summary="Provision a router", status=200, errors=(503,))
async def provision_nas(call: Call, path: RouterPath, body: ProvisionIn) -> ProvisionOut:
    """Make a MikroTik router ready for aaad through its RouterOS API, idempotently (what
    `aaad nas provision` does): RADIUS client, incoming CoA, PPP AAA, one PPP and hotspot profile per
    profile, the walled garden; with hotspot, the org's hotspot login pages. A second run changes nothing
    (but fetches the hotspot pages again). 409 no_api_credentials without API
    credentials (a dry run then lists the full configuration); 409 router_error when the router cannot
    be reached, refuses the login or stops answering."""
    n = await _nas(call, path.nas_id)
    conf = call.deps.conf
    address = str(body.radius_address) if body.radius_address is not None else \
        provision.default_radius_address(conf)
    if address is None:
        raise ValidationError("radius_address", "cannot tell which address the router reaches aaad's RADIUS "
                                                "at ([radius] address is a wildcard): give it")
    settings = provision.settings_from(conf, address, body.proxy_port, hotspot=body.hotspot,
                                       hotspot_directory=body.hotspot_dir, hotspot_hosts=body.walled_garden,
                                       hotspot_profile=body.hotspot_profile)
    warnings = [] if conf.web.public_url else [
        f"[web] public_url is not set: the walled garden redirects to {settings.public_url}, which the "
        "router's customers may not reach"]

    steps = await call.read(provision.plan_of, call.org_id, n, settings)
    access = RouterAccess.from_nas(n)
    if access is None:
        if not body.dry_run:
            raise _no_api(n)
        return ProvisionOut(nas_id=n.id, dry_run=True, compared=False,
                            commands=[c.cli() for c in provision.script(steps)], changed=0, errors=[],
                            warnings=warnings)
    svc = _service(call, "Provisioning")
    try:
        result: provision.ApplyResult = await svc.pool.apply(access, steps, body.dry_run)
    except RouterError as e:
        raise _router_error(n, e) from None
    answer = ProvisionOut(nas_id=n.id, dry_run=body.dry_run, compared=True, commands=result.cli(),
                          changed=0 if body.dry_run else len(result.commands) - len(result.errors),
                          errors=list(result.errors), warnings=warnings)
    if not body.dry_run:
        await call.write(_provisioned, answer.model_dump(), target=f"nas {n.id}")
    return answer


def _status_out(n: Nas, st: RouterStatus | None) -> RouterStatusOut:
    if st is None:
        return RouterStatusOut(nas_id=n.id, has_api=bool(n.api_username), checked=False, reachable=None,
                               version=None, board=None, identity=None, uptime=None, error=None,
                               checked_at=None)
    return RouterStatusOut(nas_id=n.id, has_api=bool(n.api_username), checked=True, reachable=st.reachable,
                           version=st.version, board=st.board, identity=st.identity, uptime=st.uptime,
                           error=st.error, checked_at=st.checked_at)


@router.get("/nas/{nas_id}/status", summary="A router's status", errors=(409, 503))
async def get_nas_status(call: Call, path: RouterPath, query: StatusQuery) -> RouterStatusOut:
    """The router's last recorded API check (daily, and by `aaad nas status`): reachable, RouterOS
    version, board, identity; with live=true, checked now (and recorded). An unreachable router is a
    status with its error, not a failure."""
    n = await _nas(call, path.nas_id)
    if not query.live:
        return _status_out(n, await call.read(status_store.last, call.org_id, n.id))
    if not n.api_username:
        raise _no_api(n)
    svc = _service(call, "A live router check")
    st: RouterStatus = await svc.routers.status(n)
    return _status_out(n, st)
