"""The AAA view's events (``login.*``, ``profile.changed``, ``cycle.started``).

Published by :mod:`aaad.view.write` in the transaction of the change, so
an event exists if and only if its change committed.  Whatever changed a
login (billing, the API, the CLI, a voucher running out, the quota job)
reaches enforcement through these.  Payloads carry the username as well
as the id, so a subscriber can act on a login that is already gone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aaad.events import event_type


@event_type("login.created")
@dataclass(frozen=True)
class LoginCreated:
    login_id: int
    username: str
    state: str
    profile_id: int | None
    TYPE: ClassVar[str]


@event_type("login.state_changed")
@dataclass(frozen=True)
class LoginStateChanged:
    login_id: int
    username: str
    old: str
    new: str
    suspend_mode: str
    reason: str
    TYPE: ClassVar[str]


@event_type("login.profile_changed")
@dataclass(frozen=True)
class LoginProfileChanged:
    """The profile or a per-login override (rate limit, fixed IP, cap, …) changed."""
    login_id: int
    username: str
    old_profile_id: int | None
    new_profile_id: int | None
    fields: list[str]
    TYPE: ClassVar[str]


@event_type("login.throttled")
@dataclass(frozen=True)
class LoginThrottled:
    """The FUP throttle level changed (0 = full speed)."""
    login_id: int
    username: str
    old_level: int
    new_level: int
    TYPE: ClassVar[str]


@event_type("login.removed")
@dataclass(frozen=True)
class LoginRemoved:
    login_id: int
    username: str
    TYPE: ClassVar[str]


@event_type("profile.changed")
@dataclass(frozen=True)
class ProfileChanged:
    profile_id: int
    name: str
    op: str  # created | updated | removed
    TYPE: ClassVar[str]


@event_type("cycle.started")
@dataclass(frozen=True)
class CycleStarted:
    """A login entered a new quota cycle: exhausted and throttle were reset."""
    login_id: int
    username: str
    cycle_start: str  # ISO 8601 UTC
    TYPE: ClassVar[str]
