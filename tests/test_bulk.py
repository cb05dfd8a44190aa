"""aaad.bulk.insert_rows stores what a Core insert stores (both databases), and
events.publish_many's payload JSON is json.dumps(asdict(...), sort_keys=True)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from aaad import events
from aaad.bulk import insert_rows
from aaad.db import UTCDateTime

T0 = datetime(2026, 11, 29, 10, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def pair(engine: Any) -> tuple[sa.Table, sa.Table]:
    """Two identical tables with the column types the billing run writes."""
    md = sa.MetaData()
    out = []
    for name in ("via_core", "via_bulk"):
        out.append(sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("org_id", sa.Integer, nullable=False),
                            sa.Column("n", sa.BigInteger), sa.Column("s", sa.Text),
                            sa.Column("flag", sa.Boolean), sa.Column("d", sa.Date),
                            sa.Column("at", UTCDateTime), sa.Column("kind", sa.String(8), server_default="x")))
    md.create_all(engine)
    return out[0], out[1]


@pytest.mark.parametrize("copies", [1, 10])   # 3 rows: plain INSERTs; 30: COPY on PostgreSQL
def test_insert_rows_stores_what_core_stores(engine: Any, pair: tuple[sa.Table, sa.Table], copies: int) -> None:
    """Dates, aware timestamps (any zone), booleans, NULLs, constants and server defaults read back equal."""
    core, bulk = pair
    east = timezone(timedelta(hours=3))
    rows = [(1, "a'b\t\\N", True, date(2026, 1, 31), T0), (-(2 ** 40), None, False, None, None),
            (3, "ü\n", None, date(2026, 1, 31), T0.astimezone(east))] * copies
    cols = ("n", "s", "flag", "d", "at")
    with engine.begin() as conn:
        conn.execute(core.insert(), [dict(zip(cols, r, strict=True), org_id=7) for r in rows])
        insert_rows(conn, bulk, cols, rows, org_id=7)
    with engine.connect() as conn:
        a = conn.execute(sa.select(core).order_by(core.c.id)).all()
        b = conn.execute(sa.select(bulk).order_by(bulk.c.id)).all()
    assert [tuple(r) for r in a] == [tuple(r) for r in b]
    assert b[2].at == T0 and b[2].kind == "x"


def test_insert_rows_constant_timestamp_and_empty(engine: Any, pair: tuple[sa.Table, sa.Table]) -> None:
    """A constant column is converted like a per-row one; no rows is a no-op."""
    _, bulk = pair
    with engine.begin() as conn:
        insert_rows(conn, bulk, ("n",), [])
        insert_rows(conn, bulk, ("n",), [(1,), (2,)], org_id=1, at=T0, d=date(2026, 2, 1))
    with engine.connect() as conn:
        got = conn.execute(sa.select(bulk.c.n, bulk.c.at, bulk.c.d).order_by(bulk.c.id)).all()
    assert [tuple(r) for r in got] == [(1, T0, date(2026, 2, 1)), (2, T0, date(2026, 2, 1))]


def test_insert_rows_refuses_a_missing_python_default(engine: Any) -> None:
    """A column with a Python-side default must be given: insert_rows does not run defaults."""
    md = sa.MetaData()
    t = sa.Table("defaulted", md, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("n", sa.Integer, default=5))
    md.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError, match="Python-side default"):
        insert_rows(conn, t, ("id",), [(1,)])


@dataclass(frozen=True)
class Flat:
    b: str
    a: int
    c: float | None
    d: bool
    TYPE: ClassVar[str] = "test.flat"


@dataclass(frozen=True)
class Nested:
    inner: Flat
    items: list[int]
    TYPE: ClassVar[str] = "test.nested"


@dataclass(frozen=True, slots=True)
class Slotted:
    z: str
    y: int
    TYPE: ClassVar[str] = "test.slotted"


@pytest.mark.parametrize("payload", [Flat("x\"é", 2, None, True), Flat("", -1, 1.5, False),
                                     Nested(Flat("y", 1, 0.25, False), [3, 1]), Slotted("a", 1)])
def test_payload_json_is_sorted_asdict(payload: Any) -> None:
    """The fast serializer gives the bytes json.dumps(asdict(p), sort_keys=True) gave."""
    assert events._payload_json(payload) == json.dumps(dataclasses.asdict(payload), sort_keys=True)


def test_in_list_matches_the_listed_values_and_keeps_one_text(engine: Any, pair: tuple[sa.Table, sa.Table]) -> None:
    """aaad.db.in_list: the rows whose column is in the bound list (integers, dates, aware timestamps in
    any zone, an empty list, lists of any length), the same as SQLAlchemy's expanding IN; on PostgreSQL
    one statement text (an array parameter) whatever the list's length."""
    from aaad.db import in_list
    core, _ = pair
    east = timezone(timedelta(hours=3))
    with engine.begin() as conn:
        conn.execute(core.insert(), [{"org_id": 1, "n": i, "d": date(2026, 1, 1) + timedelta(days=i),
                                      "at": T0 + timedelta(hours=i)} for i in range(1, 9)])
    q = sa.select(core.c.n).where(in_list(core.c.n, "ns"), in_list(core.c.d, "ds"), in_list(core.c.at, "ats"),
                                  core.c.org_id == sa.bindparam("org")).order_by(core.c.n)
    texts = set()

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        texts.add(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as conn:
            def run(ns: list[int], days: list[int], hours: list[int]) -> list[int]:
                ds = [date(2026, 1, 1) + timedelta(days=d) for d in days]
                ats = [(T0 + timedelta(hours=h)).astimezone(east) for h in hours]
                return list(conn.execute(q, {"org": 1, "ns": ns, "ds": ds, "ats": ats}).scalars())
            assert run([1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5]) == [3, 4]
            assert run(list(range(1000)), list(range(9)), [7]) == [7]
            assert run([], [1], [1]) == [] and run([2], [], [2]) == [] and run([5], [5], [5]) == [5]
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    if engine.dialect.name == "postgresql":
        assert len(texts) == 1 and "ANY" in next(iter(texts))
