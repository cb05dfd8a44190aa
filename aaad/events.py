"""The event outbox: publish in the caller's transaction, deliver later, in order.

``publish(conn, org_id, payload, now)`` inserts a row in the same
transaction as the change it describes, so an event exists if and only if
its change committed.  :class:`Dispatcher` reads undelivered rows in id
order, hands each to the subscribers of its type and marks it delivered.
Delivery is at least once: a crash after a subscriber acted but before the
row was marked repeats the delivery, so subscribers must be idempotent
(disconnecting a session twice is harmless; charging twice is not, and
billing guards that with its own keys).  A subscriber that fails stops the
queue at that event, which is retried with back-off: order is kept.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer, task
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.db import PUBLISHED, tx_notes
from aaad.schema import events as events_t

log = Logger()

EVENT_TYPES: dict[str, type] = {}


def event_type(name: str) -> Callable[[type], type]:
    """Register a payload dataclass under its event type name."""
    def deco(cls: type) -> type:
        cls.TYPE = name  # type: ignore[attr-defined]
        EVENT_TYPES[name] = cls
        return cls
    return deco


# -- payload types (defined in aaad so every layer can publish and subscribe) ---

@event_type("service.suspended")
@dataclass(frozen=True)
class ServiceSuspended:
    login_id: int
    reason: str
    mode: str  # reject | walled_garden
    TYPE: ClassVar[str]


@event_type("service.resumed")
@dataclass(frozen=True)
class ServiceResumed:
    login_id: int
    TYPE: ClassVar[str]


@event_type("plan.changed")
@dataclass(frozen=True)
class PlanChanged:
    login_id: int
    old_profile_id: int | None
    new_profile_id: int | None
    TYPE: ClassVar[str]


@event_type("usage.quota_exceeded")
@dataclass(frozen=True)
class QuotaExceeded:
    login_id: int
    used: int
    cap: int
    cycle_start: str  # ISO 8601 UTC
    TYPE: ClassVar[str]


@event_type("registration.created")
@dataclass(frozen=True)
class RegistrationCreated:
    registration_id: int
    TYPE: ClassVar[str]


@event_type("payment.received")
@dataclass(frozen=True)
class PaymentReceived:
    payment_id: int
    customer_id: int
    amount: int  # minor units
    currency: str
    TYPE: ClassVar[str]


@event_type("test.ping")
@dataclass(frozen=True)
class Ping:
    """For tests and operators checking the pipeline (``aaad`` emits none itself)."""
    note: str
    TYPE: ClassVar[str]


# -- publish / read / mark -----------------------------------------------------

def publish(conn: Connection, org_id: int, payload: Any, now: datetime) -> None:
    """Insert the event in the caller's transaction."""
    name = type(payload).TYPE
    if EVENT_TYPES.get(name) is not type(payload):
        raise TypeError(f"{type(payload).__name__} is not a registered event type")
    conn.execute(events_t.insert().values(
        org_id=org_id, type=name, payload=json.dumps(dataclasses.asdict(payload), sort_keys=True),
        created_at=now))
    tx_notes(conn)[PUBLISHED] = True


@dataclass(frozen=True)
class Event:
    id: int
    org_id: int
    type: str
    payload: Any
    attempts: int


def pending(conn: Connection, limit: int = 200) -> list[Event]:
    rows = conn.execute(sa.select(events_t).where(events_t.c.delivered_at.is_(None))
                        .order_by(events_t.c.id).limit(limit)).all()
    out = []
    for r in rows:
        cls = EVENT_TYPES.get(r.type)
        data = json.loads(r.payload)
        out.append(Event(r.id, r.org_id, r.type, cls(**data) if cls else data, r.attempts))
    return out


def mark_delivered(conn: Connection, event_id: int, now: datetime) -> None:
    conn.execute(events_t.update().where(events_t.c.id == event_id).values(delivered_at=now))


def mark_failed(conn: Connection, event_id: int, error: str) -> None:
    conn.execute(events_t.update().where(events_t.c.id == event_id).values(
        attempts=events_t.c.attempts + 1, last_error=error[:2000]))


Subscriber = Callable[[Event], Any]  # may return a Deferred


class Dispatcher:
    """Delivers outbox rows to in-process subscribers, in order, at least once."""

    def __init__(self, db: Any, clock: Any, interval: float = 0.25, max_backoff: float = 60.0):
        self.db = db
        self.clock = clock
        self.interval = interval
        self.max_backoff = max_backoff
        self.subscribers: dict[str, list[Subscriber]] = {}
        self._loop: task.LoopingCall | None = None
        self._running = False
        self._again = False
        self._retry_at = 0.0
        self.delivered = 0
        self.failures = 0
        self.enabled = True  # False on a non-leader instance

    def subscribe(self, event_type_name: str, fn: Subscriber) -> None:
        self.subscribers.setdefault(event_type_name, []).append(fn)

    def start(self) -> None:
        self._loop = task.LoopingCall(self.poke)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: log.failure("event dispatcher stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def poke(self) -> defer.Deferred | None:
        """Deliver what is pending now (called on a timer and after each commit)."""
        if not self.enabled:
            return None
        if self._running:
            self._again = True
            return None
        if self.clock.seconds() < self._retry_at:
            return None
        return self._drain()

    @defer.inlineCallbacks
    def _drain(self):  # type: ignore[no-untyped-def]
        self._running = True
        try:
            while True:
                self._again = False
                batch = yield self.db.read(pending)
                for ev in batch:
                    ok = yield self._deliver(ev)
                    if not ok:
                        return
                if not batch and not self._again:
                    return
        except Exception:
            log.failure("event dispatch failed")
        finally:
            self._running = False

    @defer.inlineCallbacks
    def _deliver(self, ev: Event):  # type: ignore[no-untyped-def]
        try:
            for fn in self.subscribers.get(ev.type, []):
                yield defer.maybeDeferred(fn, ev)
        except Exception as e:
            self.failures += 1
            log.failure("subscriber failed on event {event_id} ({event_type})",
                        event_id=ev.id, event_type=ev.type)
            backoff = min(self.max_backoff, self.interval * 2 ** min(ev.attempts, 16))
            self._retry_at = self.clock.seconds() + backoff
            yield self.db.write(mark_failed, ev.id, f"{type(e).__name__}: {e}")
            return False
        yield self.db.write(mark_delivered, ev.id, utcnow(self.clock))
        self.delivered += 1
        return True


def prune_delivered(conn: Connection, before: datetime) -> int:
    return conn.execute(events_t.delete().where(events_t.c.delivered_at < before)).rowcount

