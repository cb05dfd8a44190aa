"""What billing's document and money resources share (not a resource module itself)."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, model_validator

from aaad.errors import NotFound, ValidationError
from billing import documents
from web.api.declare import In, Raw

T = TypeVar("T")

#: The largest amount (minor units) one request may name: far beyond any real invoice, well
#: inside a signed 64-bit column however many lines are summed.
MAX_AMOUNT = 10**15
#: The largest quantity of one line.
MAX_QUANTITY = 10_000
#: The most lines one document may carry.
MAX_LINES = 100


def _text(value: str) -> str:
    # PostgreSQL refuses NUL in text and no database stores a lone surrogate: a 422, not a 500.
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


#: Text a client sends (no NUL, valid Unicode).
Text = Annotated[str, AfterValidator(_text)]


async def referring(pending: Awaitable[T], **fields: str) -> T:
    """Await ``pending``; a NotFound of an object the request BODY names (``what=field``, e.g.
    ``customer="customer_id"``) becomes a 422 naming that field: the URL itself was found."""
    try:
        return await pending
    except NotFound as e:
        field = fields.get(e.what.replace(" ", "_"))
        if field is None:
            raise
        raise ValidationError(field, f"no {e.what} {e.key} in this org") from None


class LineIn(In):
    """A document line: ``unit_price × quantity − discount``, before VAT unless the org's prices
    include it."""
    description: Text = Field(min_length=1, max_length=500)
    unit_price: int = Field(ge=0, le=MAX_AMOUNT, description="Minor units.")
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)
    discount: int = Field(0, ge=0, le=MAX_AMOUNT, description="Minor units off the line.")
    taxable: bool = Field(True, description="False for a VAT-exempt line.")

    @model_validator(mode="after")
    def _not_too_large(self) -> LineIn:
        if self.unit_price * self.quantity > MAX_AMOUNT:
            raise ValueError(f"unit_price × quantity is more than {MAX_AMOUNT}")
        return self


def day_range(since: date | None, until: date | None) -> None:
    """ValidationError('until') when a date range ends before it starts."""
    if since is not None and until is not None and until < since:
        raise ValidationError("until", "before since")


def time_range(since: datetime | None, until: datetime | None) -> None:
    """ValidationError('until') when a time range ends before it starts."""
    if since is not None and until is not None and until < since:
        raise ValidationError("until", "before since")


def filename(number: str, ext: str) -> str:
    """A download name from a printed number (only letters, digits, ``.``, ``_`` and ``-``)."""
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", number) or "document") + "." + ext


def render_pdf(conn: Any, doc: Callable[[Any, int, int], documents.Doc], org_id: int, obj_id: int) -> Raw:
    """A document as PDF, named by its number (on the read pool: WeasyPrint takes a while)."""
    d = doc(conn, org_id, obj_id)
    return Raw(documents.html_to_pdf(documents.render(d)), "application/pdf", filename(d.number, "pdf"))


def render_html(conn: Any, doc: Callable[[Any, int, int], documents.Doc], org_id: int, obj_id: int) -> Raw:
    """A document's HTML page."""
    return Raw(documents.render(doc(conn, org_id, obj_id)).encode("utf-8"), "text/html; charset=utf-8")
