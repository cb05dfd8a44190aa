"""What an exception means over HTTP: one table for every sub-application.

Each sub-application (the root, the API, the portal) has one error handler
that asks :func:`classify` for the status, code, message and field, and
renders them its own way (JSON for the API, an HTML page for the rest).  A
failure nobody expected is logged with its traceback and answered with a
generic message: no stack trace ever reaches a client.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Protocol, cast

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import RequestRedirect

from aaad.errors import NotFound, ValidationError

log = Logger()

class _SetsHeaders(Protocol):
    def setHeader(self, name: str | bytes, value: str | bytes) -> None: ...


def set_header(request: IRequest, name: str, value: str) -> None:
    """``request.setHeader(name, value)``, typed.

    ``IRequest`` declares its methods zope-style (no ``self``), which mypy
    reads as taking one argument fewer; this is the one place that says what
    the call really is.
    """
    cast(_SetsHeaders, request).setHeader(name, value)


class Redirect(Exception):
    """Answer with a redirect to ``location`` (a URL relative to the page, or absolute): e.g. to a sign-in page."""

    def __init__(self, location: str, status: int = 303):
        super().__init__(location)
        self.location, self.status = location, status


INTERNAL_MESSAGE = "Something went wrong on our side; the operator's log has the details."


@dataclass(frozen=True)
class HttpError:
    """An error as a client sees it."""
    status: int
    code: str
    message: str
    field: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def heading(self) -> str:
        """A page title for the error."""
        if self.status >= 500:
            return "Something went wrong"
        if self.status < 400:
            return "Moved"
        return {400: "That did not work", 403: "Not allowed", 404: "Not found",
                405: "Not allowed"}.get(self.status, "Error")


def classify(failure: Failure, request: IRequest) -> HttpError:
    """Map a failure to its HTTP meaning; log the unexpected ones in full."""
    e = failure.value
    if isinstance(e, RequestRedirect):
        return HttpError(e.code, "redirect", "Moved.", headers=(("Location", _location(e, request)),))
    if isinstance(e, Redirect):
        return HttpError(e.status, "redirect", "Moved.", headers=(("Location", e.location),))
    if isinstance(e, RouteNotFound):
        return HttpError(404, "not_found", "Nothing is at this address.")
    if isinstance(e, MethodNotAllowed):
        allowed = ", ".join(e.valid_methods or ())
        return HttpError(405, "method_not_allowed",
                         f"{request.method.decode('ascii', 'replace')} is not allowed here (allowed: {allowed}).",
                         headers=(("Allow", allowed),))
    if isinstance(e, HTTPException) and e.code is not None and e.code < 500:
        return HttpError(e.code, (e.name or "error").lower().replace(" ", "_"), e.name or "Error.")
    if isinstance(e, ValidationError):
        return HttpError(400, "invalid", e.message, e.field)
    if isinstance(e, NotFound):
        return HttpError(404, "not_found", f"No such {e.what}.")
    log.failure("{method} {path} failed", failure,
                method=request.method.decode("ascii", "replace"),
                path=request.uri.decode("ascii", "replace"))
    return HttpError(500, "internal", INTERNAL_MESSAGE)


def _location(e: RequestRedirect, request: IRequest) -> str:
    """Where a routing redirect points, without the host (which the client
    may reach through a proxy): relative for the common added trailing
    slash (``/x/portal`` -> ``portal/``), so it also works under a prefix."""
    target = urllib.parse.urlsplit(e.new_url)
    path: str = request.path.decode("utf-8", "replace")
    query = urllib.parse.urlsplit(request.uri.decode("utf-8", "replace")).query
    query = f"?{query}" if query else ""
    if target.path == path + "/":
        return path.rsplit("/", 1)[-1] + "/" + query
    return target.path + query


def apply(request: IRequest, err: HttpError) -> None:
    """Set the status and headers of ``err`` on the response."""
    request.setResponseCode(err.status)
    for name, value in err.headers:
        set_header(request, name, value)
