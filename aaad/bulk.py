"""Bulk INSERTs for batch jobs: many rows of one table, written with the driver directly.

``conn.execute(table.insert(), [dict, ...])`` costs SQLAlchemy about 10 µs of
Python per row (building and processing each parameter set); a billing run's
chunk writes tens of thousands of rows.  :func:`insert_rows` takes the rows as
tuples of the varying columns plus the columns that are the same for every row
(``constants``, converted once), runs each value through its column type's bind
processor exactly as SQLAlchemy would (dates and :class:`aaad.db.UTCDateTime`
on SQLite, for instance; equal values converted once), and hands the rows to
the driver: one ``executemany`` on SQLite (a prepared statement stepped per
row), ``COPY ... FROM STDIN`` on PostgreSQL (psycopg's ``Cursor.copy``, in the
connection's transaction; executemany there costs about four times as much per
row, and multi-row ``VALUES`` more still), plain INSERTs there for a few rows.  The rows stored are those the
Core insert would have stored; columns left out get their server defaults, and
a left-out column with a Python-side default is refused rather than skipped.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# PostgreSQL: fewer rows than this go in plain INSERTs (COPY's set-up is its own round trips).
_COPY_FROM = 16

_Proc = Callable[[Any], Any]
_plans: dict[tuple[str, sa.Table, tuple[str, ...]], tuple[str, list[_Proc | None]]] = {}


def _plan(conn: Connection, table: sa.Table, names: tuple[str, ...]) -> tuple[str, list[_Proc | None]]:
    """The INSERT's head (``INSERT INTO t (a, b)``) and each column's bind processor."""
    dialect = conn.dialect
    key = (dialect.name, table, names)      # the Table itself: two tables may share a name
    found = _plans.get(key)
    if found is not None:
        return found
    given = set(names)
    for col in table.columns:
        if col.name not in given and (col.default is not None or col.onupdate is not None):
            raise ValueError(f"{table.name}.{col.name} has a Python-side default: give it a value")
    q = dialect.identifier_preparer
    head = f"INSERT INTO {q.format_table(table)} ({', '.join(q.quote(n) for n in names)})"
    procs: list[_Proc | None] = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    _plans[key] = (head, procs)
    return head, procs


def insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                **constants: Any) -> None:
    """Insert ``rows`` (tuples of ``columns``' values, in that order), each with
    ``constants`` (column=value, the same for every row), in the caller's transaction."""
    if not rows:
        return
    names = (*columns, *constants)
    head, procs = _plan(conn, table, names)
    n_var = len(columns)
    tail = tuple(v if p is None or v is None else p(v) for v, p in zip(constants.values(), procs[n_var:],
                                                                        strict=True))
    conv: list[tuple[int, _Proc, dict[Any, Any]]] = [(i, p, {}) for i, p in enumerate(procs[:n_var]) if p is not None]
    if conv:
        out = []
        for row in rows:
            r = list(row)
            for i, p, memo in conv:
                v = r[i]
                if v is not None:
                    try:
                        r[i] = memo[v]
                    except KeyError:
                        r[i] = memo[v] = p(v)
            out.append((*r, *tail))
        params = out
    elif tail:
        params = [row + tail for row in rows]
    else:
        params = list(rows)
    if conn.dialect.name == "postgresql":
        if len(params) < _COPY_FROM:     # a few rows (one event): one plain INSERT each
            conn.exec_driver_sql(f"{head} VALUES ({', '.join(['%s'] * len(names))})", params)
            return
        # COPY: about 4x faster than executemany here, and multi-row VALUES is slower still
        # (bench/README.md); it runs on the connection's own transaction.
        cur: Any = conn.connection.cursor()
        try:
            with cur.copy(f"COPY {head[len('INSERT INTO '):]} FROM STDIN") as copy:
                for values in params:
                    copy.write_row(values)
        finally:
            cur.close()
        return
    conn.exec_driver_sql(f"{head} VALUES ({', '.join(['?'] * len(names))})", params)
