"""What enforcement decides, as rows: the action queue.

Enforcement follows the logins (``login.*``, ``profile.changed``), not
billing: whatever changed a login reaches the router the same way.  Each
subscriber below runs on the writer in the transaction that advances its
delivery position and writes one row per open session it must act on,
before anything is sent (see :mod:`enforcement.schema`):

- ``login.state_changed`` and ``login.removed``: a Disconnect-Request for
  each open session, so the NAS re-authenticates it into the new state now
  (a suspended customer is cut off, or lands in the walled garden; a resumed
  one leaves the walled garden for their plan's rate);
- ``login.profile_changed`` (a plan change or an override) and
  ``login.throttled`` (an FUP tier, or its lifting): a CoA-Request with the
  login's rate now (Mikrotik-Rate-Limit) on each open session, no
  disconnect (the sender turns a NAK into a Disconnect);
- ``profile.changed`` (an edited profile): the same CoA for every login of
  the profile with an open session (a mass event: one row per session);
  and for any profile created, edited or removed, a ``sync_profiles``
  action per router of the org with RouterOS API credentials (its PPP and
  hotspot profiles follow the org's).

Nothing is queued for a login with no open session, or for a CoA while the
login is not active (a suspended login's sessions are being disconnected).
The sender (:mod:`enforcement.sender`) performs the rows after commit and
writes their outcome back with :func:`record`.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from aaad import bulk, paging
from aaad.db import bulk_work, in_list
from aaad.errors import NotFound, ValidationError
from aaad.events import Event
from aaad.schema import logins, nas, profiles
from aaad.view.events import (
    LoginProfileChanged,
    LoginRemoved,
    LoginStateChanged,
    LoginThrottled,
    ProfileChanged,
)
from aaad.view.throttle import RateRule, reply_rates
from accounting.schema import sessions
from enforcement.schema import UTCDateTime, actions

DISCONNECT = "disconnect"
COA = "coa"
SYNC = "sync_profiles"      # the org's profiles onto a router, through its RouterOS API
RATE_ATTR = "Mikrotik-Rate-Limit"


@dataclass(frozen=True)
class Action:
    """One row of the queue (see :mod:`enforcement.schema` for the columns)."""
    id: int
    org_id: int
    kind: str
    cause: str
    event_id: int | None
    login_id: int | None
    username: str
    nas_id: int
    session_row: int
    acct_session_id: str
    framed_ip: str | None
    nas_ip: str | None
    attrs: dict[str, Any]
    reason: str
    state: str
    attempts: int
    outcome: str | None
    error_cause: int | None
    detail: str
    fallback: str | None
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    rtt_ms: int | None


_FIELDS = tuple(f.name for f in dataclasses.fields(Action))
# Rows are read in the dataclass's field order and built by position (a mass event's 10,000
# pending rows are read at once: by name, through a dict, they cost twice as much).
assert tuple(c.name for c in actions.columns) == _FIELDS, "enforcement_actions' columns and Action's fields differ"
_ATTRS = _FIELDS.index("attrs")


def _action(r: Any, parsed: dict[str, dict[str, Any]] | None = None) -> Action:
    """An :class:`Action` from a row of every column in table order; ``parsed`` caches the
    attributes' JSON across rows (a mass event's rows share it; each row gets its own dict)."""
    v = list(r)
    raw = v[_ATTRS] or "{}"
    cache = {} if parsed is None else parsed
    got = cache.get(raw)
    if got is None:
        got = cache[raw] = json.loads(raw)
    v[_ATTRS] = dict(got)
    return Action(*v)


@dataclass(frozen=True)
class OpenSession:
    row: int
    login_id: int | None
    username: str
    nas_id: int
    acct_session_id: str
    framed_ip: str | None
    nas_ip: str | None = None   # the address the NAS sent the session's accounting from


_OPEN_SESSIONS = (sa.select(sessions.c.id, sessions.c.login_id, sessions.c.username, sessions.c.nas_id,
                            sessions.c.session_id, sessions.c.framed_ip, sessions.c.nas_ip)
                  # org_id + 0: by the logins' index, not a walk of the org's every session (SQLite)
                  .where(sessions.c.org_id + 0 == sa.bindparam("org_id"), in_list(sessions.c.login_id),
                         sessions.c.stop_time.is_(None))
                  .order_by(sessions.c.id))


def open_sessions(conn: Connection, org_id: int, login_ids: Iterable[int]) -> list[OpenSession]:
    """The open accounting sessions of some logins (any NAS of the org)."""
    ids = list(login_ids)
    out: list[OpenSession] = []
    for i in range(0, len(ids), 500):
        out += [OpenSession(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], r[6])
                for r in conn.execute(_OPEN_SESSIONS, {"org_id": org_id, "ids": ids[i:i + 500]})]
    return out


def queue(conn: Connection, org_id: int, kind: str, cause: str, event_id: int | None,
          targets: list[OpenSession], now: datetime, *, reason: str = "",
          attrs: dict[int, dict[str, Any]] | None = None) -> int:
    """Write one pending action per session (a redelivered event writes nothing new:
    rows are unique per event, session and kind); the number of rows written."""
    if not targets:
        return 0
    if event_id is not None:
        have = {(int(r[0]), int(r[1])) for r in conn.execute(sa.select(actions.c.nas_id, actions.c.session_row).where(
            actions.c.event_id == event_id, actions.c.kind == kind))}
        targets = [t for t in targets if (t.nas_id, t.row) not in have]
    got = attrs or {}
    texts: dict[tuple[tuple[str, Any], ...], str] = {}   # a mass event's rows mostly share their attributes

    def text(a: dict[str, Any]) -> str:
        key = tuple(sorted(a.items()))
        t = texts.get(key)
        if t is None:
            t = texts[key] = json.dumps(a, sort_keys=True)
        return t
    rows = [(t.login_id, t.username, t.nas_id, t.row, t.acct_session_id, t.framed_ip, t.nas_ip,
             text(got.get(t.row, {}))) for t in targets]
    # Through the driver (aaad.bulk): a mass event's 10,000 rows in one statement, not 10,000
    # parameter sets through SQLAlchemy on the writer (its GIL time is RADIUS latency).
    bulk.insert_rows(conn, actions, ("login_id", "username", "nas_id", "session_row", "acct_session_id",
                                     "framed_ip", "nas_ip", "attrs"), rows,
                     org_id=org_id, kind=kind, cause=cause, event_id=event_id, reason=reason, state="pending",
                     attempts=0, detail="", created_at=now)
    return len(rows)


def _now(ev: Event) -> datetime:
    assert ev.created_at is not None
    return ev.created_at


# -- the subscribers (run on the writer, in the delivery transaction) ---------------------

def on_state_changed(conn: Connection, ev: Event) -> None:
    p: LoginStateChanged = ev.payload
    if p.old == p.new:
        return
    why = f"{p.old} -> {p.new}" + (f" ({p.suspend_mode})" if p.new == "suspended" else "")
    if p.reason:
        why += f": {p.reason}"
    queue(conn, ev.org_id, DISCONNECT, ev.type, ev.id, open_sessions(conn, ev.org_id, [p.login_id]), _now(ev),
          reason=why)


def on_removed(conn: Connection, ev: Event) -> None:
    p: LoginRemoved = ev.payload
    queue(conn, ev.org_id, DISCONNECT, ev.type, ev.id, open_sessions(conn, ev.org_id, [p.login_id]), _now(ev),
          reason="login removed")


def _queue_coas(conn: Connection, ev: Event, picked: list[tuple[OpenSession, str]], reason: str) -> int:
    """A CoA carrying its rate for each (session, rate)."""
    return queue(conn, ev.org_id, COA, ev.type, ev.id, [t for t, _ in picked], _now(ev), reason=reason,
                 attrs={t.row: {RATE_ATTR: rate} for t, rate in picked})


def _coa_rate(conn: Connection, ev: Event, login_ids: list[int], reason: str) -> int:
    """A CoA with each login's rate now on its open sessions (active logins only)."""
    targets = open_sessions(conn, ev.org_id, login_ids)
    if not targets:
        return 0
    rates = reply_rates(conn, ev.org_id, {t.login_id for t in targets if t.login_id is not None})
    picked = []
    for t in targets:
        state, rate = rates.get(t.login_id or 0, ("gone", None))
        if state == "active" and rate:
            picked.append((t, rate))
    return _queue_coas(conn, ev, picked, reason)


