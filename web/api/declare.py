"""One declaration per route: what validates a request is what documents it.

A resource module makes a :class:`Router` and declares each route with a
decorator naming the method, the path and a summary.  The handler's own
signature says the rest, FastAPI-style, and is read once at import:

    @router.get("/customers/{customer_id}", summary="A customer")
    async def get_customer(call: Call, path: CustomerPath) -> CustomerOut: ...

- ``path``, ``query`` and ``body`` parameters, annotated with pydantic models,
  are validated from the URL, the query string and the JSON body (every bad
  field is reported at once);
- the return annotation is the success response's schema (``Raw`` for a PDF,
  CSV or PNG: the decorator's ``media`` names its type);
- the same :class:`Endpoint` feeds ``web.api.openapi``: no hand-kept copy.
"""
from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

T = TypeVar("T")

#: Largest id a path or filter may name (a signed 64-bit integer, what both databases store).
MAX_ID = 2**63 - 1

Id = typing.Annotated[int, Field(ge=1, le=MAX_ID)]

#: Earliest and latest instants a request may name: what both databases, Python's datetime
#: arithmetic and rrdtool all hold, so no input overflows a conversion (a 422, never a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_DAY_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _time_text(value: Any) -> Any:
    # pydantic would take 0 or "0" for 1970-01-01T00:00Z (a Unix time); the document says RFC 3339.
    if isinstance(value, (int, float)) or (isinstance(value, str) and not _TIME_TEXT.fullmatch(value)):
        raise ValueError("an RFC 3339 time with its offset, e.g. 2026-11-30T12:00:00Z")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time between 1970 and 9998 (UTC) is required") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("a time between 1970 and 9998 (UTC) is required")
    return utc


def _day_text(value: Any) -> Any:
    if isinstance(value, (int, float)) or (isinstance(value, str) and not _DAY_TEXT.fullmatch(value)):
        raise ValueError("a date YYYY-MM-DD")
    return value


#: A point in time in a query or body: RFC 3339 text with its offset, kept as UTC, 1970 to 9998.
Instant = typing.Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_in_range)]
#: A calendar date in a query or body: YYYY-MM-DD text only, 2000 to 2999 (billing's period arithmetic
#: runs months past it).
Day = typing.Annotated[date, BeforeValidator(_day_text), Field(ge=date(2000, 1, 1), le=date(2999, 12, 31))]


def _text_ok(value: Any) -> bool:
    """No NUL (PostgreSQL refuses it in text) and no lone surrogate (not UTF-8), at any depth."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_text_ok(k) and _text_ok(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_text_ok(v) for v in value)
    return True


class In(BaseModel):
    """Base of request models: unknown fields are errors (a typo is not silently ignored); text
    holds no NUL character and no lone surrogate (neither can be stored)."""
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if not _text_ok(value):
            raise ValueError("text must not contain NUL characters or unpaired surrogates")
        return value


class Out(BaseModel):
    """Base of response models: built from the domain's dataclasses."""
    model_config = ConfigDict(from_attributes=True)


class Page(Out, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` for the next (null: the last page)."""
    items: list[T]
    next_cursor: str | None


class ListQuery(In):
    """Paging every listing accepts."""
    limit: int = Field(50, ge=1, le=500, description="Items per page.")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page.")


class ErrorDetail(Out):
    field: str | None = None
    message: str
    code: str


class ErrorBody(Out):
    code: str = Field(description="Machine-readable: invalid, not_found, unauthorized, forbidden, conflict, "
                                  "rate_limited, internal, ...")
    message: str
    field: str | None = Field(None, description="The (first) field the error is about.")
    errors: list[ErrorDetail] | None = Field(None, description="Every bad field, for a 422.")
    id: str | None = Field(None, description="For a 500: the id the operator finds in the log.")


class Error(Out):
    """Every error response."""
    error: ErrorBody


class Deleted(Out):
    id: int
    deleted: bool = True


@dataclass(frozen=True)
class Raw:
    """A non-JSON response body (the declaration's ``media`` is its type)."""
    body: bytes
    content_type: str
    filename: str | None = None


class Call:
    """What a handler gets besides its validated inputs: who calls, for which
    org, and the database (set up by web.api.app)."""
    token: Any
    org_id: int
    now: datetime
    deps: Any

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        raise NotImplementedError

    def read_out(self, out: Callable[[Any], T], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[T]:
        """``out(fn(conn, ...))``, both on the read thread: for a response model built from many rows (a
        page of 50 items is some 0.1 ms of pydantic), so that work does not hold the reactor, which
        answers RADIUS, in one piece."""
        raise NotImplementedError

    def write(self, fn: Callable[..., T], *args: Any, target: str = "",
              before: Callable[[Any], Any] | None = None, **kwargs: Any) -> Awaitable[T]:
        raise NotImplementedError


Handler = Callable[..., Awaitable[Any]]

_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str                       # OpenAPI template, relative to /api/v1: /customers/{customer_id}
    handler: Handler
    summary: str
    description: str
    tag: str
    path_model: type[BaseModel] | None
    query_model: type[BaseModel] | None
    body_model: type[BaseModel] | None
    response: Any                   # a pydantic model type (or generic alias), or Raw
    status: int = 200
    media: str = "application/json"
    platform: bool = False          # for platform tokens only, on no org
    scoped: bool = True             # acts on one org (a platform token names it in X-Aaad-Org)
    errors: tuple[int, ...] = ()
    extra_params: tuple[dict[str, Any], ...] = field(default=())

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def permission(self) -> str:
        """What a token's role needs for this route (``web.api.permissions``, ``aaad.authz``)."""
        from web.api.permissions import permission
        return permission(self.tag, self.method, self.operation_id)

    @property
    def klein_path(self) -> str:
        """The werkzeug rule: ``{x}`` becomes ``<x>`` (the model validates it)."""
        return _PARAM.sub(r"<\1>", self.path)


class Router:
    """The routes of one resource area, in declaration order."""

    def __init__(self, tag: str, description: str = ""):
        self.tag = tag
        self.description = description
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str, status: int | None = None,
              media: str = "application/json", platform: bool = False, scoped: bool = True,
              errors: tuple[int, ...] = (), description: str | None = None) -> Callable[[Handler], Handler]:
        def declare(fn: Handler) -> Handler:
            hints = typing.get_type_hints(fn, include_extras=True)
            names = set(inspect.signature(fn).parameters) - {"call"}
            unknown = names - {"path", "query", "body"}
            if unknown:
                raise TypeError(f"{fn.__name__}: parameters other than call/path/query/body: {unknown}")
            response = hints.get("return")
            in_path = set(_PARAM.findall(path))
            path_model = hints.get("path")
            declared = set(path_model.model_fields) if path_model else set()
            if in_path != declared:
                raise TypeError(f"{fn.__name__}: path {path} has {in_path or 'no parameters'}, "
                                f"its model has {declared or 'none'}")
            self.endpoints.append(Endpoint(
                method=method, path=path, handler=fn, summary=summary,
                description=description if description is not None else inspect.getdoc(fn) or "",
                tag=self.tag, path_model=path_model, query_model=hints.get("query"),
                body_model=hints.get("body"), response=response,
                status=status or (201 if method == "POST" and response is not Raw else 200),
                media=media, platform=platform, scoped=scoped and not platform, errors=errors))
            return fn
        return declare

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)
