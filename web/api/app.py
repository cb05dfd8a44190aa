"""/api/v1/: the admin API's sub-application.

Every error is JSON, ``{"error": {"code", "message", "field"}}``, mapped from
the domain's exceptions in one handler.  The API issue adds the resources;
today it answers its own name and version, and a JSON 404 for the rest.
"""
from __future__ import annotations

from typing import Any

from klein import Klein
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from web.errors import apply, classify
from web.pages import json_body

API_VERSION = "v1"


class Api:
    """The routes of /api/v1/, built with the services they call."""

    app = Klein()

    # Relative to the web root; set once the OpenAPI documentation is served.
    docs_path: str | None = None

    def __init__(self, aaad_version: str):
        self.aaad_version = aaad_version

    @app.route("/", methods=["GET"])
    def index(self, request: IRequest) -> bytes:
        """What this API is: its name and version, and aaad's."""
        return json_body(request, {"name": "aaad admin API", "api_version": API_VERSION,
                                   "aaad_version": self.aaad_version, "docs": self.docs_path})

    @app.handle_errors(Exception)
    def error(self, request: IRequest, failure: Failure) -> bytes:
        """The one place the API turns exceptions into responses."""
        err = classify(failure, request)
        apply(request, err)
        body: dict[str, Any] = {"code": err.code, "message": err.message, "field": err.field}
        return json_body(request, {"error": body})
