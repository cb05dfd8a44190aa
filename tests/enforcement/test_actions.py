"""Enforcement's queue, on SQLite and PostgreSQL: each login change a router must see
becomes one pending action per open session, written in the delivery transaction,
exactly once per event; outcomes are recorded once; every read is scoped by org."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import events, nas, orgs
from aaad.view.write import LoginWriter
from accounting import store as acct_store
from accounting.schema import sessions
from enforcement import actions as q
from enforcement.schema import actions as actions_t

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def w(box: Any) -> LoginWriter:
    return LoginWriter(box)


def setup(engine: Any, box: Any, w: LoginWriter, slug: str = "isp") -> dict[str, int]:
    with engine.begin() as c:
        o = orgs.add(c, slug, slug.upper(), T0)
        n = nas.add(c, box, o.id, f"{slug}-r1", "127.0.0.1" if slug == "isp" else "127.0.0.2", "s3cret", T0)
        p = w.create_profile(c, o.id, "10M", T0, rate_limit="10M/10M", fup_tiers=[(100 * 10**9, "1M/1M")])
        p2 = w.create_profile(c, o.id, "50M", T0, rate_limit="50M/50M")
        a = w.create(c, o.id, "alice", "pw", T0, profile_id=p.id)
        b = w.create(c, o.id, "bob", "pw", T0, profile_id=p.id)
    return {"org": o.id, "nas": n.id, "p": p.id, "p2": p2.id, "alice": a.id, "bob": b.id}


def open_session(engine: Any, ids: dict[str, int], user: str, sid: str, ip: str | None = None,
                 nas_ip: str | None = None) -> int:
    with engine.begin() as c:
        key = c.execute(sessions.insert().values(
            session_key=f"k-{ids['org']}-{sid}", org_id=ids["org"], nas_id=ids["nas"], session_id=sid,
            login_id=ids[user], username=user, framed_ip=ip, nas_ip=nas_ip, start_time=T0,
            last_update=T0)).inserted_primary_key
    assert key is not None
    return int(key[0])


def deliver(engine: Any) -> None:
    """Deliver the outbox's new events to enforcement's subscribers with the dispatcher's own
    transactional pass (its position advances; a subscriber error fails the test)."""
    handlers: dict[str, events.Subscriber] = dict(q.SUBSCRIPTIONS)
    while True:
        with engine.begin() as c:
            res = events.deliver_pass(c, "enforcement", handlers, T0, events.RetryPolicy(), 100)
        assert not res.errors, res.errors
        if not res.more:
            return


def redeliver(engine: Any) -> None:
    """Hand every event to the subscribers again, as after a crash before the position advanced."""
    handlers = dict(q.SUBSCRIPTIONS)
    with engine.begin() as c:
        for ev in events.list_events(c, 0, 10_000):
            if ev.type in handlers:
                handlers[ev.type](c, ev)


def queued(engine: Any, org_id: int | None = None) -> list[q.Action]:
    with engine.connect() as c:
        return list(reversed(q.list_actions(c, org_id, limit=1000)))


def test_suspension_queues_a_disconnect_per_open_session(engine: Any, box: Any, w: LoginWriter) -> None:
    """A suspended login with two open sessions gets two pending Disconnects naming them."""
    ids = setup(engine, box, w)
    r1 = open_session(engine, ids, "alice", "s-1", "10.0.0.5")
    r2 = open_session(engine, ids, "alice", "s-2")
    open_session(engine, ids, "bob", "s-3")
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["alice"], "suspended", T0, suspend_mode="walled_garden", reason="unpaid")
    deliver(engine)
    got = queued(engine)
    assert [(a.kind, a.username, a.session_row, a.acct_session_id, a.framed_ip, a.state) for a in got] == [
        ("disconnect", "alice", r1, "s-1", "10.0.0.5", "pending"), ("disconnect", "alice", r2, "s-2", None, "pending")]
    assert got[0].cause == "login.state_changed" and "active -> suspended" in got[0].reason
    assert "unpaid" in got[0].reason


def test_redelivery_queues_nothing_twice(engine: Any, box: Any, w: LoginWriter) -> None:
    """An event delivered again (a crash before the position advanced) adds no second row."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["alice"], "disabled", T0)
    deliver(engine)
    redeliver(engine)
    assert len(queued(engine)) == 1


def test_no_session_no_action(engine: Any, box: Any, w: LoginWriter) -> None:
    """A login with no open session (or only closed ones) queues nothing."""
    ids = setup(engine, box, w)
    r = open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        c.execute(sessions.update().where(sessions.c.id == r).values(stop_time=T0))
        w.set_state(c, ids["org"], ids["alice"], "suspended", T0)
    deliver(engine)
    assert queued(engine) == []


