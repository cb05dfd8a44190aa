"""/{org}/portal/hotspot/FILE: the org's MikroTik hotspot pages, for the router to fetch.

``aaad nas provision NAME --hotspot`` has the router run ``/tool fetch url=<this URL>
dst-path=hotspot/FILE`` for each of :data:`aaad.urls.HOTSPOT_FILES`; anyone may fetch them (they
hold the org's name, colour and the portal's links, nothing more).  They are pages for the
router to serve, with its ``$(...)`` variables still in them, so aaad hands them out as
downloads: never rendered on aaad's own origin (attachment, nosniff, a sandboxing CSP).
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad.errors import NotFound
from aaad.urls import HOTSPOT_FILES
from billing.vouchers import hotspot
from web.errors import set_header

Reader = Callable[..., "defer.Deferred[Any]"]
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "js": "application/javascript; charset=utf-8"}


@defer.inlineCallbacks
def serve(read: Reader, request: IRequest, org_id: int, base_url: str, name: str) -> Generator[Any, Any, bytes]:
    """File ``name`` of the org's bundle, with links under ``base_url`` (404 for any other name)."""
    if name not in HOTSPOT_FILES:
        raise NotFound("file", name)
    files = yield read(hotspot.bundle, org_id, base_url)
    set_header(request, "Content-Type", CONTENT_TYPES[name.rsplit(".", 1)[1]])
    set_header(request, "Content-Disposition", f'attachment; filename="{name}"')
    set_header(request, "X-Content-Type-Options", "nosniff")
    set_header(request, "Content-Security-Policy", "sandbox; default-src 'none'")
    set_header(request, "Cache-Control", "no-cache")
    body: bytes = files[name]
    return body
