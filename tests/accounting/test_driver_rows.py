"""apply_batch's SQLite fast path: times as UTCDateTime stores them, rows as the Core path writes them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from aaad.db import UTCDateTime, sqlite_parse_time, sqlite_time

_DIALECT = sqlite.dialect()
_BIND = sqlite.DATETIME().bind_processor(_DIALECT)
_RESULT = sqlite.DATETIME().result_processor(_DIALECT, None)

aware = st.builds(lambda dt, mins: dt.replace(tzinfo=timezone(timedelta(minutes=mins))),
                  st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 30)),
                  st.integers(min_value=-14 * 60, max_value=14 * 60))


@given(aware)
def test_same_text_as_utcdatetime_on_sqlite(v: datetime) -> None:
    """The text the driver gets is what UTCDateTime + SQLAlchemy's SQLite DATETIME bind it to, in any zone."""
    assert _BIND is not None
    assert sqlite_time(v) == _BIND(UTCDateTime().process_bind_param(v, _DIALECT))


@given(aware)
def test_read_back_as_utcdatetime_reads_it(v: datetime) -> None:
    """The text parses back to the same instant, aware in UTC, as SQLAlchemy's result processing gives."""
    text = sqlite_time(v)
    assert _RESULT is not None
    back = sqlite_parse_time(text)
    assert back == v and back.tzinfo is UTC
    assert back == UTCDateTime().process_result_value(_RESULT(text), _DIALECT)


def test_none_and_naive() -> None:
    """None stays None; a naive datetime is refused, as UTCDateTime refuses it."""
    assert sqlite_time(None) is None and sqlite_parse_time(None) is None
    with pytest.raises(ValueError, match="naive"):
        sqlite_time(datetime(2026, 1, 1))


def test_whole_second_keeps_its_microseconds_field() -> None:
    """A time on a whole second is stored with .000000, as SQLAlchemy stores it (text order = time order)."""
    v = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert sqlite_time(v) == "2026-11-30 12:00:00.000000"


def test_a_row_written_through_the_driver_reads_the_same_through_core(tmp_path: Path) -> None:
    """A session row the fast path inserted reads back through SQLAlchemy Core with equal times."""
    from accounting.schema import sessions as sessions_t
    from accounting.store import _INSERT_FIELDS, _INSERT_SQL
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    sessions_t.metadata.create_all(engine, tables=[sessions_t])
    t0 = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    values = dict(session_key="k" * 32, org_id=1, nas_id=2, session_id="s1", username="u", login_id=None,
                  nas_port=None, nas_port_id=None, framed_ip=None, calling_station=None, called_station=None,
                  start_time=sqlite_time(t0), last_update=sqlite_time(t0 + timedelta(seconds=300)), stop_time=None,
                  input_octets=5, output_octets=6, input_packets=0, output_packets=0, session_time=300,
                  terminate_cause=None, interim_interval=300, class_attr=None, nas_ip="10.0.0.7")
    with engine.begin() as conn:
        conn.exec_driver_sql(_INSERT_SQL, [tuple(values[f] for f in _INSERT_FIELDS)])
        r = conn.execute(sa.select(sessions_t)).one()
    assert r.start_time == t0 and r.last_update == t0 + timedelta(seconds=300) and r.stop_time is None
    assert (r.input_octets, r.output_octets, r.session_time, r.nas_ip) == (5, 6, 300, "10.0.0.7")
