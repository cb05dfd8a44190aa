"""The HTTP side of the core: /healthz and /metrics.

Routes are methods on an object built with its dependencies (Klein's
non-global-state pattern); the portal and admin API mount beside these.
"""
from __future__ import annotations

import json
from typing import Any

from klein import Klein
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad.health import HealthCheck


class CoreWeb:
    app = Klein()

    def __init__(self, db: Any, stats: Any, view: Any, started: float, health: HealthCheck):
        self.db = db
        self.stats = stats
        self.view = view
        self.started = started
        self.health = health
        self.registry = stats.registry()

    @app.route("/healthz", methods=["GET"])
    @defer.inlineCallbacks
    def healthz(self, request: IRequest):  # type: ignore[no-untyped-def]
        """200 when everything works; 503 naming each problem (see aaad.health)."""
        request.setHeader("Content-Type", "application/json")
        problems, details = yield self.health.check()
        if problems:
            request.setResponseCode(503)
        return json.dumps({"status": "unhealthy" if problems else "ok", "problems": problems,
                           "logins": len(self.view), "nas": len(self.view.nas),
                           "last_change": self.view.last_change, **details})

    @app.route("/metrics", methods=["GET"])
    def metrics(self, request: IRequest) -> bytes:
        request.setHeader("Content-Type", CONTENT_TYPE_LATEST)
        return generate_latest(self.registry)

    @app.handle_errors(Exception)
    def error(self, request: IRequest, failure: Any) -> str:
        from werkzeug.exceptions import HTTPException
        request.setHeader("Content-Type", "application/json")
        if failure.check(HTTPException):
            code = failure.value.code
            request.setResponseCode(code)
            return json.dumps({"error": failure.value.name.lower().replace(" ", "_"),
                               "reason": failure.value.description})
        request.setResponseCode(500)
        return json.dumps({"error": "internal", "reason": "internal error; see the daemon's log"})
