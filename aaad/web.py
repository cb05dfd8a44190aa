"""The core's HTTP handlers: /healthz and /metrics.

Plain handler methods on an object built with its dependencies; the one
Klein root (``web.root``, built in ``aaad/app.py``) routes to them.
"""
from __future__ import annotations

import json
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet import defer

from aaad.health import HealthCheck


class Request(Protocol):
    """What the handlers use of a request (an ``IRequest``, whose zope interface
    mypy cannot read)."""

    def setHeader(self, name: str, value: str) -> None: ...

    def setResponseCode(self, code: int) -> None: ...


class CoreWeb:
    """Health and metrics of the running daemon."""

    def __init__(self, db: Any, stats: Any, view: Any, started: float, health: HealthCheck):
        self.db = db
        self.stats = stats
        self.view = view
        self.started = started
        self.health = health
        self.registry = stats.registry()

    @defer.inlineCallbacks
    def healthz(self, request: Request):  # type: ignore[no-untyped-def]
        """200 when everything works; 503 naming each problem (see aaad.health)."""
        request.setHeader("Content-Type", "application/json")
        problems, details = yield self.health.check()
        if problems:
            request.setResponseCode(503)
        return json.dumps({"status": "unhealthy" if problems else "ok", "problems": problems,
                           "logins": len(self.view), "nas": len(self.view.nas),
                           "last_change": self.view.last_change, **details})

    def metrics(self, request: Request) -> bytes:
        request.setHeader("Content-Type", CONTENT_TYPE_LATEST)
        return generate_latest(self.registry)
