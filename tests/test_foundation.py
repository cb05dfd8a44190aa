"""The foundation on both databases: AAA view writes and change feed
(events: tests/test_events.py; jobs: tests/test_jobs.py)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import nas, orgs
from aaad.orgs import ValidationError
from aaad.view.follower import ChangeFollower
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from tests.helpers import SyncDB

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def seed(engine: Any, box: Any) -> tuple[int, int]:
    with engine.begin() as c:
        o = orgs.add(c, "isp", "ISP", T0)
        p = LoginWriter(box).create_profile(c, o.id, "10M", T0, rate_limit="10M/10M")
        nas.add(c, box, o.id, "r1", "10.0.0.1", "s3cret", T0)
    return o.id, p.id


def test_login_round_trip_and_secret_encrypted(engine: Any, box: Any) -> None:
    """A login's password is stored encrypted and reads back in the clear."""
    org_id, pid = seed(engine, box)
    with engine.begin() as c:
        lg = LoginWriter(box).create(c, org_id, "alice", "pw1", T0, profile_id=pid, simultaneous_use=1)
    with engine.connect() as c:
        raw = c.execute(sa.text("SELECT secret_enc FROM logins")).scalar_one()
        snap = load_snapshot(c, box)
    assert b"pw1" not in bytes(raw)
    assert lg.password == b"pw1" and snap.logins[0].password == b"pw1"
    assert snap.logins[0].simultaneous_use == 1 and snap.nas[0].secret == b"s3cret"


def test_duplicate_and_bad_values_are_field_errors(engine: Any, box: Any) -> None:
    """Bad input raises ValidationError naming the field."""
    org_id, _ = seed(engine, box)
    w = LoginWriter(box)
    with engine.begin() as c:
        w.create(c, org_id, "bob", "x", T0)
    for kwargs, field in (({"username": "bob"}, "username"), ({"framed_ip": "nope"}, "framed_ip"),
                          ({"state": "asleep"}, "state"), ({"profile_id": 999}, "profile")):
        args: dict[str, Any] = {"username": "carol", "password": "x"} | kwargs
        with pytest.raises(ValidationError) as e, engine.begin() as c:
            w.create(c, org_id, args.pop("username"), args.pop("password"), T0, **args)
        assert e.value.field == field


def test_change_feed_reaches_another_view(engine: Any, box: Any) -> None:
    """A write by someone else (CLI, other instance) reaches a view through the follower."""
    org_id, pid = seed(engine, box)
    db, clock, view = SyncDB(engine), task.Clock(), AAAView()
    w = LoginWriter(box)
    with engine.connect() as c:
        view.load(load_snapshot(c, box))
    follower = ChangeFollower(db, box, view, clock, 0.25)
    follower.start()
    with engine.begin() as c:  # "the CLI"
        lg = w.create(c, org_id, "dora", "pw", T0, profile_id=pid)
    assert view.get(org_id, "dora") is None
    clock.advance(0.25)
    assert getattr(view.get(org_id, "dora"), "password", None) == b"pw"
    with engine.begin() as c:
        w.set_state(c, org_id, lg.id, "disabled", T0)
        w.update_profile(c, org_id, pid, T0, rate_limit="20M/20M")
    clock.advance(0.25)
    assert getattr(view.get(org_id, "dora"), "state", None) == "disabled"
    assert view.profiles[pid].rate_limit == "20M/20M"
    with engine.begin() as c:
        w.remove(c, org_id, lg.id, T0)
        nas.remove(c, org_id, "r1", T0)
    clock.advance(0.25)
    assert view.get(org_id, "dora") is None and view.nas.lookup("10.0.0.1") is None
    follower.stop()


def test_nas_lookup_exact_and_network(box: Any) -> None:
    """NAS lookup: exact address first, then the most specific network."""
    from aaad.nas import Nas, NasTable
    t = NasTable()
    mk = lambda i, a: Nas(i, 1, f"n{i}", a, b"s", "mikrotik", 3799, True)  # noqa: E731
    t.load([mk(1, "10.0.0.0/8"), mk(2, "10.1.0.0/16"), mk(3, "10.1.2.3")])
    assert [getattr(t.lookup(a), "id", None) for a in ("10.1.2.3", "10.1.9.9", "10.9.9.9")] == [3, 2, 1]
    assert t.lookup("192.168.0.1") is None
