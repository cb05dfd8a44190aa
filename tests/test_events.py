"""The event outbox on both databases: per-subscriber, transactional delivery
with retries, dead events and replays (synchronous, on a fake clock)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from aaad import events
from aaad.events import Dispatcher, RetryPolicy, event_type
from aaad.metrics import Stats
from tests.helpers import SyncDB

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@event_type("test.noted")
@dataclass(frozen=True)
class Noted:
    """A payload for these tests only (the production registry has none)."""
    note: str
    TYPE: ClassVar[str]


@event_type("test.other")
@dataclass(frozen=True)
class Other:
    n: int
    TYPE: ClassVar[str]


@pytest.fixture
def seen(engine: Any) -> sa.Table:
    """A table the subscribers write to: what they decided, committed with their advance."""
    md = sa.MetaData()
    t = sa.Table("seen", md, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("subscriber", sa.String(20)), sa.Column("note", sa.String(50)))
    md.create_all(engine)
    return t


def pub(engine: Any, *items: tuple[int, str]) -> list[int]:
    with engine.begin() as c:
        for org, note in items:
            events.publish(c, org, Noted(note), T0)
    with engine.connect() as c:
        return [e.id for e in events.list_events(c, types=["test.noted"])]


def recorder(seen: sa.Table, name: str, fail: set[str] | None = None) -> Any:
    """A subscriber that records (name, note) in its transaction, failing on notes in ``fail``."""
    def fn(conn: Any, ev: events.Event) -> None:
        conn.execute(seen.insert().values(subscriber=name, note=ev.payload.note))
        if fail is not None and ev.payload.note in fail:
            raise ConnectionError(f"router down for {ev.payload.note}")
    return fn


def notes(engine: Any, seen: sa.Table, name: str) -> list[str]:
    with engine.connect() as c:
        return [r.note for r in c.execute(sa.select(seen).where(seen.c.subscriber == name)
                                          .order_by(seen.c.id))]


def dispatcher(engine: Any, clock: task.Clock | None = None, **kw: Any) -> Dispatcher:
    clock = clock or task.Clock()
    if not clock.seconds():
        clock.advance(T0.timestamp())
    return Dispatcher(SyncDB(engine), clock, **kw)


def test_rolled_back_event_is_never_delivered(engine: Any) -> None:
    """publish() joins the caller's transaction: a rollback removes the event."""
    with pytest.raises(RuntimeError), engine.begin() as c:
        events.publish(c, 1, Noted("lost"), T0)
        raise RuntimeError("abort")
    with engine.connect() as c:
        assert events.list_events(c) == []


def test_unregistered_payload_is_refused(engine: Any) -> None:
    """Only registered payload dataclasses can be published."""
    @dataclass(frozen=True)
    class Stray:
        TYPE: ClassVar[str] = "test.noted"
    with pytest.raises(TypeError), engine.begin() as c:
        events.publish(c, 1, Stray(), T0)


def test_production_registry_has_no_test_or_billing_types() -> None:
    """aaad registers no test-only type and no billing payloads; accounting declares its own."""
    import accounting.events  # noqa: F401
    names = set(events.EVENT_TYPES) - {"test.noted", "test.other"}
    assert not {n for n in names if n.startswith("test.")}
    # billing's payloads may be registered (billing imported by other tests), but not by aaad.
    assert not {n for n in names & {"service.suspended", "service.resumed", "plan.changed",
                                    "registration.created", "payment.received"}
                if not events.EVENT_TYPES[n].__module__.startswith("billing.")}
    assert events.EVENT_TYPES["usage.quota_exceeded"].__module__ == "accounting.events"


def test_delivered_in_order_with_rows_committed_with_the_advance(engine: Any, seen: sa.Table) -> None:
    """Events committed before a restart reach a new dispatcher in order; the subscriber's
    rows and its position commit together."""
    ids = pub(engine, (1, "a"), (1, "b"), (2, "c"))
    d = dispatcher(engine)
    d.subscribe("rec", "test.noted", recorder(seen, "rec"))
    d.run_once()
    assert notes(engine, seen, "rec") == ["a", "b", "c"]
    with engine.connect() as c:
        (st,) = events.subscriber_status(c)
    assert (st.name, st.position, st.lag, st.failing, st.dead) == ("rec", ids[-1], 0, 0, 0)
    d.run_once()  # nothing new: nothing again
    assert notes(engine, seen, "rec") == ["a", "b", "c"]


def test_subscriber_gets_only_its_types(engine: Any, seen: sa.Table) -> None:
    """Each subscriber is handed only the types it subscribed to, by type handler."""
    with engine.begin() as c:
        events.publish(c, 1, Other(7), T0)
        events.publish(c, 1, Noted("x"), T0)
    d = dispatcher(engine)
    got: list[Any] = []
    d.subscribe("other", "test.other", lambda conn, ev: got.append(ev.payload.n))
    d.subscribe("rec", "test.noted", recorder(seen, "rec"))
    d.run_once()
    assert got == [7] and notes(engine, seen, "rec") == ["x"]


