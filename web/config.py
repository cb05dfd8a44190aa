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
