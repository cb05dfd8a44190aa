"""Accounting traffic for the API tests: a NAS for org demo (the seeded demo gives its
NAS to org other), sessions in both orgs written by accounting's own batch handler,
and usage buckets written by its aggregation.  What the demo does not seed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aaad import nas
from aaad.view import store as view_store
from accounting import sessions as sm
from accounting import store
from accounting.store import AcctItem
from tests.helpers import result_of
from tests.web.api.conftest import NOW, World

START = NOW - timedelta(hours=2)
SLOT = NOW - timedelta(hours=1)          # the 5-minute slot the aggregation writes (11:00)
MB = 1_000_000


@dataclass(frozen=True)
class Traffic:
    demo_nas: int
    other_nas: int
    alice: int               # demo's logins
    bob: int
    other_alice: int         # org other's alice
    open_session: int        # alice's, open on demo_nas
    closed_session: int      # bob's, stopped
    other_session: int       # other's alice, open


def _login(world: World, org_id: int, name: str) -> int:
    with world.db.engine.connect() as c:
        lg = view_store.login_by_name(c, world.box, org_id, name)
    assert lg is not None
    return lg.id


def _session_row(conn: Any, org_id: int, acct_session_id: str) -> int:
    p = store.page_sessions(conn, org_id, limit=500)
    return next(s.id for s in p.items if s.session.session_id == acct_session_id)


def seed_traffic(world: World) -> Traffic:
    """Add demo's NAS, three sessions (two in demo, one in other) and aggregate their octets."""
    demo_nas = result_of(world.db.write(nas.add, world.box, world.demo, "core-1", "127.0.0.2", "s3cret", NOW)).id
    with world.db.engine.connect() as c:
        other_nas = nas.list_all(c, world.box, world.other)[0].id
    alice, bob = _login(world, world.demo, "alice"), _login(world, world.demo, "bob")
    other_alice = _login(world, world.other, "alice")

    def rec(status: int, nas_id: int, sid: str, user: str, at: Any, **kw: Any) -> sm.AcctRecord:
        return sm.AcctRecord(status, nas_id, sid, user, at, class_attr=f"c-{sid}", **kw)
    items = [
        AcctItem(rec(sm.STATUS_START, demo_nas, "a1", "alice", START, framed_ip="10.0.0.5",
                     calling_station="AA:BB:CC:00:00:01"), world.demo, alice),
        AcctItem(rec(sm.STATUS_INTERIM, demo_nas, "a1", "alice", SLOT, session_time=3600,
                     input_octets=3 * MB, output_octets=40 * MB), world.demo, alice),
        AcctItem(rec(sm.STATUS_START, demo_nas, "b1", "bob", START - timedelta(hours=1)), world.demo, bob),
        AcctItem(rec(sm.STATUS_STOP, demo_nas, "b1", "bob", START - timedelta(minutes=30), session_time=1800,
                     input_octets=MB, output_octets=2 * MB, terminate_cause=1), world.demo, bob),
        AcctItem(rec(sm.STATUS_START, other_nas, "o1", "alice", START), world.other, other_alice),
    ]
    result_of(world.db.write(store.apply_batch, items))
    result_of(world.db.write(store.aggregate_chunk, 0, 1000, SLOT, NOW))
    with world.db.engine.connect() as c:
        return Traffic(demo_nas, other_nas, alice, bob, other_alice, _session_row(c, world.demo, "a1"),
                       _session_row(c, world.demo, "b1"), _session_row(c, world.other, "o1"))
