"""/logins: what a NAS may authenticate (PPPoE and hotspot users, vouchers), as ``aaad user`` manages them.

Every change goes through the AAA view's one write path (``LoginWriter``): the
login row, the change feed and a ``login.*`` event in one transaction, so the
auth path and the routers follow.  A login written by billing (a service) or
a voucher has an owner; its protected fields change there, or here with
``force``.  The password is write-only.
"""
from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field

from aaad.errors import NotFound, ValidationError
from aaad.view import store
from aaad.view.model import LoginInfo
from aaad.view.write import Actor
from web.api.coretypes import Text, UtcTime
from web.api.declare import Call, Deleted, Id, In, ListQuery, Out, Page, Router

router = Router("logins", "Logins: the users a NAS authenticates, their profile, overrides and state")

T = TypeVar("T")
State = Literal["active", "disabled", "suspended", "expired", "exhausted", "unused", "revoked"]
AdminState = Literal["active", "disabled", "suspended"]
SuspendMode = Literal["reject", "walled_garden"]
LoginSort = Literal["id", "-id", "username", "-username", "created_at", "-created_at", "updated_at", "-updated_at"]
Username = Annotated[Text, Field(min_length=1, max_length=253, description="Unique in the org (at most 253 octets).")]
Password = Annotated[str, Field(min_length=1, max_length=128, description="Write-only; at most 128 octets.")]
Positive = Annotated[int, Field(ge=1, le=2**31 - 1)]
Octets = Annotated[int, Field(ge=0, le=2**63 - 1)]
RateLimit = Annotated[Text, Field(min_length=1, max_length=200, description="Mikrotik-Rate-Limit, e.g. 10M/10M.")]
FramedIp = Annotated[Text, Field(min_length=1, max_length=64, description="A fixed IPv4 address.")]


class LoginOut(Out):
    id: int
    username: str
    state: State = Field(description="exhausted and expired are set by the system (data cap, validity).")
    suspend_mode: SuspendMode = Field(description="How a suspended login is answered: rejected, or "
                                                  "accepted into the walled garden.")
    profile_id: int | None
    framed_ip: str | None
    rate_limit: str | None = Field(description="Overrides the profile's.")
    simultaneous_use: int | None
    expires_at: UtcTime | None
    validity_seconds: int | None = Field(description="Valid this long from first use.")
    first_used_at: UtcTime | None
    data_cap: int | None = Field(description="Octets (in + out) per quota cycle.")
    cycle_anchor: UtcTime | None
    owner_type: str | None = Field(description="What manages the login (service, voucher); null: the operator.")
    owner_id: int | None
    throttle_level: int = Field(description="FUP tiers reached in this cycle (0: full speed).")
    time_limit: int | None = Field(None, description="Seconds online in total (a voucher's).")
    data_limit: int | None = Field(None, description="Octets (in + out) in total (a voucher's).")
    bind_mac: bool = Field(False, description="Bound to the first device's MAC at first use.")
    time_used: int = Field(0, description="Seconds online so far (accounting; with a time limit).")
    octets_used: int = Field(0, description="Octets so far (accounting; with a data limit).")
    bound_mac: str | None = Field(None, description="The device it is bound to.")
    created_at: UtcTime
    updated_at: UtcTime


class LoginQuery(ListQuery):
    state: State | None = None
    profile_id: Id | None = None
    owner_type: Text | None = Field(None, max_length=32, description="service, voucher...; none: the operator's own.")
    q: Text | None = Field(None, max_length=100, description="Part of the user name.")
    sort: LoginSort = "id"


class LoginIn(In):
    username: Username
    password: Password
    profile_id: Id | None = None
    state: AdminState = "active"
    suspend_mode: SuspendMode = "reject"
    framed_ip: FramedIp | None = None
    rate_limit: RateLimit | None = None
    simultaneous_use: Positive | None = None
    expires_at: UtcTime | None = None
    validity_seconds: Positive | None = None
    data_cap: Octets | None = None
    cycle_anchor: UtcTime | None = None


class LoginPatch(In):
    username: Username | None = Field(None, description="A new user name.")
    password: Password | None = Field(None, description="A new password (write-only).")
    profile_id: Id | None = Field(None, description="null: no profile (as for each override below: null clears).")
    framed_ip: FramedIp | None = None
    rate_limit: RateLimit | None = None
    simultaneous_use: Positive | None = None
    expires_at: UtcTime | None = None
    validity_seconds: Positive | None = None
    data_cap: Octets | None = None
    cycle_anchor: UtcTime | None = None
    force: bool = Field(False, description="Change a login managed by billing or a voucher.")


class LoginStateIn(In):
    state: AdminState
    suspend_mode: SuspendMode | None = Field(None, description="For suspended: reject or walled_garden "
                                                               "(default: the login's).")
    reason: Text = Field("", max_length=200, description="Recorded with the change (login.state_changed).")
    force: bool = Field(False, description="Change a login managed by billing or a voucher.")


class LoginPath(In):
    login_id: Id


class LoginDeleteQuery(In):
    force: bool = Field(False, description="Remove a login managed by billing or a voucher.")


