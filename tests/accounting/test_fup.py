"""FUP tiers under the fake clock, on SQLite and PostgreSQL: accounting's aggregation pass
throttles a login that crosses a tier (``login.throttled`` in the outbox, the next
Access-Accept carries the tier's rate), free-hours traffic does not count, the next
cycle restores full speed, and a pass run twice publishes nothing new."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import nas, orgs
from aaad.auth.controller import AuthController
from aaad.component import Core
from aaad.config import load
from aaad.crypto import SecretBox
from aaad.jobs import Job, Scheduler
from aaad.metrics import Stats
from aaad.radius.server import AuthProtocol, RadiusConfig, RadiusStats
from aaad.schema import events, logins
from aaad.view.cycle_reset import start_cycles_chunk
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from accounting import sessions as sm
from accounting import store
from accounting.config import AccountingConfig
from accounting.jobs import AGGREGATE, AccountingJobs
from accounting.schema import usage_cycles
from accounting.store import AcctItem
from accounting.tracker import Tracker
from tests.helpers import SyncDB, result_of
from tests.radius.test_server import NAS_ADDR, SECRET, D, FakeTransport, pap_req, reply_of, text

G = 10**9
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)   # a slot start; the cycle is March (UTC)


class Fup:
    """A migrated database with an org, a NAS, a tiered profile and a login; the AAA view
    with the auth protocol over it; accounting's jobs on the scheduler; a fake clock."""

    def __init__(self, engine: Any, tz: str = "UTC", **profile: Any):
        self.engine = engine   # the root conftest's migrated engine (disposed by that fixture)
        self.box = SecretBox(os.urandom(32))
        self.writer = LoginWriter(self.box)
        with self.engine.begin() as conn:
            self.org = orgs.add(conn, "isp", "ISP", T0, tz).id
            nas.add(conn, self.box, self.org, "r1", "127.0.0.1", SECRET.decode(), T0)
            self.nas_id = conn.execute(sa.text("SELECT id FROM nas")).scalar_one()
            prof = self.writer.create_profile(conn, self.org, "home", T0, rate_limit="10M/10M", **profile)
            self.alice = self.writer.create(conn, self.org, "alice", "alice-pass", T0, profile_id=prof.id).id
        self.profile_id = prof.id
        self.clock = task.Clock()
        self.clock.advance(T0.timestamp())
        self.db = SyncDB(self.engine)
        self.view = AAAView()
        with self.engine.connect() as conn:
            self.view.load(load_snapshot(conn, self.box))
        self.db.writer.on_changes.append(self.view.apply_local)
        self.ctl = AuthController(self.view, D)
        self.view.listeners.append(self.ctl.on_view_change)
        self.auth = AuthProtocol(self.view, self.ctl, self.clock, RadiusStats(Stats()), None,
                                 RadiusConfig(reject_delay=0.0), D.vendor_ids, None)
        self.tr = FakeTransport()
        self.auth.transport = self.tr  # type: ignore[assignment]
        core = SimpleNamespace(db=self.db, clock=self.clock, view=self.view, login_writer=self.writer,
                               stats=Stats())
        conf = load({"accounting": AccountingConfig}, None, {}).accounting
        self.jobs = AccountingJobs(cast(Core, core), conf, Tracker(self.db, self.clock), None)
        self.sched = Scheduler(self.db, self.clock)
        self.job = Job(AGGREGATE, 300, self.jobs.aggregate)

    def at(self, t: datetime) -> None:
        """Move the fake clock to ``t``."""
        self.clock.advance(t.timestamp() - self.clock.seconds())

    def acct(self, status: int, at: datetime, octets_in: int = 0, octets_out: int = 0, sid: str = "s1") -> None:
        """An Accounting-Request of alice's session, committed as the server would."""
        rec = sm.AcctRecord(status, self.nas_id, sid, "alice", at, input_octets=octets_in,
                            output_octets=octets_out, session_time=int((at - T0).total_seconds()))
        with self.engine.begin() as conn:
            store.apply_batch(conn, [AcctItem(rec, self.org, self.alice)])

    def interim(self, at: datetime, total: int, sid: str = "s1") -> None:
        """An interim update whose counters sum to ``total`` octets (a tenth up, the rest down)."""
        self.acct(sm.STATUS_INTERIM, at, total // 10, total - total // 10, sid)

    def aggregate(self, period: datetime) -> str:
        """Run the aggregation job for the period starting at ``period`` (clock moved there)."""
        self.at(period + timedelta(seconds=1))
        return cast(str, result_of(self.sched.run_period(self.job, 0, period.isoformat(), period)))

    def start_cycles(self, now: datetime) -> int:
        """The core's cycle job at ``now`` (clock moved there)."""
        self.at(now)
        chunk = result_of(self.db.write(start_cycles_chunk, self.writer, self.org, now, 0, 500))
        return cast(int, chunk.started)

    def rate(self) -> str:
        """alice's Mikrotik-Rate-Limit in an Access-Accept now."""
        req = pap_req("alice", "alice-pass", ident=len(self.tr.sent) % 256)
        self.auth.datagramReceived(req, NAS_ADDR)
        p = reply_of(self.tr, req)
        return cast(str, text(p, "Mikrotik-Rate-Limit"))

    def level(self) -> int:
        with self.engine.connect() as conn:
            db_level = conn.execute(sa.select(logins.c.throttle_level).where(logins.c.id == self.alice)).scalar_one()
        lg = self.view.login_by_id(self.org, self.alice)
        assert lg is not None and lg.throttle_level == db_level, "the view follows the database"
        return cast(int, db_level)

    def events(self, type_: str = "login.throttled") -> list[dict]:
        with self.engine.connect() as conn:
            return [json.loads(r.payload) for r in conn.execute(
                sa.select(events.c.payload).where(events.c.type == type_).order_by(events.c.id))]

    def used(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(usage_cycles.c.octets), 0))
                                    .where(usage_cycles.c.login_id == self.alice)).scalar_one())