def test_removed_login_is_disconnected(engine: Any, box: Any, w: LoginWriter) -> None:
    """Removing a login disconnects its open session (the row keeps the user name)."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "bob", "s-9")
    with engine.begin() as c:
        w.remove(c, ids["org"], ids["bob"], T0)
    deliver(engine)
    [a] = queued(engine)
    assert (a.kind, a.username, a.cause) == ("disconnect", "bob", "login.removed")


def test_plan_change_is_a_coa_with_the_new_rate(engine: Any, box: Any, w: LoginWriter) -> None:
    """Moving a login to another profile queues a CoA carrying the new profile's rate, no disconnect."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_profile(c, ids["org"], ids["alice"], T0, profile_id=ids["p2"])
    deliver(engine)
    [a] = queued(engine)
    assert (a.kind, a.attrs) == ("coa", {"Mikrotik-Rate-Limit": "50M/50M"})


def test_throttle_and_its_lifting_are_coas(engine: Any, box: Any, w: LoginWriter) -> None:
    """An FUP level change sends the throttled rate; back to 0 sends the plan's rate.  The rate is
    the login's at delivery (a late delivery sends what is true now, never a stale tier)."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        assert w.set_throttle(c, ids["org"], ids["alice"], 1, T0)
    deliver(engine)
    with engine.begin() as c:
        assert w.set_throttle(c, ids["org"], ids["alice"], 0, T0 + timedelta(minutes=5))
    deliver(engine)
    assert [(a.kind, a.attrs["Mikrotik-Rate-Limit"]) for a in queued(engine)] == [("coa", "1M/1M"),
                                                                                 ("coa", "10M/10M")]


def test_profile_edit_is_a_coa_for_every_login_of_it(engine: Any, box: Any, w: LoginWriter) -> None:
    """Editing a profile's rate queues a CoA for each open session of its active logins only."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    open_session(engine, ids, "bob", "s-2")
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["bob"], "suspended", T0)
    deliver(engine)
    before = len(queued(engine))
    with engine.begin() as c:
        w.update_profile(c, ids["org"], ids["p"], T0, rate_limit="20M/20M")
        events_t = sa.table("events", sa.column("id"))
        assert c.execute(sa.select(sa.func.count()).select_from(events_t)).scalar_one() > 0
    deliver(engine)
    new = queued(engine)[before:]
    assert [(a.kind, a.username, a.attrs) for a in new] == [("coa", "alice", {"Mikrotik-Rate-Limit": "20M/20M"})]


def test_outcome_recorded_once(engine: Any, box: Any, w: LoginWriter) -> None:
    """An outcome finishes a pending action; a second outcome for it changes nothing."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["alice"], "suspended", T0)
    deliver(engine)
    [a] = queued(engine)
    sent = T0 + timedelta(seconds=1)
    with engine.begin() as c:
        assert q.record(c, [q.Outcome(a.id, "done", "ack", 1, "ACK", rtt_ms=3)], T0 + timedelta(seconds=2),
                        {a.id: sent}) == [a.id]
        assert q.record(c, [q.Outcome(a.id, "failed", "timeout", 4)], T0 + timedelta(seconds=3)) == []
        assert q.pending(c) == []
    [b] = queued(engine)
    assert (b.state, b.outcome, b.attempts, b.rtt_ms, b.sent_at, b.done_at) == (
        "done", "ack", 1, 3, sent, T0 + timedelta(seconds=2))


def test_many_outcomes_at_once_each_on_its_own_action(engine: Any, box: Any, w: LoginWriter) -> None:
    """Several outcomes in one call (a flush of the sender: one statement on PostgreSQL) land each on its
    own action with every field; one finished meanwhile is left alone and not returned; the ids come
    back in the outcomes' order; an id given twice (the general path) adds both attempts."""
    ids = setup(engine, box, w)
    for sid in ("s-1", "s-2", "s-3", "s-4"):
        open_session(engine, ids, "alice", sid)
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["alice"], "suspended", T0)
    deliver(engine)
    a, b, c_, d = queued(engine)
    sent = T0 + timedelta(seconds=1)
    with engine.begin() as c:
        assert q.record(c, [q.Outcome(c_.id, "done", "ack", 1, "ACK")], T0) == [c_.id]
        got = q.record(c, [q.Outcome(b.id, "failed", "nak", 2, "NAK: no session", error_cause=503, rtt_ms=7),
                           q.Outcome(c_.id, "failed", "timeout", 4),
                           q.Outcome(a.id, "done", "fallback", 3, "removed", fallback="api", rtt_ms=None)],
                       T0 + timedelta(seconds=2), {a.id: sent})
        assert got == [b.id, a.id]
        assert q.record(c, [q.Outcome(d.id, "failed", "timeout", 1), q.Outcome(d.id, "failed", "timeout", 2)],
                        T0 + timedelta(seconds=3)) == [d.id, d.id]
    rows = {r.id: r for r in queued(engine)}
    assert (rows[b.id].state, rows[b.id].outcome, rows[b.id].attempts, rows[b.id].detail, rows[b.id].error_cause,
            rows[b.id].rtt_ms, rows[b.id].sent_at, rows[b.id].done_at) == (
        "failed", "nak", 2, "NAK: no session", 503, 7, None, T0 + timedelta(seconds=2))
    assert (rows[a.id].outcome, rows[a.id].fallback, rows[a.id].attempts, rows[a.id].sent_at) == (
        "fallback", "api", 3, sent)
    assert (rows[c_.id].state, rows[c_.id].outcome, rows[c_.id].done_at) == ("done", "ack", T0)   # left alone
    assert (rows[d.id].state, rows[d.id].attempts) == ("failed", 3)