_OVERRIDES = ("profile_id", "framed_ip", "rate_limit", "simultaneous_use", "expires_at", "validity_seconds",
              "data_cap", "cycle_anchor")


def out(lg: LoginInfo) -> LoginOut:
    return LoginOut.model_validate(lg)


def _existing(call: Call, login_id: int) -> Any:
    """A ``before`` for writes: the login as it was, NotFound if the org has none such."""
    def before(conn: Any) -> LoginInfo:
        lg = store.login_info(conn, call.org_id, login_id)
        if lg is None:
            raise NotFound("login", login_id)
        return lg
    return before


async def _named(d: Awaitable[T]) -> T:
    """The write's result; the write path's ``profile`` field is this API's ``profile_id``."""
    try:
        return await d
    except ValidationError as e:
        if e.field == "profile":
            raise ValidationError("profile_id", e.message) from None
        raise


@router.get("/logins", summary="List logins")
async def list_logins(call: Call, query: LoginQuery) -> Page[LoginOut]:
    """The org's logins, filtered by state, profile, owner and a search text; sorted by id unless asked."""
    p = await call.read(store.page_logins, call.org_id, state=query.state, profile_id=query.profile_id,
                        owner_type=query.owner_type, q=query.q, sort=query.sort, cursor=query.cursor,
                        limit=query.limit)
    return Page[LoginOut](items=[out(x) for x in p.items], next_cursor=p.next_cursor)


@router.get("/logins/{login_id}", summary="A login")
async def get_login(call: Call, path: LoginPath) -> LoginOut:
    lg = await call.read(store.login_info, call.org_id, path.login_id)
    if lg is None:
        raise NotFound("login", path.login_id)
    return out(lg)


@router.post("/logins", summary="Add a login")
async def create_login(call: Call, body: LoginIn) -> LoginOut:
    """A new login of the operator's own (no owner); it may authenticate within a second."""
    writer = call.deps.login_writer
    values = body.model_dump(exclude={"username", "password"}, exclude_none=True)

    def create(conn: Any) -> LoginInfo:
        lg = writer.create(conn, call.org_id, body.username, body.password, call.now, **values)
        info = store.login_info(conn, call.org_id, lg.id)
        assert info is not None
        return info
    return out(await _named(call.write(create, target=f"login {body.username}")))


@router.patch("/logins/{login_id}", summary="Change a login")
async def update_login(call: Call, path: LoginPath, body: LoginPatch) -> LoginOut:
    """Change the profile and overrides sent (null clears one), the user name and the password, in one
    transaction. A login managed by billing or a voucher needs ``force`` (422 naming ``owner`` otherwise)."""
    writer = call.deps.login_writer
    sent = body.model_dump(exclude_unset=True)
    overrides = {k: sent[k] for k in _OVERRIDES if k in sent}
    username, password = sent.get("username"), sent.get("password")
    if not overrides and username is None and password is None:
        return await get_login(call, path)
    actor = Actor.operator(force=body.force)

    def change(conn: Any) -> LoginInfo:
        if overrides:
            writer.set_profile(conn, call.org_id, path.login_id, call.now, actor=actor, **overrides)
        if username is not None:
            writer.rename(conn, call.org_id, path.login_id, username, call.now, actor=actor)
        if password is not None:
            writer.set_password(conn, call.org_id, path.login_id, password, call.now, actor=actor)
        info = store.login_info(conn, call.org_id, path.login_id)
        assert info is not None
        return info
    return out(await _named(call.write(change, target=f"login {path.login_id}",
                                       before=_existing(call, path.login_id))))


@router.post("/logins/{login_id}/state", summary="Enable, disable or suspend a login", status=200)
async def set_login_state(call: Call, path: LoginPath, body: LoginStateIn) -> LoginOut:
    """Set the administrative state (as ``aaad user enable|disable|suspend``): a disabled login is rejected,
    a suspended one rejected or put in the walled garden; enforcement disconnects or changes its sessions.
    Nothing is written when the state and mode are already so."""
    writer = call.deps.login_writer

    def change(conn: Any) -> LoginInfo:
        writer.set_state(conn, call.org_id, path.login_id, body.state, call.now,
                         actor=Actor.operator(force=body.force), suspend_mode=body.suspend_mode,
                         reason=body.reason or "operator")
        info = store.login_info(conn, call.org_id, path.login_id)
        assert info is not None
        return info
    return out(await call.write(change, target=f"login {path.login_id}", before=_existing(call, path.login_id)))


@router.delete("/logins/{login_id}", summary="Remove a login")
async def delete_login(call: Call, path: LoginPath, query: LoginDeleteQuery) -> Deleted:
    """Remove the login (its open sessions are disconnected by enforcement). A login managed by billing or a
    voucher needs ``?force=true`` (422 naming ``owner`` otherwise)."""
    await call.write(call.deps.login_writer.remove, call.org_id, path.login_id, call.now,
                     actor=Actor.operator(force=query.force), target=f"login {path.login_id}",
                     before=_existing(call, path.login_id))
    return Deleted(id=path.login_id)