TIERS = [(100 * G, "5M/5M"), (200 * G, "1M/1M")]


@pytest.fixture
def f(engine: Any) -> Iterator[Fup]:
    """Profile 'home': 10M/10M, after 100G 5M/5M, after 200G 1M/1M; alice uses it."""
    world = Fup(engine, fup_tiers=TIERS)
    yield world
    world.engine.dispose()


def m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def throttled(old: int, new: int, f: Fup) -> dict:
    return {"login_id": f.alice, "username": "alice", "old_level": old, "new_level": new}


def test_crossing_tiers_throttles_and_the_next_cycle_restores(f: Fup) -> None:
    """Below 100G full speed; the pass after crossing 100G sets level 1 (event 0→1, reply
    5M/5M); past 200G level 2 (event 1→2, 1M/1M); the next cycle's reset lifts it (event
    2→0, cycle.started, 10M/10M)."""
    f.acct(sm.STATUS_START, T0)
    f.interim(m(5), 60 * G)
    assert f.aggregate(m(10)) == "ran"
    assert (f.used(), f.level(), f.events(), f.rate()) == (60 * G, 0, [], "10M/10M")

    f.interim(m(10), 110 * G)
    assert f.aggregate(m(15)) == "ran"
    assert f.level() == 1 and f.events() == [throttled(0, 1, f)]
    assert f.rate() == "5M/5M"
    assert f.jobs.last_aggregation["throttled"] == 1

    f.interim(m(15), 210 * G)
    assert f.aggregate(m(20)) == "ran"
    assert f.level() == 2 and f.events() == [throttled(0, 1, f), throttled(1, 2, f)]
    assert f.rate() == "1M/1M"

    april = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)
    assert f.start_cycles(april) == 1
    assert f.level() == 0 and f.events()[-1] == throttled(2, 0, f)
    assert f.events("cycle.started")[-1]["login_id"] == f.alice
    assert f.rate() == "10M/10M"
    assert f.start_cycles(april + timedelta(minutes=5)) == 0  # once per cycle


