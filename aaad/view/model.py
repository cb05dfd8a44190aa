"""Profiles and logins as the daemon holds them, and the rules for their fields."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aaad import fup
from aaad.fup import FreeHours, Tier
from aaad.orgs import ValidationError
from aaad.schema import LOGIN_STATES, SUSPEND_MODES


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    org_id: int
    name: str
    rate_limit: str | None = None
    fup_rate_limit: str | None = None
    session_timeout: int | None = None
    pool: str | None = None
    interim_interval: int | None = None
    address_list: str | None = None
    block_when_exhausted: bool = False
    fup_tiers: tuple[Tier, ...] = ()        # ascending thresholds (aaad.fup)
    free_hours: FreeHours | None = None     # local window whose traffic does not count


@dataclass(slots=True, eq=False)
class Login:
    """A login as the auth server sees it (password decrypted, in memory only).

    ``compiled``, ``nt_hash`` and ``nt_hash_hash`` are cache slots the auth server fills when
    the login is loaded or applied from the change feed, never on the hot
    path; a change to the login or its profile makes a new object.
    """
    id: int
    org_id: int
    username: str
    password: bytes
    state: str = "active"
    suspend_mode: str = "reject"
    profile_id: int | None = None
    framed_ip: str | None = None
    rate_limit: str | None = None
    simultaneous_use: int | None = None
    expires_at: datetime | None = None
    validity_seconds: int | None = None
    first_used_at: datetime | None = None
    data_cap: int | None = None
    cycle_anchor: datetime | None = None
    owner_type: str | None = None
    owner_id: int | None = None
    throttle_level: int = 0
    time_limit: int | None = None       # seconds online in total (a voucher's)
    data_limit: int | None = None       # octets in+out in total (a voucher's)
    bind_mac: bool = False
    time_used: int = 0                  # system-managed: accounting adds each session's time
    octets_used: int = 0                # system-managed: accounting adds each session's octets
    bound_mac: str | None = None        # system-managed: the first device, set at the claim
    compiled: Any = field(default=None, repr=False)
    nt_hash: bytes | None = field(default=None, repr=False)
    nt_hash_hash: bytes | None = field(default=None, repr=False)   # MD4 of nt_hash (MS-CHAPv2's success)

    def effective_expiry(self) -> datetime | None:
        """When the login stops being valid: the earlier of expires_at and first use + validity."""
        candidates = [self.expires_at] if self.expires_at is not None else []
        if self.validity_seconds is not None and self.first_used_at is not None:
            candidates.append(self.first_used_at + timedelta(seconds=self.validity_seconds))
        return min(candidates) if candidates else None

    @property
    def owner(self) -> tuple[str, int] | None:
        return (self.owner_type, self.owner_id or 0) if self.owner_type else None

    @property
    def limited(self) -> bool:
        """Has a total time or data limit (accounting keeps its usage on the login)."""
        return self.time_limit is not None or self.data_limit is not None

    def limit_reason(self) -> str | None:
        """Which total limit is used up, if any (the reason it is ``exhausted``)."""
        if self.time_limit is not None and self.time_used >= self.time_limit:
            return TIME_LIMIT_REACHED
        if self.data_limit is not None and self.octets_used >= self.data_limit:
            return DATA_LIMIT_REACHED
        return None


@dataclass(frozen=True, slots=True)
class LoginInfo:
    """A login as an operator sees it (listings, the admin API): no password."""
    id: int
    org_id: int
    username: str
    state: str
    suspend_mode: str
    profile_id: int | None
    framed_ip: str | None
    rate_limit: str | None
    simultaneous_use: int | None
    expires_at: datetime | None
    validity_seconds: int | None
    first_used_at: datetime | None
    data_cap: int | None
    cycle_anchor: datetime | None
    owner_type: str | None
    owner_id: int | None
    throttle_level: int
    created_at: datetime
    updated_at: datetime
    time_limit: int | None = None
    data_limit: int | None = None
    bind_mac: bool = False
    time_used: int = 0
    octets_used: int = 0
    bound_mac: str | None = None


PROFILE_FIELDS = ("rate_limit", "fup_rate_limit", "session_timeout", "pool", "interim_interval",
                  "address_list", "block_when_exhausted", "fup_tiers", "free_hours")

#: Per-login overrides of the profile: owner-protected, set with the profile.
OVERRIDE_FIELDS = ("framed_ip", "rate_limit", "simultaneous_use", "expires_at", "validity_seconds",
                   "data_cap", "cycle_anchor", "time_limit", "data_limit", "bind_mac")

#: Reasons a login with total limits (a voucher) is ``exhausted``.
TIME_LIMIT_REACHED = "time limit reached"
DATA_LIMIT_REACHED = "data limit reached"

#: Fields a login may be created with (besides username and password).
CREATE_FIELDS = ("state", "suspend_mode", "profile_id") + OVERRIDE_FIELDS


def check_profile(values: dict[str, Any]) -> None:
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown profile field")
    for k in ("session_timeout", "interim_interval"):
        v = values.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise ValidationError(k, "a whole number of seconds greater than 0")
    for k in ("rate_limit", "fup_rate_limit"):
        v = values.get(k)
        if v is not None:
            fup.check_rate_limit(k, v)
    if values.get("fup_tiers") is not None:
        fup.check_tiers(values["fup_tiers"])
    fh = values.get("free_hours")
    if fh is not None and not isinstance(fh, str):
        fup.check_free_hours(fh)


def profile_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Checked profile values as the ``profiles`` columns store them: tiers (a sequence of
    :class:`Tier` or (octets, rate) pairs; empty or None: none) as JSON, free hours
    (a :class:`FreeHours` or ``"HH:MM-HH:MM"``; None: none) as text."""
    check_profile(values)
    out = dict(values)
    if "fup_tiers" in out:
        out["fup_tiers"] = fup.tiers_column(fup.check_tiers(out["fup_tiers"] or ()))
    if "free_hours" in out:
        fh = out["free_hours"]
        out["free_hours"] = fup.free_hours_column(fup.parse_free_hours(fh) if isinstance(fh, str) else fh)
    return out


