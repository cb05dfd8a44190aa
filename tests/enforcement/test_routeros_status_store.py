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
