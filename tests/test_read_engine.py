"""The read pool's engine on PostgreSQL: autocommit (no BEGIN / ROLLBACK round trips), and a pooled
connection pinged only when it has been idle, so a server restart still costs no failed read."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import db
from tests.pg import PgCluster


@pytest.fixture
def reader(pg_cluster: PgCluster) -> Iterator[sa.Engine]:
    e = db.make_engine(pg_cluster.new_database(), pool_size=1)
    yield e
    e.dispose()


@pytest.fixture
def pings(reader: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = reader.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(1)
        return real(dbapi_conn)
    monkeypatch.setattr(reader.dialect, "do_ping", counting)
    return seen


def driver(conn: sa.Connection) -> Any:
    """The psycopg connection under ``conn``."""
    return conn.connection.driver_connection


def backend_pid(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_read_runs_without_a_transaction(reader: sa.Engine) -> None:
    with reader.connect() as conn:
        assert driver(conn).autocommit is True
        conn.exec_driver_sql("SELECT 1")
        # no BEGIN was sent: after a statement the session is outside any transaction block
        assert driver(conn).info.transaction_status.name == "IDLE"


def test_a_busy_connection_is_not_pinged(reader: sa.Engine, pings: list[int]) -> None:
    for _ in range(5):
        with reader.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(reader: sa.Engine, pings: list[int],
                                                               pg_cluster: PgCluster,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with reader.connect() as conn:
        first = backend_pid(conn)
    pg_cluster.admin(f"SELECT pg_terminate_backend({first})")
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)      # every checkout now follows an idle spell
    with reader.connect() as conn:
        assert backend_pid(conn) != first                   # the ping failed, the pool reconnected
    assert len(pings) >= 1


def test_writers_keep_their_transactions(pg_cluster: PgCluster) -> None:
    w = db.make_engine(pg_cluster.new_database(), write=True, pool_size=1)
    try:
        with w.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            assert driver(conn).info.transaction_status.name == "INTRANS"
    finally:
        w.dispose()
