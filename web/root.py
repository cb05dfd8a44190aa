"""The one web root: every HTTP path aaad serves, and where each goes.

    /                   landing page: what is running, links to each portal
    /healthz, /metrics  the core's (aaad.web.CoreWeb)
    /api/v1/...         the admin API (web.api; JSON errors)
    /{org}/portal/...   an org's customer portal (web.portal; HTML errors)
    /admin/...          the admin console (web.admin)
    /gateway/test/...   the built-in test payment gateway's hosted page and webhook (web.gateway_pages)
    /static/...         CSS and images shipped in the package (no CDN)

The root is built from parts handed to it (Klein's non-global-state
pattern); ``aaad/app.py`` calls :func:`build_root`.  Every top-level path
segment here is in ``aaad.orgs.RESERVED_SLUGS``, so no org can shadow it.
"""
from __future__ import annotations

import importlib.metadata
import mimetypes
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, cast

from klein import Klein, KleinRenderable
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from aaad import orgs
from aaad.clock import Clock
from aaad.errors import NotFound
from aaad.web import CoreWeb
from web import hooks
from web.admin.app import Console
from web.api.app import Api, Deps
from web.errors import apply, classify, set_header
from web.gateway_pages import GatewayPages
from web.pages import Pages, json_body
from web.portal.app import OrgCache, Portal, Reader

STATIC_DIR = Path(__file__).resolve().parent / "static"


