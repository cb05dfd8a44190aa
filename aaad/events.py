"""The event outbox: publish in the caller's transaction, deliver per subscriber.

``publish(conn, org_id, payload, now)`` inserts a row in the same
transaction as the change it describes, so an event exists if and only if
its change committed.  Each package declares its own payload dataclasses
with ``@event_type("noun.past_tense")`` (DESIGN.md, "Event glossary").

Delivery (:class:`Dispatcher`), per named subscriber:

- A subscriber is ``fn(conn, event)``, run on the writer in the SAME
  transaction that advances its position (``event_subscribers``), so what it
  decides (a row in its own action or message outbox) commits exactly once
  with that advance.  It runs on the writer thread: it touches only that
  connection (no reactor state) and does no I/O: the side effect (a CoA, an
  SMTP send) is performed after commit from that row by whoever owns the
  outbox (``subscribe(..., after_commit=...)`` wakes it).
  It gets the events of its types in id order per org.
- A failing subscriber delays only itself, and only for the org of the
  failing event: the event becomes the ``failing`` head of that org's queue
  (``event_failures``), retried with exponential back-off on the clock while
  the subscriber's other orgs go on; the org's later events wait behind it
  and are caught up, in order, once it succeeds.  After ``max_attempts`` it
  is parked as ``dead`` for that subscriber (the org's queue moves on),
  visible with ``aaad events --dead`` and re-queued with ``aaad events retry``
  (then delivered once more, out of order: an operator asked for it).
- On PostgreSQL, publishing takes a transaction-scoped advisory lock, so
  event ids become visible in id order and a subscriber's position never
  skips an event whose transaction commits later (SQLite has one writer).
- Only the leader instance dispatches; passes of one subscriber lock its
  row, so two dispatchers (a leader hand-over) never deliver an event twice.
- Fault point ``after_commit_before_send`` (aaad.faults): after a
  subscriber's transaction committed, before anything runs after it.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad import paging
from aaad.bulk import insert_rows
from aaad.clock import utcnow
from aaad.db import PUBLISHED, bulk_work, tx_notes
from aaad.errors import NotFound, ValidationError
from aaad.faults import fault_point
from aaad.schema import event_failures as failures_t
from aaad.schema import event_subscribers as subs_t
from aaad.schema import events as events_t
from aaad.timer import Timer

log = Logger()

EVENT_TYPES: dict[str, type] = {}

# pg_advisory_xact_lock key serialising publishers (see the module docstring).
_PUBLISH_LOCK = 0x4141_4144_0003
_LOCKED = "aaad.publish_locked"  # conn.info: the transaction that holds it


def event_type(name: str) -> Callable[[type], type]:
    """Register a payload dataclass under its event type name."""
    def deco(cls: type) -> type:
        cls.TYPE = name  # type: ignore[attr-defined]
        EVENT_TYPES[name] = cls
        return cls
    return deco


# -- publish / read ----------------------------------------------------------------

def publish(conn: Connection, org_id: int, payload: Any, now: datetime) -> None:
    """Insert the event in the caller's transaction."""
    publish_many(conn, org_id, [payload], now)


def publish_many(conn: Connection, org_id: int, payloads: list[Any], now: datetime) -> None:
    """Insert the events, in order, in the caller's transaction (one statement: a batch job's chunk)."""
    if not payloads:
        return
    for payload in payloads:
        if EVENT_TYPES.get(type(payload).TYPE) is not type(payload):
            raise TypeError(f"{type(payload).__name__} is not a registered event type")
    notes = tx_notes(conn)
    if conn.dialect.name == "postgresql" and conn.info.get(_LOCKED) is not conn.get_transaction():
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
        conn.info[_LOCKED] = conn.get_transaction()
    insert_rows(conn, events_t, ("type", "payload"), [(type(p).TYPE, _payload_json(p)) for p in payloads],
                org_id=org_id, created_at=now)
    notes[PUBLISHED] = True


#: A delivery pass with this many new events is a burst nobody waits on event by event: it runs
#: at the writer's background priority (``aaad.db.bulk_work``); single events keep the full one.
BULK_PASS = 20

_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, frozenset[str]] = {}
_ENCODER = json.JSONEncoder(sort_keys=True)   # what json.dumps(..., sort_keys=True) builds per call


