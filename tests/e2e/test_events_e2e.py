"""End to end: a daemon killed right after a subscriber's commit delivers that event
exactly once after its restart (the fault hook AAAD_FAULT=after_commit_before_send)."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import events
from aaad.db import sync_engine
from accounting.events import QuotaExceeded
from tests.conftest import DaemonFactory

EXTRA = "[accounting]\nrrd_enabled = false\n"


def _login(engine: Any, name: str) -> tuple[int, int, str]:
    with engine.connect() as c:
        r = c.execute(sa.text("SELECT id, org_id, state FROM logins WHERE username = :u"), {"u": name}).one()
    return r.id, r.org_id, r.state


def _quota_exceeded(engine: Any, name: str) -> int:
    lid, org, _ = _login(engine, name)
    with engine.begin() as c:
        events.publish(c, org, QuotaExceeded(lid, 2000, 1000, "2026-11-01T00:00:00+00:00"),
                       datetime.now(UTC))
    with engine.connect() as c:
        return max(e.id for e in events.list_events(c))


def test_killed_after_commit_delivers_exactly_once(daemon_factory: DaemonFactory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL between a subscriber's commit and what follows: the login is exhausted and
    the position advanced together; after a restart the event is not delivered again."""
    conf, data_dir = daemon_factory.configure(extra=EXTRA)
    engine = sync_engine(f"sqlite:///{Path(data_dir) / 'aaad.db'}")
    first = _quota_exceeded(engine, "carol")
    monkeypatch.setenv("AAAD_FAULT", "after_commit_before_send")
    d = daemon_factory.start(conf, data_dir)
    monkeypatch.delenv("AAAD_FAULT")
    assert d.proc.wait(30) == -9                       # it killed itself at the fault point
    assert _login(engine, "carol")[2] == "exhausted"
    with engine.connect() as c:
        st = {s.name: s for s in events.subscriber_status(c)}["accounting.exhaust"]
    assert st.position == first
    d.cli("user", "enable", "carol")                   # a re-delivery would exhaust her again
    _quota_exceeded(engine, "grace")
    d2 = daemon_factory.start(conf, data_dir)
    deadline = time.monotonic() + 30
    while _login(engine, "grace")[2] != "exhausted":
        assert time.monotonic() < deadline, "the restarted daemon did not deliver the new event"
        time.sleep(0.1)
    assert _login(engine, "carol")[2] == "active"
    assert d2.metric("aaad_event_deliveries_total", 'subscriber="accounting.exhaust"') == 1
    out = d2.cli("events").stdout
    assert "accounting.exhaust" in out
    engine.dispose()
