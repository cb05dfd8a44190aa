"""The ``[api]`` config section: the admin HTTP API's limits and logs.

Where the API listens (address, port, TLS) is the web root's ``[web]``
section: the API is served by the same listener under ``/api/v1/``.
"""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import non_negative, positive, setting


@dataclass(frozen=True)
class ApiConfig:
    """The admin HTTP API under /api/v1/ (tokens: `aaad token create`)."""
    rate: float = setting(50.0, "Requests per second each token may make on average (a token bucket); "
                                "beyond it the API answers 429 with Retry-After. 0: no limit.", non_negative)
    burst: int = setting(100, "Requests a token may make at once before the rate applies (the bucket's "
                              "size).", positive)
    idempotency_hours: float = setting(24.0, "Hours an Idempotency-Key is remembered per token: a retry "
                                             "within them gets the first response and changes nothing.",
                                       positive)
    audit_days: int = setting(365, "Days the audit log of API writes is kept (the daily cleanup removes "
                                   "older entries).", positive)
    token_cache_seconds: float = setting(2.0, "Seconds a checked token is trusted without reading it again: "
                                              "a revoked token stops working within this time.", positive)
    request_log: bool = setting(True, "Log one line per API request: token name, method, route, status and "
                                      "latency.")


@dataclass(frozen=True)
class PortalConfig:
    """The customer portal under /{org}/portal/: sessions, sign-in limits, password reset."""
    session_idle_minutes: int = setting(60, "Minutes a portal session lasts without a request; after them the "
                                            "customer signs in again.", positive)
    session_max_hours: int = setting(24, "Hours a portal session lasts at most, however active (absolute "
                                         "expiry from sign-in).", positive)
    login_failures: int = setting(5, "Failed sign-ins for one e-mail or phone number within "
                                     "login_window_minutes after which further tries wait (1 minute, then "
                                     "doubling, at most login_max_wait_minutes). A success clears it.", positive)
    ip_failures: int = setting(5, "Failed sign-ins from one IP address within login_window_minutes after which "
                                  "that address waits the same way (behind a proxy every customer shares its "
                                  "address: raise it there).", positive)
    login_window_minutes: int = setting(15, "Minutes failures are remembered: a counter starts again after this "
                                            "long without a failure.", positive)
    login_max_wait_minutes: int = setting(15, "The longest a sign-in waits after failures: a stranger typing "
                                              "wrong passwords delays a customer this long at most, never "
                                              "locks them out for good.", positive)
    reset_minutes: int = setting(30, "Minutes a password-reset link works (once).", positive)
    reset_per_hour: int = setting(3, "Password-reset messages sent per customer per hour; further requests "
                                     "get the same answer and send nothing.", positive)


@dataclass(frozen=True)
class AdminConfig:
    """The admin console under /admin/: sessions and sign-in limits (accounts: `aaad admin add`)."""
    session_idle_minutes: int = setting(30, "Minutes a console session lasts without a request; after them the "
                                            "admin signs in again (with the second factor).", positive)
    session_max_hours: int = setting(12, "Hours a console session lasts at most, however active (absolute "
                                         "expiry from sign-in).", positive)
    login_failures: int = setting(5, "Failed sign-ins (passwords or two-factor codes) for one e-mail address "
                                     "within login_window_minutes after which further tries wait (1 minute, "
                                     "then doubling, at most login_max_wait_minutes). A success clears it.",
                                  positive)
    ip_failures: int = setting(20, "Failed console sign-ins from one IP address within login_window_minutes "
                                   "after which that address waits the same way.", positive)
    login_window_minutes: int = setting(15, "Minutes failures are remembered: a counter starts again after this "
                                            "long without a failure.", positive)
    login_max_wait_minutes: int = setting(15, "The longest a console sign-in waits after failures.", positive)
