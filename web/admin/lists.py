"""The console's lists: filters and the cursor from the query string, pages, and CSV export.

A list page reads ``ListArgs.from_request(request, filters=("state", "q"))``, asks the domain for one
page (:func:`paged` around a domain ``page(...)`` function that takes ``cursor=`` and ``limit=``, or
:func:`page` around a query the domain built), and links the next page with ``args.query(after=...)``.
With ``?format=csv`` the same filters give every row (:func:`every` / :func:`all_rows`, up to a cap) as
a CSV download (:func:`csv_body`).  A cursor that is not ours (an old bookmark, a hand-edited URL)
gives the first page rather than an error page.
"""
from __future__ import annotations

import csv
import io
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.web.iweb import IRequest

from aaad import paging
from aaad.errors import ValidationError
from web import forms
from web.errors import set_header

T = TypeVar("T")

#: rows per page of a console list
LIMIT = 50
#: rows at most in one CSV download
CSV_CAP = 100_000
_CSV_PAGE = 1000
#: a cell starting with one of these is a formula to a spreadsheet: it is written with a ' in front
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ListArgs:
    """What a list's query string asks for: its filters (non-empty values only), the cursor, CSV."""
    filters: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None
    csv: bool = False

    @classmethod
    def from_request(cls, request: IRequest, filters: Sequence[str] = ()) -> ListArgs:
        found = {k: v for k in filters if (v := forms.arg(request, k, 200).strip())}
        return cls(found, forms.arg(request, "after", 400) or None, forms.arg(request, "format", 10) == "csv")

    def get(self, name: str, default: str = "") -> str:
        return self.filters.get(name, default)

    def query(self, **changes: str | None) -> str:
        """The query string (with its ``?``; '' when empty) of these filters with ``changes`` applied
        (None drops a key): ``args.query(after=page.next_cursor)``, ``args.query(format="csv")``."""
        values: dict[str, str] = dict(self.filters)
        for k, v in changes.items():
            if v is None or v == "":
                values.pop(k, None)
            else:
                values[k] = v
        return "?" + urllib.parse.urlencode(values) if values else ""


def instant(text: str, field: str) -> datetime | None:
    """A list filter's RFC 3339 instant as the dashboard links them (a date alone: its midnight UTC; a
    ``+`` that a query string turned into a space is put back); None when empty."""
    if not text:
        return None
    try:
        d = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date and time like 2026-11-30T00:00:00+00:00") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d


def paged(fn: Callable[..., paging.Page[T]], *args: Any, cursor: str | None, **kw: Any) -> paging.Page[T]:
    """``fn(*args, cursor=cursor, **kw)``; the first page when the cursor is refused."""
    try:
        return fn(*args, cursor=cursor, **kw)
    except ValidationError as e:
        if e.field != "cursor" or cursor is None:
            raise
        return fn(*args, cursor=None, **kw)


def every(fn: Callable[..., paging.Page[T]], *args: Any, cap: int = CSV_CAP, **kw: Any) -> Iterator[T]:
    """Every item a domain ``page`` function gives (``cursor=``, ``limit=``), page after page, at most
    ``cap``."""
    cursor: str | None = None
    n = 0
    while True:
        p = fn(*args, cursor=cursor, limit=min(_CSV_PAGE, cap - n), **kw)
        yield from p.items
        n += len(p.items)
        if p.next_cursor is None or n >= cap:
            return
        cursor = p.next_cursor


def page(conn: Connection, query: sa.Select[Any], *, sort: str, columns: Mapping[str, sa.ColumnElement[Any]],
         id_col: sa.ColumnElement[Any], args: ListArgs, row: Callable[[Any], T],
         limit: int = LIMIT) -> paging.Page[T]:
    """One page of ``query`` (:func:`aaad.paging.page`) after the request's cursor (a refused cursor: the
    first page)."""
    return paged(paging.page, conn, query, sort=sort, columns=columns, id_col=id_col, cursor=args.cursor,
                 limit=limit, row=row)


def all_rows(conn: Connection, query: sa.Select[Any], *, sort: str, columns: Mapping[str, sa.ColumnElement[Any]],
             id_col: sa.ColumnElement[Any], row: Callable[[Any], T], cap: int = CSV_CAP) -> Iterator[T]:
    """Every row of ``query`` in ``sort`` order, at most ``cap`` (for a CSV download)."""
    return every(paging.page, conn, query, sort=sort, columns=columns, id_col=id_col, row=row, cap=cap)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return v


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header line; dates in ISO form; cells a spreadsheet would run as formulas defused."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_cell(v) for v in r])
    return out.getvalue()


def csv_body(request: IRequest, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV download (``filename`` without its .csv) as the response body, headers set."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in filename)[:80] or "list"
    set_header(request, "Content-Type", "text/csv; charset=utf-8")
    set_header(request, "Content-Disposition", f'attachment; filename="{safe}.csv"')
    set_header(request, "Cache-Control", "no-store")
    set_header(request, "X-Content-Type-Options", "nosniff")
    return csv_text(header, rows).encode("utf-8")