def _payload_json(p: Any) -> str:
    """``json.dumps(dataclasses.asdict(p), sort_keys=True)``, without asdict's deep copy
    for the usual payload of plain scalars."""
    names = _FIELDS.get(type(p))
    if names is None:
        names = _FIELDS[type(p)] = frozenset(f.name for f in dataclasses.fields(p))
    d = getattr(p, "__dict__", None)          # the fields themselves (a dataclass without slots)
    if d is None or d.keys() != names:
        d = {n: getattr(p, n) for n in names}
    for v in d.values():
        if type(v) not in _SCALARS:
            return _ENCODER.encode(dataclasses.asdict(p))
    return _ENCODER.encode(d)


@dataclass(frozen=True)
class Event:
    id: int
    org_id: int
    type: str
    payload: Any
    created_at: datetime | None = None
    attempt: int = 1          # 1 on first delivery to a subscriber, then 2, 3, ...


def _event(r: Any, attempt: int = 1) -> Event:
    cls = EVENT_TYPES.get(r.type)
    data = json.loads(r.payload)
    return Event(r.id, r.org_id, r.type, cls(**data) if cls else data, r.created_at, attempt)


def list_events(conn: Connection, after: int = 0, limit: int = 200, types: Iterable[str] | None = None,
                org_id: int | None = None) -> list[Event]:
    """Events with id > ``after`` in id order (optionally of some types, or one org)."""
    q = sa.select(events_t).where(events_t.c.id > after)
    if types is not None:
        q = q.where(events_t.c.type.in_(list(types)))
    if org_id is not None:
        q = q.where(events_t.c.org_id == org_id)
    return [_event(r) for r in conn.execute(q.order_by(events_t.c.id).limit(limit))]


# -- delivery (runs on the writer) -----------------------------------------------------

Subscriber = Callable[[Connection, Event], object]  # returns None (checked)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing event is retried: back-off doubles up to ``max_backoff``."""
    max_attempts: int = 10
    backoff: float = 1.0
    max_backoff: float = 3600.0

    def delay(self, attempts: int) -> float:
        factor: float = 2 ** min(attempts - 1, 30)  # a float when attempts < 1
        return min(self.max_backoff, self.backoff * factor)


@dataclass
class PassResult:
    """What one delivery transaction of one subscriber did."""
    delivered: int = 0
    retries: int = 0
    dead: int = 0
    more: bool = False
    errors: list[tuple[int, str]] = field(default_factory=list)   # (event id, error)


def register_subscribers(conn: Connection, subs: dict[str, list[str]], now: datetime) -> None:
    """Record each subscriber and its types (a new one starts at the oldest kept event)."""
    for name, types in subs.items():
        n = conn.execute(subs_t.update().where(subs_t.c.name == name).values(
            types=",".join(sorted(types)), seen_at=now)).rowcount
        if not n:
            conn.execute(subs_t.insert().values(name=name, types=",".join(sorted(types)), position=0,
                                                seen_at=now, updated_at=now))


def _attempt(conn: Connection, fn: Subscriber, ev: Event) -> str | None:
    """Run the subscriber in a savepoint; its error (rolled back) or None."""
    sp = conn.begin_nested()
    try:
        if fn(conn, ev) is not None:
            raise TypeError("a subscriber runs in the writer's transaction and returns nothing "
                            "(do side effects after commit, from a row it writes)")
    except Exception as e:  # noqa: BLE001 - any subscriber error is the event's failure
        sp.rollback()
        return f"{type(e).__name__}: {e}"[:2000]
    sp.commit()
    return None