def _profile_sessions(conn: Connection, org_id: int, profile_id: int) -> list[tuple[OpenSession, str]]:
    """The open sessions of a profile's active logins that take its rate (no override of
    their own), each with the rate its next Access-Accept carries (None left out): what
    :func:`_coa_rate` picks for those logins, in one statement instead of two IN-lists per
    500 logins (a profile edit touches thousands)."""
    s, c, p = sessions.c, logins.c, profiles.c
    q = (sa.select(s.id, s.login_id, s.username, s.nas_id, s.session_id, s.framed_ip, s.nas_ip,
                   p.fup_tiers, p.fup_rate_limit, c.data_cap, c.throttle_level, c.rate_limit, p.rate_limit)
         .select_from(logins.join(sessions, s.login_id == c.id)
                      .join(profiles, sa.and_(p.id == c.profile_id, p.org_id == c.org_id)))
         .where(c.org_id == org_id, c.profile_id == profile_id, c.rate_limit.is_(None), c.state == "active",
                # org_id + 0: by the logins' index, not a walk of the org's every session (SQLite)
                s.org_id + 0 == org_id, s.stop_time.is_(None))
         .order_by(s.id))
    rule = RateRule()
    picked = []
    for r in conn.execute(q):
        rate = rule(r[7], r[8], r[9], r[10], r[11], r[12])
        if rate:
            picked.append((OpenSession(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], r[6]), rate))
    return picked