def test_a_pass_run_twice_publishes_nothing_new(f: Fup) -> None:
    """The same period is not run again; a later pass with more usage at the same level,
    or the chunk applied again, sets nothing and publishes nothing."""
    f.acct(sm.STATUS_START, T0)
    f.interim(m(5), 120 * G)
    assert f.aggregate(m(10)) == "ran"
    assert f.events() == [throttled(0, 1, f)]
    assert f.aggregate(m(10)) == "done"
    assert f.aggregate(m(15)) == "ran"          # nothing new to aggregate
    f.interim(m(15), 150 * G)
    assert f.aggregate(m(20)) == "ran"          # more usage, same tier
    chunk = f.db.write(store.aggregate_chunk, 0, 100, m(15), m(20), f.writer)
    assert result_of(chunk).sessions == 0       # everything was aggregated already
    assert f.level() == 1 and f.events() == [throttled(0, 1, f)]
    assert len(f.events("login.throttled")) == 1


def test_old_cycle_usage_processed_after_the_boundary_does_not_throttle(f: Fup) -> None:
    """The slot before the cycle boundary, aggregated after it, counts in the old cycle
    but does not throttle the login in its new one."""
    last = datetime(2026, 3, 31, 23, 50, tzinfo=UTC)
    f.acct(sm.STATUS_START, last)
    f.interim(datetime(2026, 3, 31, 23, 55, tzinfo=UTC), 150 * G)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    assert f.aggregate(april) == "ran"          # slot 23:55 of March, run in April
    assert f.used() == 150 * G and f.level() == 0 and f.events() == []


def test_profile_losing_its_tiers_lifts_the_throttle_at_the_next_pass(f: Fup) -> None:
    """A throttled login whose profile no longer has tiers goes back to level 0 at the next
    pass with usage (event 1→0); meanwhile its reply is the profile's rate."""
    f.acct(sm.STATUS_START, T0)
    f.interim(m(5), 120 * G)
    f.aggregate(m(10))
    assert f.rate() == "5M/5M"
    result_of(f.db.write(f.writer.update_profile, f.org, f.profile_id, m(11), fup_tiers=None))
    assert f.rate() == "10M/10M" and f.level() == 1
    f.interim(m(12), 121 * G)
    f.aggregate(m(15))
    assert f.level() == 0 and f.events()[-1] == throttled(1, 0, f)


def test_legacy_fup_rate_limit_is_a_tier_at_the_data_cap(engine: Any) -> None:
    """Without tiers, fup_rate_limit applies once the login's data cap is reached (level 1),
    decided by the pass like any tier."""
    f = Fup(engine, fup_rate_limit="1M/1M")
    try:
        result_of(f.db.write(f.writer.set_profile, f.org, f.alice, T0, data_cap=50 * G))
        f.acct(sm.STATUS_START, T0)
        f.interim(m(5), 49 * G)
        f.aggregate(m(10))
        assert f.level() == 0 and f.rate() == "10M/10M"
        f.interim(m(10), 50 * G)
        f.aggregate(m(15))
        assert f.level() == 1 and f.rate() == "1M/1M"
        assert f.events("usage.quota_exceeded")[0]["used"] == 50 * G
    finally:
        f.engine.dispose()


def test_free_hours_traffic_does_not_count(engine: Any) -> None:
    """With free hours 00:00-06:00 (org time, Berlin: 23:00-05:00 UTC in March), night
    traffic adds nothing to the cycle usage; a delta across 06:00 counts for its daytime
    part only, proportionally by time; the tier is crossed by counted octets alone."""
    f = Fup(engine, tz="Europe/Berlin", fup_tiers=[(100 * G, "5M/5M")], free_hours="00:00-06:00")
    try:
        night = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)   # 02:00 in Berlin
        f.acct(sm.STATUS_START, night)
        f.interim(night + timedelta(minutes=5), 500 * G)
        assert f.aggregate(night + timedelta(minutes=10)) == "ran"
        assert f.used() == 0 and f.level() == 0
        # 04:50-05:10 UTC = 05:50-06:10 Berlin: half of the 120G counts
        f.interim(datetime(2026, 3, 10, 4, 50, tzinfo=UTC), 500 * G)  # counters unchanged
        f.aggregate(datetime(2026, 3, 10, 4, 55, tzinfo=UTC))
        f.interim(datetime(2026, 3, 10, 5, 10, tzinfo=UTC), 620 * G)
        f.aggregate(datetime(2026, 3, 10, 5, 15, tzinfo=UTC))
        assert f.used() == 60 * G and f.level() == 0
        f.interim(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), 660 * G)
        f.aggregate(datetime(2026, 3, 10, 9, 5, tzinfo=UTC))
        assert f.used() == 100 * G and f.level() == 1 and f.rate() == "5M/5M"
        # the buckets (graphs) keep all the traffic
        with f.engine.connect() as conn:
            total = conn.execute(sa.text("SELECT SUM(octets_in + octets_out) FROM acct_usage "
                                         "WHERE level = 'day'")).scalar_one()
        assert total == 660 * G
    finally:
        f.engine.dispose()