def test_failing_subscriber_does_not_delay_another(engine: Any, seen: sa.Table) -> None:
    """A subscriber whose router is down fails alone; the other gets every event at once."""
    pub(engine, (1, "a"), (1, "b"))
    d = dispatcher(engine)
    d.subscribe("broken", "test.noted", recorder(seen, "broken", fail={"a", "b"}))
    d.subscribe("fine", "test.noted", recorder(seen, "fine"))
    d.run_once()
    assert notes(engine, seen, "fine") == ["a", "b"]
    assert notes(engine, seen, "broken") == []           # its rows rolled back with the failure
    with engine.connect() as c:
        (f,) = events.list_failures(c)
    assert (f.subscriber, f.state, f.attempts) == ("broken", "failing", 1)
    assert "router down for a" in (f.last_error or "")


def test_failing_org_does_not_delay_another_org_and_keeps_its_order(engine: Any, seen: sa.Table) -> None:
    """Org 1's failing event stalls only org 1 for that subscriber; org 2 flows; once the
    event succeeds, org 1's waiting events follow in order."""
    pub(engine, (1, "1a"), (2, "2a"), (1, "1b"), (2, "2b"))
    clock = task.Clock()
    clock.advance(T0.timestamp())
    fail = {"1a"}
    d = dispatcher(engine, clock, policy=RetryPolicy(max_attempts=5, backoff=10))
    d.subscribe("rec", "test.noted", recorder(seen, "rec", fail))
    d.run_once()
    assert notes(engine, seen, "rec") == ["2a", "2b"]
    pub(engine, (2, "2c"), (1, "1c"))
    d.run_once()                                          # within back-off: org 1 still waits
    assert notes(engine, seen, "rec") == ["2a", "2b", "2c"]
    fail.clear()
    clock.advance(10)
    d.run_once()
    assert notes(engine, seen, "rec") == ["2a", "2b", "2c", "1a", "1b", "1c"]
    with engine.connect() as c:
        assert events.list_failures(c) == []
    d.run_once()
    assert len(notes(engine, seen, "rec")) == 6


def test_back_off_then_dead_after_the_bound_then_retry(engine: Any, seen: sa.Table) -> None:
    """Retries wait 1, 2, 4 s on the clock; after 3 attempts the event is dead for that
    subscriber (the org moves on); a retry re-delivers it once."""
    pub(engine, (1, "x"), (1, "y"))
    clock = task.Clock()
    clock.advance(T0.timestamp())
    fail = {"x"}
    stats = Stats()
    d = dispatcher(engine, clock, policy=RetryPolicy(max_attempts=3, backoff=1), stats=stats)
    d.subscribe("rec", "test.noted", recorder(seen, "rec", fail))
    d.run_once()
    for wait in (1, 2):
        clock.advance(wait - 0.5)
        d.run_once()                                       # not yet due
        clock.advance(0.5)
        d.run_once()
    assert notes(engine, seen, "rec") == ["y"]            # x dead after 3: y delivered
    with engine.connect() as c:
        (f,) = events.list_failures(c, dead_only=True)
        (st,) = events.subscriber_status(c)
    assert (f.state, f.attempts, f.type) == ("dead", 3, "test.noted") and st.dead == 1
    assert stats.counters["aaad_event_retries_total"]["rec"] == 2
    assert stats.counters["aaad_event_dead_total"]["rec"] == 1
    assert stats.counters["aaad_event_deliveries_total"]["rec"] == 1
    assert d.dead_parked == 1
    fail.clear()
    with engine.begin() as c:
        assert events.retry_dead(c, f.event_id, T0, subscriber="nobody") == 0
        assert events.retry_dead(c, f.event_id, T0, subscriber="rec") == 1
    d.run_once()
    d.run_once()
    assert notes(engine, seen, "rec") == ["y", "x"]
    with engine.connect() as c:
        assert events.list_failures(c) == []


def test_a_crash_before_commit_leaves_neither_row_nor_advance(engine: Any, seen: sa.Table) -> None:
    """If the delivery transaction dies before commit, the subscriber's row and its
    advance are both gone; the next pass delivers it, and the row exists exactly once."""
    pub(engine, (1, "once"))

    class CrashBeforeCommit(SyncDB):
        crash = True

        def write(self, fn: Any, *a: Any, **kw: Any) -> defer.Deferred:
            if fn is not events.deliver_pass or not self.crash:
                return super().write(fn, *a, **kw)
            self.crash = False
            try:
                with self.engine.begin() as conn:
                    fn(conn, *a, **kw)
                    raise OSError("power cut before COMMIT")
            except OSError:
                return defer.fail()

    clock = task.Clock()
    clock.advance(T0.timestamp())
    d = Dispatcher(CrashBeforeCommit(engine), clock)
    d.subscribe("rec", "test.noted", recorder(seen, "rec"))
    d.run_once().addErrback(lambda f: f.trap(OSError))
    assert notes(engine, seen, "rec") == []
    with engine.connect() as c:
        assert events.subscriber_status(c)[0].position == 0
    d.run_once()
    d.run_once()
    assert notes(engine, seen, "rec") == ["once"]