def test_reads_are_scoped_by_org(engine: Any, box: Any, w: LoginWriter) -> None:
    """One org's actions are invisible from another's listing and lookup."""
    a = setup(engine, box, w, "isp")
    b = setup(engine, box, w, "other")
    open_session(engine, a, "alice", "s-1")
    open_session(engine, b, "alice", "s-1b")
    with engine.begin() as c:
        w.set_state(c, a["org"], a["alice"], "suspended", T0)
    deliver(engine)
    [mine] = queued(engine, a["org"])
    assert queued(engine, b["org"]) == []
    with engine.connect() as c:
        assert q.get(c, b["org"], mine.id) is None
        assert q.get(c, a["org"], mine.id) == mine


def test_nak_session_gone_closes_our_session_row(engine: Any, box: Any, w: LoginWriter) -> None:
    """accounting's close_session closes an open row once (the NAS no longer has it)."""
    ids = setup(engine, box, w)
    r = open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        assert acct_store.close_session(c, ids["org"], r, T0, 6) == ids["alice"]
        assert acct_store.close_session(c, ids["org"], r, T0, 6) is None
        row = c.execute(sa.select(sessions.c.stop_time, sessions.c.terminate_cause)
                        .where(sessions.c.id == r)).one()
    assert (row.stop_time, row.terminate_cause) == (T0, 6)


def test_attrs_are_json(engine: Any, box: Any, w: LoginWriter) -> None:
    """The attrs column holds JSON (what the sender adds to the request)."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_profile(c, ids["org"], ids["alice"], T0, profile_id=ids["p2"])
    deliver(engine)
    with engine.connect() as c:
        raw = c.execute(sa.select(actions_t.c.attrs)).scalar_one()
    assert json.loads(raw) == {"Mikrotik-Rate-Limit": "50M/50M"}


def test_disconnect_login_returns_the_actions_it_queued(engine: Any, box: Any, w: LoginWriter) -> None:
    """disconnect_login by id or user name queues one Disconnect per open session and returns those rows;
    none without an open session; NotFound for another org's login; both or neither name is refused."""
    from aaad.errors import NotFound, ValidationError
    ids = setup(engine, box, w)
    other = setup(engine, box, w, "other")
    r1 = open_session(engine, ids, "alice", "s-1")
    r2 = open_session(engine, ids, "alice", "s-2")
    with engine.begin() as c:
        done = q.disconnect_login(c, ids["org"], T0, login_id=ids["alice"], reason="api")
        again = q.disconnect_login(c, ids["org"], T0, username="alice")
        none = q.disconnect_login(c, ids["org"], T0, username="bob")
    assert (done.login_id, done.username) == (ids["alice"], "alice")
    assert [(a.session_row, a.state, a.reason, a.cause) for a in done.actions] == [
        (r1, "pending", "api", "manual"), (r2, "pending", "api", "manual")]
    assert len(again.actions) == 2 and not {a.id for a in again.actions} & {a.id for a in done.actions}
    assert none.actions == []
    with engine.begin() as c:
        with pytest.raises(NotFound):
            q.disconnect_login(c, ids["org"], T0, login_id=other["alice"])
        with pytest.raises(ValidationError):
            q.disconnect_login(c, ids["org"], T0)
        with pytest.raises(ValidationError):
            q.disconnect_login(c, ids["org"], T0, login_id=ids["alice"], username="alice")


