"""Field types the core's resources share (NAS, profiles, logins, auth log, jobs, events).

- :data:`Text`: a string without control characters (PostgreSQL refuses NUL; a
  name or rate limit never needs a tab or a newline);
- :data:`UtcTime`: :data:`web.api.declare.Instant` (RFC 3339 with its offset, as UTC).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api.declare import Instant

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Text = Annotated[str, Field(pattern=NO_CONTROL)]

UtcTime = Instant