def on_profile_changed(conn: Connection, ev: Event) -> None:
    p: LoginProfileChanged = ev.payload
    if p.fields and not {"profile_id", "rate_limit"} & set(p.fields):
        return   # a change the router does not see mid-session (a fixed IP, a cap, ...)
    _coa_rate(conn, ev, [p.login_id], f"profile {p.old_profile_id} -> {p.new_profile_id}")


def on_throttled(conn: Connection, ev: Event) -> None:
    p: LoginThrottled = ev.payload
    if p.old_level == p.new_level:
        return
    _coa_rate(conn, ev, [p.login_id], f"FUP level {p.old_level} -> {p.new_level}")


def on_profile_edited(conn: Connection, ev: Event) -> None:
    p: ProfileChanged = ev.payload
    routers = [OpenSession(0, None, "", int(nid), "", None) for nid in conn.execute(
        sa.select(nas.c.id).where(nas.c.org_id == ev.org_id, nas.c.api_username.is_not(None)).order_by(nas.c.id))
        .scalars()]
    queue(conn, ev.org_id, SYNC, ev.type, ev.id, routers, _now(ev), reason=f"profile {p.name} {p.op}")
    if p.op != "updated":
        return
    bulk_work()   # thousands of sessions may use the profile: RADIUS keeps the core first
    _queue_coas(conn, ev, _profile_sessions(conn, ev.org_id, p.profile_id), f"profile {p.name} edited")


SUBSCRIPTIONS = (
    ("login.state_changed", on_state_changed),
    ("login.removed", on_removed),
    ("login.profile_changed", on_profile_changed),
    ("login.throttled", on_throttled),
    ("profile.changed", on_profile_edited),
)


# -- the queue's reads and outcomes -------------------------------------------------------

def pending(conn: Connection, after_id: int = 0, limit: int = 1000) -> list[Action]:
    """Pending actions in id order (every org: the sender serves them all)."""
    q = (sa.select(actions).where(actions.c.state == "pending", actions.c.id > after_id)
         .order_by(actions.c.id).limit(limit))
    parsed: dict[str, dict[str, Any]] = {}
    return [_action(r, parsed) for r in conn.execute(q)]