def test_page_actions_filters_and_pages_within_the_org(engine: Any, box: Any, w: LoginWriter) -> None:
    """page_actions: newest first by default, filters by state, kind, login and NAS, pages with a cursor,
    and never shows another org's rows."""
    ids = setup(engine, box, w)
    other = setup(engine, box, w, "other")
    open_session(engine, ids, "alice", "s-1")
    open_session(engine, ids, "bob", "s-2")
    open_session(engine, other, "alice", "s-9")
    with engine.begin() as c:
        for org, login in ((ids["org"], ids["alice"]), (ids["org"], ids["bob"]), (other["org"], other["alice"])):
            q.request_disconnect(c, org, login, "x", T0)
    with engine.connect() as c:
        first = q.page_actions(c, ids["org"], limit=1)
        second = q.page_actions(c, ids["org"], limit=1, cursor=first.next_cursor)
        assert [a.username for a in first.items + second.items] == ["bob", "alice"]
        assert second.next_cursor is None
        assert [a.username for a in q.page_actions(c, ids["org"], login_id=ids["alice"]).items] == ["alice"]
        assert len(q.page_actions(c, ids["org"], state="pending", kind="disconnect", nas_id=ids["nas"]).items) == 2
        assert q.page_actions(c, ids["org"], kind="coa").items == []
        assert q.page_actions(c, ids["org"], nas_id=other["nas"]).items == []
        assert [a.org_id for a in q.page_actions(c, other["org"], sort="created_at").items] == [other["org"]]


def test_disconnect_session_queues_one_disconnect_for_that_session(engine: Any, box: Any, w: LoginWriter) -> None:
    """disconnect_session: one pending Disconnect for the open session named (not the login's others);
    NotFound for another org's session or a closed one."""
    from aaad.errors import NotFound
    ids = setup(engine, box, w)
    other = setup(engine, box, w, "other")
    r1 = open_session(engine, ids, "alice", "d-1", "10.0.0.9")
    open_session(engine, ids, "alice", "d-2")
    theirs = open_session(engine, other, "alice", "d-3")
    with engine.begin() as c:
        a = q.disconnect_session(c, ids["org"], r1, T0, reason="console")
    assert (a.kind, a.state, a.session_row, a.acct_session_id, a.framed_ip, a.reason, a.cause, a.nas_id) == \
        ("disconnect", "pending", r1, "d-1", "10.0.0.9", "console", "manual", ids["nas"])
    assert [x.session_row for x in queued(engine, ids["org"])] == [r1]
    with engine.begin() as c:
        c.execute(sessions.update().where(sessions.c.id == r1).values(stop_time=T0))
    for org, row in ((ids["org"], theirs), (ids["org"], r1)):
        with engine.begin() as c, pytest.raises(NotFound):
            q.disconnect_session(c, org, row, T0)


def test_retry_puts_a_failed_action_back_to_pending(engine: Any, box: Any, w: LoginWriter) -> None:
    """A failed action goes back to pending with its attempts and outcome cleared and the failure kept in
    its detail; a pending or done action is refused naming ``state``; another org's is not found."""
    from aaad.errors import NotFound, ValidationError
    ids = setup(engine, box, w)
    other = setup(engine, box, w, "other")
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids["alice"], "suspended", T0)
    deliver(engine)
    [a] = queued(engine)
    later = T0 + timedelta(minutes=5)
    with engine.begin() as c:
        with pytest.raises(ValidationError) as e:
            q.retry(c, ids["org"], a.id, later)
        assert e.value.field == "state" and "pending" in e.value.message
        q.record(c, [q.Outcome(a.id, "failed", "timeout", 4, "no answer after 4 attempt(s)", rtt_ms=None)],
                 T0 + timedelta(seconds=9), {a.id: T0})
    with engine.begin() as c:
        with pytest.raises(NotFound):
            q.retry(c, other["org"], a.id, later)
        again = q.retry(c, ids["org"], a.id, later)
    assert (again.state, again.attempts, again.outcome, again.sent_at, again.done_at) == (
        "pending", 0, None, None, None)
    assert "retry asked 2026-11-01 08:05:00 UTC" in again.detail and "no answer after 4 attempt(s)" in again.detail
    with engine.begin() as c:
        assert [p.id for p in q.pending(c)] == [a.id]
        with pytest.raises(ValidationError):
            q.retry(c, ids["org"], a.id, later)
        q.record(c, [q.Outcome(a.id, "done", "ack", 1, "ACK")], later)
        with pytest.raises(ValidationError) as e:
            q.retry(c, ids["org"], a.id, later)
        assert e.value.field == "state" and "done" in e.value.message