def check_profile_name(name: str) -> None:
    if not name or len(name) > 100:
        raise ValidationError("name", "1 to 100 characters")


def check_state(state: str) -> None:
    if state not in LOGIN_STATES:
        raise ValidationError("state", f"one of {', '.join(LOGIN_STATES)}")


def check_suspend_mode(mode: str) -> None:
    if mode not in SUSPEND_MODES:
        raise ValidationError("suspend_mode", f"one of {', '.join(SUSPEND_MODES)}")


def check_overrides(values: dict[str, Any], allowed: tuple[str, ...] = OVERRIDE_FIELDS) -> None:
    unknown = set(values) - set(allowed)
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown login field")
    if "state" in values:
        check_state(values["state"])
    if "suspend_mode" in values:
        check_suspend_mode(values["suspend_mode"])
    if values.get("framed_ip") is not None:
        try:
            ipaddress.IPv4Address(values["framed_ip"])
        except ValueError:
            raise ValidationError("framed_ip", f"{values['framed_ip']!r} is not an IPv4 address") from None
    for k in ("simultaneous_use", "validity_seconds", "time_limit"):
        v = values.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise ValidationError(k, "a whole number greater than 0")
    for k in ("data_cap", "data_limit"):
        v = values.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ValidationError(k, "a number of octets, 0 or more")
    if "bind_mac" in values and not isinstance(values["bind_mac"], bool):
        raise ValidationError("bind_mac", "true or false")
    for k in ("expires_at", "cycle_anchor"):
        v = values.get(k)
        if v is not None and (not isinstance(v, datetime) or v.tzinfo is None):
            raise ValidationError(k, "an aware date and time (with its time zone)")


def normal_mac(raw: str | None) -> str | None:
    """A Calling-Station-Id as a MAC ``AA:BB:CC:DD:EE:FF`` (MikroTik's form; ``-``, ``.`` or no
    separators accepted), or None if it is not one."""
    if not raw:
        return None
    hexes = "".join(c for c in raw if c not in ":-. ").upper()
    if len(hexes) != 12 or any(c not in "0123456789ABCDEF" for c in hexes):
        return None
    return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))


def check_username(username: str) -> None:
    if not username or len(username.encode()) > 253:
        raise ValidationError("username", "1 to 253 octets")
    if any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise ValidationError("username", "must not contain control characters")


def password_bytes(password: str | bytes) -> bytes:
    pw = password.encode() if isinstance(password, str) else password
    if not pw or len(pw) > 128:
        raise ValidationError("password", "1 to 128 octets (the most RADIUS PAP can carry)")
    return pw