def get(conn: Connection, org_id: int, action_id: int) -> Action | None:
    r = conn.execute(sa.select(actions).where(actions.c.org_id == org_id, actions.c.id == action_id)).first()
    return _action(r) if r else None


def list_actions(conn: Connection, org_id: int | None = None, *, login_id: int | None = None,
                 nas_id: int | None = None, failed: bool = False, limit: int = 50) -> list[Action]:
    """The most recent actions, newest first (``org_id`` None: every org, for the operator)."""
    q = sa.select(actions)
    if org_id is not None:
        q = q.where(actions.c.org_id == org_id)
    if login_id is not None:
        q = q.where(actions.c.login_id == login_id)
    if nas_id is not None:
        q = q.where(actions.c.nas_id == nas_id)
    if failed:
        q = q.where(actions.c.state == "failed")
    return [_action(r) for r in conn.execute(q.order_by(actions.c.id.desc()).limit(limit))]


#: What actions may be sorted by (NOT NULL columns), for :func:`page_actions`.
ACTION_SORTS: dict[str, sa.ColumnElement[Any]] = {"id": actions.c.id, "created_at": actions.c.created_at}
STATES = ("pending", "done", "failed")
KINDS = (DISCONNECT, COA, SYNC)


def page_actions(conn: Connection, org_id: int, *, state: str | None = None, kind: str | None = None,
                 login_id: int | None = None, nas_id: int | None = None, sort: str = "-id",
                 cursor: str | None = None, limit: int = 50) -> paging.Page[Action]:
    """One page of the org's actions (see :mod:`aaad.paging`), filtered by state, kind, login and
    NAS; ``sort`` is a key of :data:`ACTION_SORTS` (``-`` for descending: newest first)."""
    q = sa.select(actions).where(actions.c.org_id == org_id)
    if state is not None:
        q = q.where(actions.c.state == state)
    if kind is not None:
        q = q.where(actions.c.kind == kind)
    if login_id is not None:
        q = q.where(actions.c.login_id == login_id)
    if nas_id is not None:
        q = q.where(actions.c.nas_id == nas_id)
    return paging.page(conn, q, sort=sort, columns=ACTION_SORTS, id_col=actions.c.id, cursor=cursor,
                       limit=limit, row=_action_of_page)


def _action_of_page(r: Any) -> Action:
    d = {k: v for k, v in r._mapping.items() if not k.startswith("_sort_")}
    d["attrs"] = json.loads(d["attrs"] or "{}")
    return Action(**d)


@dataclass(frozen=True)
class Outcome:
    action_id: int
    state: str              # done | failed
    outcome: str            # ack | nak | gone | timeout | fallback | error | skipped
    attempts: int
    detail: str = ""
    error_cause: int | None = None
    rtt_ms: int | None = None
    fallback: str | None = None
    close_session: bool = False    # the NAS says the session is gone: close our row


_RECORD = (actions.update().where(actions.c.id == sa.bindparam("b_id"))
           .values(state=sa.bindparam("b_state"), outcome=sa.bindparam("b_outcome"),
                   attempts=actions.c.attempts + sa.bindparam("b_attempts"), detail=sa.bindparam("b_detail"),
                   error_cause=sa.bindparam("b_cause"), rtt_ms=sa.bindparam("b_rtt"),
                   fallback=sa.bindparam("b_fallback"), done_at=sa.bindparam("b_done"),
                   sent_at=sa.func.coalesce(actions.c.sent_at, sa.bindparam("b_sent", type_=UTCDateTime))))


_STILL_PENDING = sa.select(actions.c.id).where(in_list(actions.c.id), actions.c.state == "pending")


