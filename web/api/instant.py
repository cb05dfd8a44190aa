"""A point in time as a query or body field: RFC 3339 with its offset, within what both
databases and rrdtool can hold (1970 to 9998, UTC), so no input can overflow a conversion.

A candidate for ``web.api.declare`` (next to ``Id``) once more resources take times.
"""
from __future__ import annotations

import typing
from datetime import UTC, datetime

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time between 1970 and 9998 (UTC) is required") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("a time between 1970 and 9998 (UTC) is required")
    return utc


#: An aware datetime (``2026-11-30T12:00:00Z``), turned into UTC.
Instant = typing.Annotated[AwareDatetime, AfterValidator(_in_range)]
