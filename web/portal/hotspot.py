"""/{org}/portal/hotspot/FILE: the org's MikroTik hotspot pages, for the router to fetch.

``aaad nas provision NAME --hotspot`` has the router run ``/tool fetch url=<this URL>
dst-path=hotspot/FILE`` for each of :data:`aaad.urls.HOTSPOT_FILES`; anyone may fetch them (they
hold the org's name, colour and the portal's links, nothing more).  They are pages for the
router to serve, with its ``$(...)`` variables still in them, so aaad hands them out as
downloads: never rendered on aaad's own origin (attachment, nosniff, a sandboxing CSP).
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad.errors import NotFound
from aaad.urls import HOTSPOT_FILES, public_url
from billing.vouchers import hotspot
from web.errors import set_header

CONTENT_TYPES = {"html": "text/html; charset=utf-8", "js": "application/javascript; charset=utf-8"}


@defer.inlineCallbacks
def serve(portal: Any, request: IRequest, name: str) -> Generator[Any, Any, bytes]:
    """File ``name`` of the portal's org's bundle (404 for any other name, or without the services)."""
    if name not in HOTSPOT_FILES:
        raise NotFound("file", name)
    deps = portal._deps()
    org = yield portal._org()
    files = yield portal.read(hotspot.bundle, org.id, public_url(deps.conf.web))
    set_header(request, "Content-Type", CONTENT_TYPES[name.rsplit(".", 1)[1]])
    set_header(request, "Content-Disposition", f'attachment; filename="{name}"')
    set_header(request, "X-Content-Type-Options", "nosniff")
    set_header(request, "Content-Security-Policy", "sandbox; default-src 'none'")
    set_header(request, "Cache-Control", "no-cache")
    body: bytes = files[name]
    return body