def _record_arrays() -> Any:
    """PostgreSQL: every outcome in one UPDATE joined to the outcomes as arrays (``unnest``), only
    where the action is still pending, the ids recorded returned: one round trip a flush instead
    of a check and an ``executemany``, one statement text whatever the number."""
    p = sa.bindparam
    v = sa.func.unnest(p("ids", type_=ARRAY(sa.BigInteger)), p("states", type_=ARRAY(sa.String)),
                       p("outcomes", type_=ARRAY(sa.String)), p("attempts", type_=ARRAY(sa.Integer)),
                       p("details", type_=ARRAY(sa.Text)), p("causes", type_=ARRAY(sa.Integer)),
                       p("rtts", type_=ARRAY(sa.Integer)), p("fallbacks", type_=ARRAY(sa.String)),
                       p("sents", type_=ARRAY(UTCDateTime))).table_valued(
        "id", "state", "outcome", "attempts", "detail", "cause", "rtt", "fallback", "sent").render_derived(name="v")
    return (actions.update().where(actions.c.id == v.c.id, actions.c.state == "pending")
            .values(state=v.c.state, outcome=v.c.outcome, attempts=actions.c.attempts + v.c.attempts,
                    detail=v.c.detail, error_cause=v.c.cause, rtt_ms=v.c.rtt, fallback=v.c.fallback,
                    done_at=p("done", type_=UTCDateTime), sent_at=sa.func.coalesce(actions.c.sent_at, v.c.sent))
            .returning(actions.c.id))


_RECORD_ARRAYS = _record_arrays()


def record(conn: Connection, outcomes: list[Outcome], now: datetime,
           sent_at: dict[int, datetime] | None = None) -> list[int]:
    """Write outcomes of pending actions (an action already finished is left alone)
    with when each was first sent; the ids recorded, in ``outcomes``' order.  On PostgreSQL one
    statement for the lot (:data:`_RECORD_ARRAYS`; an id given twice takes the general path),
    elsewhere a check and one ``executemany``: a mass event's thousands of outcomes hold the
    writer for milliseconds."""
    sent_at = sent_at or {}
    ids = [o.action_id for o in outcomes]
    if conn.dialect.name == "postgresql" and len(set(ids)) == len(ids):
        got = set(conn.execute(_RECORD_ARRAYS, {
            "ids": ids, "states": [o.state for o in outcomes], "outcomes": [o.outcome for o in outcomes],
            "attempts": [o.attempts for o in outcomes], "details": [o.detail for o in outcomes],
            "causes": [o.error_cause for o in outcomes], "rtts": [o.rtt_ms for o in outcomes],
            "fallbacks": [o.fallback for o in outcomes], "sents": [sent_at.get(i) for i in ids],
            "done": now}).scalars())
        return [i for i in ids if i in got]
    still: set[int] = set()
    for i in range(0, len(ids), 500):
        still.update(conn.execute(_STILL_PENDING, {"ids": ids[i:i + 500]}).scalars())
    todo = [o for o in outcomes if o.action_id in still]
    if todo:
        conn.execute(_RECORD, [{"b_id": o.action_id, "b_state": o.state, "b_outcome": o.outcome,
                                "b_attempts": o.attempts, "b_detail": o.detail, "b_cause": o.error_cause,
                                "b_rtt": o.rtt_ms, "b_fallback": o.fallback, "b_done": now,
                                "b_sent": sent_at.get(o.action_id)} for o in todo])
    return [o.action_id for o in todo]


def retry(conn: Connection, org_id: int, action_id: int, now: datetime) -> Action:
    """Send a failed action of the org again: it goes back to pending with a fresh attempt budget (its
    attempts, outcome and timings cleared), the failure it had kept in its detail.  The sender takes it
    at its next look at the whole queue: at once after ``kick(rescan=True)`` (the API and the console),
    else at its periodic rescan (another process, another instance).
    NotFound outside the org; ValidationError("state") unless it failed."""
    a = get(conn, org_id, action_id)
    if a is None:
        raise NotFound("action", action_id)
    if a.state != "failed":
        raise ValidationError("state", f"Only a failed action can be retried; action {a.id} is {a.state}.")
    was = f"{a.outcome or 'failed'} after {a.attempts} attempt(s)" + (f": {a.detail}" if a.detail else "")
    detail = f"retry asked {now:%Y-%m-%d %H:%M:%S} UTC; before: {was}"[:2000]
    done = conn.execute(actions.update().where(actions.c.id == a.id, actions.c.org_id == org_id,
                                               actions.c.state == "failed")
                        .values(state="pending", attempts=0, outcome=None, error_cause=None, fallback=None,
                                sent_at=None, done_at=None, rtt_ms=None, detail=detail)).rowcount
    if done != 1:       # another retry got there first
        raise ValidationError("state", f"Only a failed action can be retried; action {a.id} is pending.")
    got = get(conn, org_id, action_id)
    assert got is not None
    return got


