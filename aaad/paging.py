"""Keyset ("cursor") pagination for listings that stay fast at any depth.

A page is asked for by a sort (a column, ascending or descending, with the
row id as tie-breaker) and an opaque cursor naming the last row already
seen; the query continues after it with an index walk, never an OFFSET.
The cursor is URL-safe base64 of ``[sort, value, id]``: a cursor made for
one sort is refused for another.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.errors import ValidationError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode(sort: str, value: Any, row_id: int) -> str:
    """The cursor after a row whose sort value is ``value``."""
    if isinstance(value, datetime):
        v: Any = {"t": value.isoformat()}
    elif isinstance(value, date):
        v = {"d": value.isoformat()}
    else:
        v = value
    raw = json.dumps([sort, v, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(sort: str, cursor: str) -> tuple[Any, int]:
    """The (value, id) a cursor continues after; ValidationError('cursor') when it is not one of ours
    or was made for another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, v, row_id = json.loads(raw)
        if isinstance(v, dict):
            v = datetime.fromisoformat(v["t"]) if "t" in v else date.fromisoformat(v["d"])
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError(row_id)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("cursor", "not a cursor this API gave out (use next_cursor from the "
                                        "previous page as it is)") from None
    if made_for != sort:
        raise ValidationError("cursor", f"this cursor belongs to sort={made_for}, not sort={sort}")
    return v, row_id


def page(conn: Connection, query: sa.Select[Any], *, sort: str, columns: Mapping[str, sa.ColumnElement[Any]],
         id_col: sa.ColumnElement[Any], cursor: str | None, limit: int,
         row: Callable[[Any], T]) -> Page[T]:
    """One page of ``query`` sorted by ``sort`` (a key of ``columns``, ``-`` in front for descending),
    after ``cursor``; ``row`` makes an item of a result row."""
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    col = columns.get(name)
    if col is None:
        raise ValidationError("sort", "sort by one of: " + ", ".join(
            f"{k}, -{k}" for k in columns))
    if cursor:
        value, after = decode(sort, cursor)
        if name == "id":
            query = query.where(id_col < after if desc else id_col > after)
        elif desc:
            query = query.where(sa.or_(col < value, sa.and_(col == value, id_col < after)))
        else:
            query = query.where(sa.or_(col > value, sa.and_(col == value, id_col > after)))
    order: Sequence[Any] = ((id_col.desc(),) if name == "id" else (col.desc(), id_col.desc())) if desc else \
        ((id_col,) if name == "id" else (col, id_col))
    rows = list(conn.execute(query.add_columns(col.label("_sort_value"), id_col.label("_sort_id"))
                             .order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode(sort, rows[-1]._sort_value, rows[-1]._sort_id) if more and rows else None
    return Page([row(r) for r in rows], nxt)
