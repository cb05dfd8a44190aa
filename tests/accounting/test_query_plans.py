"""Per-login reads of sessions walk the logins' index on SQLite, not every session of the org.

SQLite picks the (org_id, start_time) index for ``org_id = ? AND login_id IN (...)`` and then filters the
org's every session: seconds per call at a few million sessions.  ``org_id + 0`` keeps the org's condition
(every query stays scoped) while leaving the index choice to ``login_id``.  PostgreSQL's planner needs no
hint; the same statements run there in the rest of the suite."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from accounting import store
from enforcement import actions

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _plans(conn: Any, fn: Any) -> list[str]:
    """The query plans of every SELECT on acct_sessions that ``fn(conn)`` runs."""
    seen: list[str] = []

    def spy(conn_: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "acct_sessions" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            seen.extend(str(r[-1]) for r in rows if "acct_sessions" in str(r[-1]))
    sa.event.listen(conn, "before_cursor_execute", spy)
    try:
        fn(conn)
    finally:
        sa.event.remove(conn, "before_cursor_execute", spy)
    return seen


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("read", ["open_sessions", "page_sessions", "logins_usage", "login_usage_one"])
def test_a_logins_sessions_are_read_by_the_logins_index(engine: Any, read: str) -> None:
    calls = {
        "open_sessions": lambda c: actions.open_sessions(c, 1, [5, 6]),
        "page_sessions": lambda c: store.page_sessions(c, 1, login_id=5),
        "logins_usage": lambda c: c.execute(store._USAGE_MANY.pending, {"org_id": 1, "ids": [5, 6]}),
        "login_usage_one": lambda c: c.execute(store._ONE_LOGIN_ROW, {"org_id": 1, "id": 5, "today": NOW,
                                                                       "start": NOW}),
    }
    with engine.connect() as conn:
        plans = _plans(conn, calls[read])
    assert plans, "no query on acct_sessions ran"
    for p in plans:
        assert "ix_acct_sessions_org" not in p and not p.startswith("SCAN"), p
