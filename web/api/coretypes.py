"""Field types the core's resources share (NAS, profiles, logins, auth log, jobs, events).

- :data:`Text`: a string without control characters (PostgreSQL refuses NUL; a
  name or rate limit never needs a tab or a newline);
- :data:`UtcTime`: an RFC 3339 date and time with its offset, turned into UTC
  (one the UTC range cannot hold is a 422, not an overflow in the database layer).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Text = Annotated[str, Field(pattern=NO_CONTROL)]


def _to_utc(t: datetime) -> datetime:
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the range of UTC dates and times") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
