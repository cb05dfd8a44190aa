"""Routers' last status in ``router_status``, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from enforcement import status_store
from enforcement.routeros import RouterStatus

T0 = datetime(2026, 11, 29, 3, 30, tzinfo=UTC)
T1 = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)


def test_record_then_replace(engine: Any) -> None:
    """The first check inserts, later ones replace it; other orgs see nothing."""
    up = RouterStatus(True, "7.16.2 (stable)", "RB5009UG+S+", "core-1", "1d", checked_at=T0)
    down = RouterStatus(False, error="timeout: 10.0.0.1:8728: no answer in time (login)", error_kind="timeout",
                        checked_at=T1)
    with engine.begin() as c:
        status_store.record(c, 1, 7, up)
    with engine.connect() as c:
        assert status_store.last(c, 1, 7) == RouterStatus(True, "7.16.2 (stable)", "RB5009UG+S+", "core-1",
                                                          checked_at=T0)
    with engine.begin() as c:
        status_store.record(c, 1, 7, down)
    with engine.connect() as c:
        got = status_store.last(c, 1, 7)
        assert got is not None and (got.reachable, got.version, got.checked_at) == (False, None, T1)
        assert got.error == down.error
        assert status_store.last(c, 2, 7) is None
        assert list(status_store.for_org(c, 1)) == [7] and status_store.for_org(c, 2) == {}


def test_record_needs_a_time(engine: Any) -> None:
    """A status without checked_at is a programming error, not a row."""
    with engine.begin() as c, pytest.raises(ValueError):
        status_store.record(c, 1, 7, RouterStatus(True))


def test_page_routers_with_their_status_and_the_down_filter(engine: Any, box: Any) -> None:
    """page_routers: each NAS of the org with its last status (None: never checked); reachable=False
    keeps the routers whose last check failed, True those that answered; another org's never show."""
    from aaad import nas, orgs
    with engine.begin() as c:
        a = orgs.add(c, "pr-a", "A", T0)
        b = orgs.add(c, "pr-b", "B", T0)
        up = nas.add(c, box, a.id, "up", "198.51.100.1", "s1", T0)
        down = nas.add(c, box, a.id, "down", "198.51.100.2", "s2", T0)
        never = nas.add(c, box, a.id, "never", "198.51.100.3", "s3", T0)
        theirs = nas.add(c, box, b.id, "theirs", "198.51.100.4", "s4", T0)
        status_store.record(c, a.id, up.id, RouterStatus(True, "7.16", "RB", "up", checked_at=T0))
        status_store.record(c, a.id, down.id, RouterStatus(False, error="timeout", checked_at=T1))
        status_store.record(c, b.id, theirs.id, RouterStatus(False, error="timeout", checked_at=T1))
    with engine.connect() as c:
        every = status_store.page_routers(c, box, a.id)
        assert [(r.nas.name, r.status.reachable if r.status else None) for r in every.items] == [
            ("up", True), ("down", False), ("never", None)]
        assert [r.nas.id for r in status_store.page_routers(c, box, a.id, reachable=False).items] == [down.id]
        assert [r.nas.id for r in status_store.page_routers(c, box, a.id, reachable=True).items] == [up.id]
        first = status_store.page_routers(c, box, a.id, limit=2, sort="-name")
        rest = status_store.page_routers(c, box, a.id, limit=2, sort="-name", cursor=first.next_cursor)
        assert [r.nas.name for r in first.items + rest.items] == ["up", "never", "down"]
        assert [r.nas.id for r in status_store.page_routers(c, box, a.id, q="198.51.100.3").items] == [never.id]
        assert status_store.page_routers(c, box, b.id, reachable=True).items == []