def test_subscriber_returning_a_deferred_is_a_failure(engine: Any) -> None:
    """Subscribers run inside the writer's transaction: returning a Deferred is refused."""
    pub(engine, (1, "a"))
    d = dispatcher(engine)
    d.subscribe("async", "test.noted", lambda conn, ev: defer.succeed(None))
    d.run_once()
    with engine.connect() as c:
        (f,) = events.list_failures(c)
    assert "returns nothing" in (f.last_error or "")


def test_after_commit_hook_runs_after_a_delivering_pass(engine: Any, seen: sa.Table) -> None:
    """A subscriber's after-commit hook (its sender's wake-up) runs after it got events."""
    woken: list[int] = []
    d = dispatcher(engine)
    d.subscribe("rec", "test.noted", recorder(seen, "rec"), after_commit=lambda: woken.append(1))
    d.run_once()
    assert woken == []
    pub(engine, (1, "a"))
    d.run_once()
    assert woken == [1]


def test_disabled_dispatcher_delivers_nothing(engine: Any, seen: sa.Table) -> None:
    """A non-leader instance does not dispatch."""
    pub(engine, (1, "a"))
    d = dispatcher(engine)
    d.subscribe("rec", "test.noted", recorder(seen, "rec"))
    d.enabled = False
    d.poke()
    d.run_once()
    assert notes(engine, seen, "rec") == []


def test_pruning_keeps_what_a_subscriber_still_needs(engine: Any, seen: sa.Table) -> None:
    """Old events everyone handled are pruned; dead, failing and queued ones are kept."""
    old = T0 - timedelta(days=10)

    def publish_old(*items: tuple[int, str]) -> None:
        with engine.begin() as c:
            for org, note in items:
                events.publish(c, org, Noted(note), old)
    publish_old((1, "done1"), (2, "dead2"), (1, "done3"))
    d = dispatcher(engine, policy=RetryPolicy(max_attempts=1))
    d.subscribe("rec", "test.noted", recorder(seen, "rec", fail={"dead2"}))
    d.run_once()
    publish_old((3, "fail4"), (3, "behind5"))
    d2 = dispatcher(engine, policy=RetryPolicy(max_attempts=5))  # the daemon restarted
    d2.subscribe("rec", "test.noted", recorder(seen, "rec", fail={"fail4"}))
    d2.run_once()
    with engine.begin() as c:
        assert events.prune_delivered(c, T0 - timedelta(days=7)) == 2
    with engine.connect() as c:
        assert [e.payload.note for e in events.list_events(c)] == ["dead2", "fail4", "behind5"]


def test_pruning_everything_delivered_keeps_the_newest_event(engine: Any, seen: sa.Table) -> None:
    """When every event is old and delivered, the newest stays, so the next event's id is
    above every subscriber's position (SQLite gives max(id) + 1) and is delivered."""
    old = T0 - timedelta(days=10)
    with engine.begin() as c:
        for note in ("a", "b"):
            events.publish(c, 1, Noted(note), old)
    d = dispatcher(engine)
    d.subscribe("rec", "test.noted", recorder(seen, "rec"))
    d.run_once()
    with engine.begin() as c:
        assert events.prune_delivered(c, T0 - timedelta(days=7)) == 1
        events.publish(c, 1, Noted("c"), T0)
    d.run_once()
    assert notes(engine, seen, "rec") == ["a", "b", "c"]


def test_two_dispatchers_at_a_hand_over_deliver_once(engine: Any, seen: sa.Table) -> None:
    """A pass locks its subscriber's row: a second dispatcher's pass (an old and a new
    leader at a hand-over) cannot run beside the first, and after it finds nothing to do."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers are serialised by BEGIN IMMEDIATE already")
    pub(engine, (1, "a"), (1, "b"))
    handlers = {"test.noted": recorder(seen, "rec")}
    with engine.begin() as c:
        events.register_subscribers(c, {"rec": ["test.noted"]}, T0)
    with engine.begin() as first:
        assert events.deliver_pass(first, "rec", handlers, T0, RetryPolicy()).delivered == 2
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"), engine.begin() as c:
            c.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
            events.deliver_pass(c, "rec", handlers, T0, RetryPolicy())
    with engine.begin() as c:
        assert events.deliver_pass(c, "rec", handlers, T0, RetryPolicy()).delivered == 0
    assert notes(engine, seen, "rec") == ["a", "b"]