def aaad_version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("aaad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def format_uptime(seconds: float) -> str:
    """'3 d 4 h 5 min' style, down to seconds under a minute."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        n, s = divmod(s, size)
        if n or parts:
            parts.append(f"{n} {unit}")
    return " ".join(parts)


def load_static(folder: Path) -> dict[str, tuple[bytes, str]]:
    """Every file under ``folder`` by its relative path: bytes and content
    type.  They are few, small and part of the package: read once."""
    files: dict[str, tuple[bytes, str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith(("+xml", "javascript")):
                content_type += "; charset=utf-8"
            files[path.relative_to(folder).as_posix()] = (path.read_bytes(), content_type)
    return files


def resource_of(app: Klein) -> IResource:
    """``app.resource()`` as the ``IResource`` it provides (mypy cannot see
    zope's ``@implementer``, so a ``KleinResource`` is not one to it)."""
    return cast(IResource, app.resource())


class Root:
    """The top of the URL space; it delegates to the parts it is given."""

    app = Klein()

    def __init__(self, core: CoreWeb, api: Api, portal: Callable[[str], KleinRenderable], read: Reader,
                 pages: Pages, clock: Clock, started: float, version: str,
                 static_dir: Path = STATIC_DIR, admin: Callable[[], KleinRenderable] | None = None):
        self.core = core
        self.api = api
        self.portal = portal
        self.read = read
        self.pages = pages
        self.clock = clock
        self.started = started
        self.version = version
        self.static_files = load_static(static_dir)
        self.admin = admin

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def landing(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """What is running, and a link to each org's portal."""
        all_orgs = yield self.read(orgs.list_all)
        return self.pages.render(
            request, "landing.html", brand="aaad", version=self.version,
            uptime=format_uptime(self.clock.seconds() - self.started), orgs=all_orgs,
            api_docs=self.api.docs_path)

    @app.route("/healthz", methods=["GET"])
    def healthz(self, request: IRequest) -> KleinRenderable:
        return self.core.healthz(request)

    @app.route("/metrics", methods=["GET"])
    def metrics(self, request: IRequest) -> bytes:
        return self.core.metrics(request)

    @app.route("/api/v1/", branch=True)
    def api_v1(self, request: IRequest) -> KleinRenderable:
        return resource_of(self.api.app)

    @app.route("/hooks/notify/twilio", methods=["POST"])
    def twilio_status(self, request: IRequest) -> Any:
        """Twilio's message status callbacks (see web.hooks)."""
        return hooks.twilio_status(self.api.deps, request)

    @app.route("/gateway/", branch=True)
    def gateway_pages(self, request: IRequest) -> KleinRenderable:
        return resource_of(GatewayPages(self.api.deps, self.pages).app)

    @app.route("/admin/", branch=True)
    def admin_pages(self, request: IRequest) -> KleinRenderable:
        if self.admin is None:
            raise NotFound("page", "admin")
        return self.admin()

    @app.route("/<slug>/portal/", branch=True)
    def portal_pages(self, request: IRequest, slug: str) -> KleinRenderable:
        return self.portal(slug)

    @app.route("/static/<path:name>", methods=["GET"])
    def static(self, request: IRequest, name: str) -> bytes:
        """A file shipped in web/static; nothing outside it, no listings."""
        body, content_type = self._static_file(name)
        set_header(request, "Content-Type", content_type)
        set_header(request, "Cache-Control", "public, max-age=3600")
        set_header(request, "X-Content-Type-Options", "nosniff")
        return body

    def _static_file(self, name: str) -> tuple[bytes, str]:
        """The bytes and content type of a static file; only names of files
        in web/static are known, so no path can lead out of it."""
        hit = self.static_files.get(name)
        if hit is None:
            raise NotFound("file", name)
        return hit

    @app.handle_errors(Exception)
    def error(self, request: IRequest, failure: Failure) -> bytes:
        """The one place the root turns exceptions into pages (JSON under /api/: a path the API's branch
        does not match, e.g. one with a newline, is still the API's)."""
        if cast(Any, request).path.startswith(b"/api/"):
            return self.api.error(request, failure)
        err = classify(failure, request)
        apply(request, err)
        return self.pages.error(request, err, "aaad", "")


def build_root(core: CoreWeb, read: Reader, clock: Clock, started: float, api: Deps | None = None,
               portal_read: Reader | None = None) -> IResource:
    """The web root from the core's routes and the database reader
    (``Database.read``); ``started`` is the clock's time at start-up; ``api``:
    what the admin API's handlers use (without it the API answers only its index);
    ``portal_read``: the customer portal's reader (``Database.portal_read``; default ``read``)."""
    pages = Pages()
    version = aaad_version()
    api_app = Api(version, api)

    orgs_cache = OrgCache(clock)

    def portal(slug: str) -> KleinRenderable:
        return resource_of(Portal(portal_read or read, pages, slug, api, orgs_cache).app)

    def admin() -> KleinRenderable:
        return resource_of(Console(read, pages, api).app)

    root = resource_of(Root(core, api_app, portal, read, pages, clock, started, version, admin=admin).app)
    return cast(IResource, Utf8Paths(root, resource_of(api_app.app)))


class Utf8Paths(Resource):
    """Answers a path that is not UTF-8 itself (Klein would log an error and answer text): a JSON error under
    /api/, a plain 400 elsewhere; every other request goes to ``root``, or, under /api/v1/, straight to
    ``api`` (the API's own routes, as the root's /api/v1/ branch would hand it on: one routing pass
    instead of two, some 0.05 ms of the reactor an API call)."""

    isLeaf = True

    def __init__(self, root: IResource, api: IResource | None = None):
        super().__init__()
        self.root = root
        self.api = api

    def render(self, request: IRequest) -> bytes | int:
        try:
            b"/".join(cast(Any, request).postpath).decode("utf-8")
        except UnicodeDecodeError:
            request.setResponseCode(400)
            if cast(Any, request).postpath[:1] == [b"api"]:
                return json_body(request, {"error": {"code": "bad_path", "message": "The path is not UTF-8.",
                                                     "field": None}})
            set_header(request, "Content-Type", "text/plain; charset=utf-8")
            return b"The path is not UTF-8.\n"
        r = cast(Any, request)
        if (self.api is not None and len(r.postpath) > 2 and r.postpath[0] == b"api" and r.postpath[1] == b"v1"
                and all(r.postpath[2:-1])):   # an empty segment inside: the root redirects (merged slashes)
            r.prepath.extend(r.postpath[:2])
            r.postpath = r.postpath[2:]
            return cast(Any, self.api).render(request)
        return cast(Any, self.root).render(request)