def test_session_start_to_first_interim_is_the_first_span(engine: Any) -> None:
    """Before its first aggregation a session's octets span from its start: a session
    started at 05:00 UTC (free until 06:00) reporting at 07:00 counts half."""
    f = Fup(engine, fup_tiers=[(100 * G, "5M/5M")], free_hours="00:00-06:00")
    try:
        f.acct(sm.STATUS_START, datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
        f.interim(datetime(2026, 3, 10, 7, 0, tzinfo=UTC), 80 * G)
        f.aggregate(datetime(2026, 3, 10, 7, 5, tzinfo=UTC))
        assert f.used() == 40 * G
    finally:
        f.engine.dispose()


def test_another_org_s_login_id_is_not_decided(f: Fup) -> None:
    """The pass reads FUP facts scoped by the session's org: a session row naming alice's
    id under another org neither counts in her cycle nor throttles her."""
    with f.engine.begin() as conn:
        other = orgs.add(conn, "other", "Other", T0).id
        rec = sm.AcctRecord(sm.STATUS_INTERIM, f.nas_id, "x", "alice", m(5), input_octets=300 * G,
                            session_time=300)
        store.apply_batch(conn, [AcctItem(rec, other, f.alice)])
    f.aggregate(m(10))
    assert f.used() == 0 and f.level() == 0 and f.events() == []


def test_throttled_login_with_no_cycle_yet_is_reset_at_its_boundary(f: Fup) -> None:
    """A login the cycle job never saw (no data cap) notes its cycle when throttled, so the
    first boundary after lifts the level even if the cycle job first runs after it."""
    f.acct(sm.STATUS_START, T0)
    f.interim(m(5), 150 * G)
    f.aggregate(m(10))
    assert f.level() == 1
    assert f.start_cycles(datetime(2026, 4, 1, 0, 30, tzinfo=UTC)) == 1
    assert f.level() == 0 and f.rate() == "10M/10M"


def test_walled_garden_and_exhausted_are_unchanged_by_the_level(f: Fup) -> None:
    """A throttled login suspended into the walled garden gets the walled-garden rate; an
    exhausted one is still rejected."""
    f.acct(sm.STATUS_START, T0)
    f.interim(m(5), 150 * G)
    f.aggregate(m(10))
    result_of(f.db.write(f.writer.set_state, f.org, f.alice, "suspended", m(11),
                         suspend_mode="walled_garden"))
    assert f.rate() == "256k/256k"
    result_of(f.db.write(f.writer.set_state, f.org, f.alice, "active", m(12)))
    result_of(f.db.write(f.writer.exhaust, f.org, f.alice, m(12)))
    req = pap_req("alice", "alice-pass", ident=200)
    f.auth.datagramReceived(req, NAS_ADDR)
    assert reply_of(f.tr, req).code == 3


def test_level_applied_twice_is_a_no_op(f: Fup) -> None:
    """set_throttle with the level a login already has returns False and publishes nothing."""
    assert result_of(f.db.write(f.writer.set_throttle, f.org, f.alice, 1, m(1))) is True
    assert result_of(f.db.write(f.writer.set_throttle, f.org, f.alice, 1, m(2))) is False
    assert f.events() == [throttled(0, 1, f)]
