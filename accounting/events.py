"""The events accounting publishes (DESIGN.md, "Event glossary")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aaad.events import event_type


@event_type("usage.quota_exceeded")
@dataclass(frozen=True)
class QuotaExceeded:
    """A login's usage in its current cycle reached its data cap (published once per cycle)."""
    login_id: int
    used: int
    cap: int
    cycle_start: str  # ISO 8601 UTC
    TYPE: ClassVar[str]


@event_type("usage.quota_warning")
@dataclass(frozen=True)
class QuotaWarning:
    """A login's usage in its current cycle reached ``percent`` of its data cap (once per cycle)."""
    login_id: int
    used: int
    cap: int
    cycle_start: str  # ISO 8601 UTC
    percent: int
    TYPE: ClassVar[str]
