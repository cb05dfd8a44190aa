"""The auth policy over the AAA view: from a login's state to a reply.

Pure functions of (login, profile, now, settings): the accept attributes a
login gets (pre-encoded once and cached on the login), or the reason it is
rejected; a throttled login (FUP level N) gets tier N's rate limit, the
level itself decided by accounting's aggregation pass with
:func:`fup_level`.  Reasons are short, human-readable and stable: they go into
Reply-Message, the auth log and the reject counters.
"""
from __future__ import annotations

from dataclasses import dataclass

from aaad.fup import Tier, effective_tiers, tier_rate
from aaad.fup import fup_level as fup_level  # the FUP decision, part of the policy (see aaad.fup)
from aaad.radius.dictionary import RadiusDictionary
from aaad.view.model import Login, Profile

# Reject reasons (also metric labels).
UNKNOWN_USER = "unknown user"
WRONG_PASSWORD = "wrong password"
DISABLED = "account disabled"
EXPIRED = "account expired"
SUSPENDED = "account suspended"
EXHAUSTED = "data quota exhausted"
SIMULTANEOUS_USE = "simultaneous-use limit reached"
REVOKED = "voucher revoked"
OTHER_DEVICE = "bound to another device"
NO_CREDENTIALS = "no supported credentials in request"
EAP_UNSUPPORTED = "EAP is not supported"
BAD_REQUEST = "malformed credentials"


@dataclass(frozen=True)
class PolicySettings:
    walled_garden_address_list: str = "suspended"
    walled_garden_rate_limit: str = "256k/256k"
    walled_garden_session_timeout: int = 300


@dataclass(frozen=True, slots=True)
class Compiled:
    """A login's prepared accept: static attributes and the numbers that vary with time."""
    attrs: bytes                    # encoded attributes that never change for this login+profile
    session_timeout: int | None     # the profile's, or what is left of a total time limit if less
    expiry_ts: float | None         # epoch seconds the login stops being valid, if any
    tier_attrs: tuple[bytes, ...] = ()  # ``attrs`` with FUP tier N's rate limit, at index N - 1

    def attrs_at(self, level: int) -> bytes:
        """The attributes for throttle level ``level`` (0: the profile's rate; a level past
        the last tier keeps the last tier's, e.g. after a profile lost a tier)."""
        if level <= 0 or not self.tier_attrs:
            return self.attrs
        return self.tier_attrs[min(level, len(self.tier_attrs)) - 1]


def login_tiers(login: Login, profile: Profile | None) -> tuple[Tier, ...]:
    """The login's FUP tiers: its profile's, plus the legacy ``fup_rate_limit`` at the
    login's data cap (:func:`aaad.fup.effective_tiers`)."""
    if profile is None:
        return ()
    return effective_tiers(profile.fup_tiers, profile.fup_rate_limit, login.data_cap)


def rate_limit_at(login: Login, profile: Profile | None, level: int) -> str | None:
    """The Mikrotik-Rate-Limit a login gets at throttle ``level`` (what a CoA must carry):
    the tier's, or at level 0 the login's override or its profile's."""
    rate = tier_rate(login_tiers(login, profile), level)
    if rate is not None:
        return rate
    return login.rate_limit or (profile.rate_limit if profile else None)


def compile_login(login: Login, profile: Profile | None, enc: RadiusDictionary) -> Compiled:
    """Encode the reply attributes of a login once (``enc`` is the RadiusDictionary), with
    one pre-encoded variant per FUP tier."""
    parts: list[bytes] = []
    rate = login.rate_limit or (profile.rate_limit if profile else None)
    if login.framed_ip:
        parts.append(enc.encode("Framed-IP-Address", login.framed_ip))
    elif profile and profile.pool:
        parts.append(enc.encode("Framed-Pool", profile.pool))
    if profile and profile.interim_interval:
        parts.append(enc.encode("Acct-Interim-Interval", profile.interim_interval))
    if profile and profile.address_list:
        parts.append(enc.encode("Mikrotik-Address-List", profile.address_list))
    left = data_left(login)
    if left is not None:  # what is left of a total data limit (a voucher's): fixed until usage changes the login
        parts.append(enc.encode("Mikrotik-Total-Limit", left & 0xFFFFFFFF))
        if left >> 32:
            parts.append(enc.encode("Mikrotik-Total-Limit-Gigawords", left >> 32))
    base = b"".join(parts)
    tiers = tuple(base + enc.encode("Mikrotik-Rate-Limit", t.rate_limit)
                  for t in login_tiers(login, profile))
    if rate:
        base += enc.encode("Mikrotik-Rate-Limit", rate)
    expiry = login.effective_expiry()
    st = profile.session_timeout if profile else None
    tl = time_left(login)  # likewise what is left of a total time limit
    if tl is not None:
        st = tl if st is None else min(st, tl)
    return Compiled(base, st, expiry.timestamp() if expiry else None, tiers)


def state_reason(login: Login) -> str | None:
    """Why the login's state forbids access (walled garden is not a rejection)."""
    st = login.state
    if st == "active":
        return None
    if st == "disabled":
        return DISABLED
    if st == "expired":
        return EXPIRED
    if st == "unused":
        return None  # a voucher's first use: accepted, and claimed by the caller
    if st == "exhausted":
        return login.limit_reason() or EXHAUSTED
    if st == "revoked":
        return REVOKED
    if st == "suspended":
        return None if login.suspend_mode == "walled_garden" else SUSPENDED
    return DISABLED


def session_timeout(compiled: Compiled, now: float, expiry_ts: float | None = None) -> int | None:
    """The compiled Session-Timeout (the profile's, or what is left of a total time
    limit if less), shortened to the login's remaining validity (``expiry_ts``
    overrides the compiled expiry, e.g. at first use)."""
    st = compiled.session_timeout
    expiry_ts = compiled.expiry_ts if expiry_ts is None else expiry_ts
    if expiry_ts is not None:
        remaining = int(expiry_ts - now)
        st = remaining if st is None else min(st, remaining)
    return st


def time_left(login: Login) -> int | None:
    """Seconds left of a login's total time limit (None: no limit)."""
    return None if login.time_limit is None else max(0, login.time_limit - login.time_used)


def data_left(login: Login) -> int | None:
    """Octets left of a login's total data limit (None: no limit)."""
    return None if login.data_limit is None else max(0, login.data_limit - login.octets_used)


def walled_garden_attrs(settings: PolicySettings, enc: RadiusDictionary) -> bytes:
    return (enc.encode("Mikrotik-Address-List", settings.walled_garden_address_list)
            + enc.encode("Mikrotik-Rate-Limit", settings.walled_garden_rate_limit)
            + enc.encode("Session-Timeout", settings.walled_garden_session_timeout)
            + enc.encode("Reply-Message", SUSPENDED))