def request_disconnect(conn: Connection, org_id: int, login_id: int, username: str, now: datetime, *,
                       reason: str = "manual") -> int:
    """Queue a Disconnect-Request for each open session of a login (``aaad disconnect``);
    the number queued (0: no open session)."""
    return queue(conn, org_id, DISCONNECT, "manual", None, open_sessions(conn, org_id, [login_id]), now,
                 reason=reason)


@dataclass(frozen=True)
class Disconnected:
    """What :func:`disconnect_login` queued: one pending action per open session (none: no session)."""
    login_id: int
    username: str
    actions: list[Action]


def disconnect_login(conn: Connection, org_id: int, now: datetime, *, login_id: int | None = None,
                     username: str | None = None, reason: str = "manual") -> Disconnected:
    """Queue a Disconnect-Request for each open session of the org's login named by id or by
    user name (:func:`request_disconnect`), and return the actions queued.  NotFound if the org
    has no such login; ValidationError unless exactly one of ``login_id`` and ``username`` is given."""
    if (login_id is None) == (username is None):
        raise ValidationError("login_id", "give either login_id or username")
    q = sa.select(logins.c.id, logins.c.username).where(logins.c.org_id == org_id)
    q = q.where(logins.c.id == login_id) if login_id is not None else q.where(logins.c.username == username)
    r = conn.execute(q).first()
    if r is None:
        raise NotFound("login", login_id if login_id is not None else username)
    before = conn.execute(sa.select(sa.func.max(actions.c.id)).where(actions.c.org_id == org_id,
                                                                    actions.c.login_id == r.id)).scalar()
    n = request_disconnect(conn, org_id, int(r.id), r.username, now, reason=reason)
    queued: list[Action] = []
    if n:
        q2 = (sa.select(actions).where(actions.c.org_id == org_id, actions.c.login_id == r.id,
                                       actions.c.cause == "manual", actions.c.id > (before or 0))
              .order_by(actions.c.id))
        queued = [_action(a) for a in conn.execute(q2)]
    return Disconnected(int(r.id), r.username, queued)


def disconnect_session(conn: Connection, org_id: int, session_row: int, now: datetime, *,
                       reason: str = "manual") -> Action:
    """Queue a Disconnect-Request for one open accounting session of the org (by its row id), as
    :func:`disconnect_login` does for each of a login's; the action queued.  NotFound if the org has
    no such open session."""
    s = sessions
    r = conn.execute(sa.select(s.c.id, s.c.login_id, s.c.username, s.c.nas_id, s.c.session_id, s.c.framed_ip,
                               s.c.nas_ip)
                     .where(s.c.org_id == org_id, s.c.id == session_row, s.c.stop_time.is_(None))).first()
    if r is None:
        raise NotFound("session", session_row)
    before = conn.execute(sa.select(sa.func.max(actions.c.id)).where(actions.c.org_id == org_id)).scalar()
    queue(conn, org_id, DISCONNECT, "manual", None,
          [OpenSession(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], r[6])], now, reason=reason)
    a = conn.execute(sa.select(actions).where(actions.c.org_id == org_id, actions.c.session_row == session_row,
                                              actions.c.id > (before or 0))
                     .order_by(actions.c.id.desc())).first()
    assert a is not None
    return _action(a)


def prune(conn: Connection, before: datetime) -> int:
    """Delete finished actions done before ``before`` (pending ones stay)."""
    return int(conn.execute(actions.delete().where(actions.c.state != "pending",
                                                   actions.c.done_at < before)).rowcount)