def deliver_pass(conn: Connection, name: str, handlers: dict[str, Subscriber], now: datetime,
                 policy: RetryPolicy, limit: int = 100) -> PassResult:
    """One transaction of deliveries to subscriber ``name``: due retries first, then new events."""
    res = PassResult()
    # Lock the subscriber's row first: passes of one subscriber never interleave.
    if not conn.execute(subs_t.update().where(subs_t.c.name == name).values(
            updated_at=now, seen_at=now)).rowcount:
        register_subscribers(conn, {name: list(handlers)}, now)
    pos = conn.execute(sa.select(subs_t.c.position).where(subs_t.c.name == name)).scalar_one()
    types = list(handlers)
    budget = limit
    f = failures_t

    def load(event_id: int) -> Any:
        return conn.execute(sa.select(events_t).where(events_t.c.id == event_id)).first()

    def next_in_org(org_id: int, after: int) -> Any:
        return conn.execute(sa.select(events_t).where(
            events_t.c.org_id == org_id, events_t.c.id > after, events_t.c.id <= pos,
            events_t.c.type.in_(types)).order_by(events_t.c.id).limit(1)).first()

    def failed(row_id: int | None, ev: Event, attempts: int, error: str, org_id: int,
               state: str) -> bool:
        """Record a failed attempt; True when it is now dead."""
        res.errors.append((ev.id, error))
        dead = attempts >= policy.max_attempts
        values = {"attempts": attempts, "last_error": error, "updated_at": now,
                  "state": "dead" if dead else state,
                  "next_attempt_at": None if dead else now + timedelta(seconds=policy.delay(attempts))}
        if row_id is None:
            conn.execute(f.insert().values(subscriber=name, event_id=ev.id, org_id=org_id, **values))
        else:
            conn.execute(f.update().where(f.c.id == row_id).values(**values))
        if dead:
            res.dead += 1
        else:
            res.retries += 1
        return dead

    # 1. Due retries: operator re-queued dead events, and the failing heads of stalled orgs.
    due = conn.execute(sa.select(f).where(f.c.subscriber == name, f.c.state.in_(("failing", "retry")),
                                          f.c.next_attempt_at <= now)
                       .order_by(f.c.event_id).limit(budget)).all()
    for row in due:
        r = load(row.event_id)
        if r is None or (row.state == "retry" and r.type not in handlers):  # gone, or no longer ours
            conn.execute(f.delete().where(f.c.id == row.id))
            continue
        if row.state == "retry":
            budget -= 1
            ev = _event(r, row.attempts + 1)
            err = _attempt(conn, handlers[ev.type], ev)
            if err is None:
                res.delivered += 1
                conn.execute(f.delete().where(f.c.id == row.id))
            else:
                failed(row.id, ev, row.attempts + 1, err, row.org_id, "retry")
            continue
        row_id, attempts = row.id, row.attempts
        while r is not None and budget > 0:   # the stalled org's queue, in order
            budget -= 1
            ev = _event(r, attempts + 1)
            handler = handlers.get(ev.type)
            err = None if handler is None else _attempt(conn, handler, ev)
            if err is not None and not failed(row_id, ev, attempts + 1, err, row.org_id, "failing"):
                break                          # still failing: wait for the back-off
            if err is None and handler is not None:
                res.delivered += 1
            nxt = next_in_org(row.org_id, ev.id)
            if err is None:
                if nxt is None:
                    conn.execute(f.delete().where(f.c.id == row_id))
                else:
                    conn.execute(f.update().where(f.c.id == row_id).values(
                        event_id=nxt.id, attempts=0, last_error=None, next_attempt_at=now,
                        updated_at=now))
            elif nxt is not None:             # dead: the org's queue moves on behind a new head
                row_id = conn.execute(f.insert().values(
                    subscriber=name, event_id=nxt.id, org_id=row.org_id, state="failing", attempts=0,
                    next_attempt_at=now, updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
            r, attempts = nxt, 0
        if r is not None and budget <= 0:
            res.more = True

    # 2. New events after the position; stalled orgs' events wait behind their head.
    stalled = set(conn.execute(sa.select(f.c.org_id).where(f.c.subscriber == name,
                                                           f.c.state == "failing")).scalars())
    head = conn.execute(sa.select(sa.func.max(events_t.c.id))).scalar() or 0
    rows = conn.execute(sa.select(events_t).where(
        events_t.c.id > pos, events_t.c.id <= head, events_t.c.type.in_(types))
        .order_by(events_t.c.id).limit(max(budget, 0))).all() if budget > 0 else []
    if len(rows) >= BULK_PASS:
        bulk_work()   # a burst (a billing run, a bulk change): RADIUS keeps the core first
    for r in rows:
        if r.org_id in stalled:
            continue
        ev = _event(r)
        err = _attempt(conn, handlers[ev.type], ev)
        if err is None:
            res.delivered += 1
        elif not failed(None, ev, 1, err, r.org_id, "failing"):
            stalled.add(r.org_id)
    if budget <= 0 or len(rows) == budget:
        res.more = True
        new_pos = rows[-1].id if rows else pos
    else:
        new_pos = head
    if new_pos != pos:
        conn.execute(subs_t.update().where(subs_t.c.name == name).values(position=new_pos))
    return res


@dataclass(frozen=True)
class Backlog:
    head: int
    positions: dict[str, int]
    due: set[str]
    dead: int


def backlog(conn: Connection, names: list[str], now: datetime) -> Backlog:
    """What the dispatcher has to do: the outbox head, positions, subscribers with due retries."""
    head = conn.execute(sa.select(sa.func.max(events_t.c.id))).scalar() or 0
    pos = {r.name: r.position for r in conn.execute(
        sa.select(subs_t.c.name, subs_t.c.position).where(subs_t.c.name.in_(names)))}
    f = failures_t
    due = set(conn.execute(sa.select(f.c.subscriber).distinct().where(
        f.c.subscriber.in_(names), f.c.state.in_(("failing", "retry")),
        f.c.next_attempt_at <= now)).scalars())
    dead = conn.execute(sa.select(sa.func.count()).select_from(f).where(f.c.state == "dead")).scalar_one()
    return Backlog(head, pos, due, dead)


# -- operator views ----------------------------------------------------------------------

@dataclass(frozen=True)
class SubscriberStatus:
    name: str
    types: list[str]
    position: int
    lag: int            # events of its types after its position
    failing: int        # orgs stalled behind a failing event
    dead: int
    seen_at: datetime


@dataclass(frozen=True)
class Failure:
    id: int
    subscriber: str
    event_id: int
    org_id: int
    type: str | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    updated_at: datetime


def subscriber_status(conn: Connection) -> list[SubscriberStatus]:
    """Every subscriber a dispatcher has registered, with its lag and failures."""
    out = []
    f = failures_t
    for r in conn.execute(sa.select(subs_t).order_by(subs_t.c.name)):
        types = [t for t in r.types.split(",") if t]
        lag = conn.execute(sa.select(sa.func.count()).select_from(events_t).where(
            events_t.c.id > r.position, events_t.c.type.in_(types))).scalar_one()
        counts: dict[str, int] = {state: n for state, n in conn.execute(
            sa.select(f.c.state, sa.func.count()).where(f.c.subscriber == r.name).group_by(f.c.state))}
        out.append(SubscriberStatus(r.name, types, r.position, lag, counts.get("failing", 0),
                                    counts.get("dead", 0), r.seen_at))
    return out


def list_failures(conn: Connection, dead_only: bool = False) -> list[Failure]:
    f = failures_t
    q = sa.select(f, events_t.c.type).select_from(
        f.outerjoin(events_t, events_t.c.id == f.c.event_id))
    if dead_only:
        q = q.where(f.c.state == "dead")
    return [Failure(r.id, r.subscriber, r.event_id, r.org_id, r.type, r.state, r.attempts, r.next_attempt_at,
                    r.last_error, r.updated_at)
            for r in conn.execute(q.order_by(f.c.subscriber, f.c.event_id))]


def retry_dead(conn: Connection, event_id: int, now: datetime, subscriber: str | None = None) -> int:
    """Re-queue a dead event (for one subscriber, or every one it died for); how many."""
    f = failures_t
    q = f.update().where(f.c.event_id == event_id, f.c.state == "dead")
    if subscriber is not None:
        q = q.where(f.c.subscriber == subscriber)
    return conn.execute(q.values(state="retry", attempts=0, next_attempt_at=now, updated_at=now)).rowcount


def retry_dead_in_org(conn: Connection, org_id: int, event_id: int, now: datetime,
                      subscriber: str | None = None) -> list[str]:
    """:func:`retry_dead` for an event of the org: the subscribers it is re-queued for.  NotFound if the
    org has no such event; ValidationError if it is not dead (for ``subscriber``)."""
    if get(conn, org_id, event_id) is None:
        raise NotFound("event", event_id)
    f = failures_t
    q = sa.select(f.c.subscriber).where(f.c.org_id == org_id, f.c.event_id == event_id, f.c.state == "dead")
    if subscriber is not None:
        q = q.where(f.c.subscriber == subscriber)
    names = sorted(conn.execute(q).scalars())
    if not names:
        if subscriber is not None:
            raise ValidationError("subscriber", f"event {event_id} is not dead for {subscriber!r}")
        raise ValidationError("event_id", f"event {event_id} is not dead for any subscriber")
    conn.execute(f.update().where(f.c.org_id == org_id, f.c.event_id == event_id, f.c.state == "dead",
                                  f.c.subscriber.in_(names))
                 .values(state="retry", attempts=0, next_attempt_at=now, updated_at=now))
    return names


# -- the admin API's listings --------------------------------------------------------------

def get(conn: Connection, org_id: int, event_id: int) -> Event | None:
    """The org's event ``event_id``, or None."""
    r = conn.execute(sa.select(events_t).where(events_t.c.org_id == org_id, events_t.c.id == event_id)).first()
    return None if r is None else _event(r)


#: Sort keys of :func:`page` and :func:`page_failures` (ids grow with time).
SORTS: dict[str, sa.ColumnElement[Any]] = {"id": events_t.c.id}
FAILURE_SORTS: dict[str, sa.ColumnElement[Any]] = {"id": failures_t.c.id, "event_id": failures_t.c.event_id,
                                                   "updated_at": failures_t.c.updated_at}


def page(conn: Connection, org_id: int, *, types: Iterable[str] | None = None, since: datetime | None = None,
         until: datetime | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Event]:
    """One page of the org's events (see :mod:`aaad.paging`), newest first unless asked, of some types,
    created in [``since``, ``until``)."""
    c = events_t.c
    query = sa.select(events_t).where(c.org_id == org_id)
    if types is not None:
        query = query.where(c.type.in_(list(types)))
    if since is not None:
        query = query.where(c.created_at >= since)
    if until is not None:
        query = query.where(c.created_at < until)
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=c.id, cursor=cursor, limit=limit,
                       row=_event)


def _failure(r: Any) -> Failure:
    return Failure(r.id, r.subscriber, r.event_id, r.org_id, r.type, r.state, r.attempts, r.next_attempt_at,
                   r.last_error, r.updated_at)


def page_failures(conn: Connection, org_id: int, *, state: str | None = "dead", subscriber: str | None = None,
                  event_id: int | None = None, sort: str = "-id", cursor: str | None = None,
                  limit: int = 50) -> paging.Page[Failure]:
    """One page of the org's failed deliveries (see :mod:`aaad.paging`): dead ones unless asked
    (``state`` None: every state), of one subscriber or one event."""
    f = failures_t
    query = sa.select(f, events_t.c.type).select_from(
        f.outerjoin(events_t, events_t.c.id == f.c.event_id)).where(f.c.org_id == org_id)
    if state is not None:
        query = query.where(f.c.state == state)
    if subscriber is not None:
        query = query.where(f.c.subscriber == subscriber)
    if event_id is not None:
        query = query.where(f.c.event_id == event_id)
    return paging.page(conn, query, sort=sort, columns=FAILURE_SORTS, id_col=f.c.id, cursor=cursor,
                       limit=limit, row=_failure)


def prune_delivered(conn: Connection, before: datetime) -> int:
    """Delete events older than ``before`` that every active subscriber is done with.

    Active: registered by a dispatcher since ``before`` (a subscriber
    removed from the code stops holding events back after that long).
    Events still failing or dead for someone, and those queued behind a
    failing one, are kept; so is the newest event (ids must never go back).
    """
    active = subs_t.c.seen_at >= before
    limit = conn.execute(sa.select(sa.func.min(subs_t.c.position)).where(active)).scalar()
    first_failing = conn.execute(sa.select(sa.func.min(failures_t.c.event_id)).where(
        failures_t.c.state == "failing")).scalar()
    # The newest event stays: an emptied table would give ids out again from 1 on
    # SQLite (max id + 1), below every subscriber's position.
    newest = sa.select(sa.func.max(events_t.c.id)).scalar_subquery()
    q = events_t.delete().where(events_t.c.created_at < before, events_t.c.id < newest,
                                events_t.c.id.not_in(sa.select(failures_t.c.event_id)))
    if limit is not None:
        q = q.where(events_t.c.id <= limit)
    if first_failing is not None:
        q = q.where(events_t.c.id < first_failing)
    return conn.execute(q).rowcount


# -- the dispatcher ------------------------------------------------------------------------

class Dispatcher:
    """Delivers outbox rows to named, transactional subscribers (see the module docstring)."""

    def __init__(self, db: Any, clock: Any, interval: float = 0.25, policy: RetryPolicy | None = None,
                 stats: Any = None, batch: int = 100):
        self.db = db
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.subscribers: dict[str, dict[str, Subscriber]] = {}
        self.after_commit: dict[str, list[Callable[[], None]]] = {}
        self.timer = Timer(self.run_once, interval, clock, "event dispatcher")
        self.enabled = True  # False on a non-leader instance
        self._registered = False
        self.delivered = 0
        self.failures = 0
        self.dead_parked = 0  # dead events in the outbox at the last pass
        from aaad.metrics import Stats
        s = stats if stats is not None else Stats()
        self._deliveries = s.counter("aaad_event_deliveries_total",
                                     "Events delivered to a subscriber (committed).", "subscriber")
        self._retries = s.counter("aaad_event_retries_total",
                                  "Failed deliveries that will be retried after back-off.", "subscriber")
        self._dead = s.counter("aaad_event_dead_total",
                               "Events parked as dead for a subscriber after the retry bound.", "subscriber")
        s.gauge("aaad_events_dead", "Dead events waiting for an operator (aaad events --dead).",
                lambda: self.dead_parked)

    def subscribe(self, name: str, event_type_name: str, fn: Subscriber,
                  after_commit: Callable[[], None] | None = None) -> None:
        """Deliver ``event_type_name`` events to ``fn(conn, event)`` under subscriber ``name``.

        ``after_commit`` (optional) runs on the reactor after a transaction
        that delivered to ``name``: the place to wake whoever sends the rows
        the subscriber wrote.
        """
        handlers = self.subscribers.setdefault(name, {})
        if event_type_name in handlers:
            raise ValueError(f"{name} already subscribes to {event_type_name}")
        handlers[event_type_name] = fn
        if after_commit is not None:
            self.after_commit.setdefault(name, []).append(after_commit)
        self._registered = False

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> defer.Deferred[None]:
        """Stop; fires when the pass in progress has ended."""
        return self.timer.stop()

    def poke(self) -> None:
        """Deliver now (after a commit that published events)."""
        if self.enabled:
            self.timer.kick()

    @defer.inlineCallbacks
    def run_once(self):  # type: ignore[no-untyped-def]
        """Deliver everything due now to every subscriber."""
        if not self.enabled or not self.subscribers:
            return
        if not self._registered:
            yield self.db.write(register_subscribers,
                                {n: list(h) for n, h in self.subscribers.items()}, utcnow(self.clock))
            self._registered = True
        names = list(self.subscribers)
        todo = yield self.db.read(backlog, names, utcnow(self.clock))
        self.dead_parked = todo.dead
        for name in names:
            if todo.positions.get(name, 0) >= todo.head and name not in todo.due:
                continue
            while self.enabled:
                res = yield self.db.write(deliver_pass, name, self.subscribers[name], utcnow(self.clock),
                                          self.policy, self.batch)
                fault_point("after_commit_before_send")
                self._account(name, res)
                if not res.more:
                    break

    def _account(self, name: str, res: PassResult) -> None:
        self.delivered += res.delivered
        self.failures += len(res.errors)
        self.dead_parked += res.dead
        self._deliveries[name] += res.delivered
        self._retries[name] += res.retries
        self._dead[name] += res.dead
        for event_id, error in res.errors:
            log.warn("subscriber {subscriber} failed on event {event_id}: {error}",
                     subscriber=name, event_id=event_id, error=error)
        if res.dead:
            log.error("subscriber {subscriber}: {n} event(s) parked as dead (see: aaad events --dead)",
                      subscriber=name, n=res.dead)
        if res.delivered:
            for cb in self.after_commit.get(name, []):
                try:
                    cb()
                except Exception:  # noqa: BLE001 - logged; the next hook still runs
                    log.failure("after-commit hook of {subscriber} failed", subscriber=name)
