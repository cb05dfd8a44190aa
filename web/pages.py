"""HTML pages from Jinja2 templates (web/templates, autoescaped).

Links inside pages are relative to the page, so the web side works the same
at the root of a host and behind a proxy under a path prefix.
"""
from __future__ import annotations

import json
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from web.errors import HttpError, set_header

# Pages load nothing from elsewhere (the product must work on an offline
# LAN) and run no inline script; say so to the browser.
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("Referrer-Policy", "same-origin"),
)


def root_prefix(request: IRequest) -> str:
    """The relative path from this request's page to the web root: '' for
    /, '../../' for /org/portal/suspended."""
    path: bytes = request.path.split(b"?", 1)[0]
    return "../" * max(path.count(b"/") - 1, 0)


class Pages:
    """Renders templates into HTML responses."""

    def __init__(self) -> None:
        self.env = Environment(loader=PackageLoader("web", "templates"), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               auto_reload=False)     # templates are the package's: no stat per page

    def render(self, request: IRequest, template: str, **context: Any) -> bytes:
        """The page as UTF-8 bytes, with its content type and headers set."""
        set_header(request, "Content-Type", "text/html; charset=utf-8")
        for name, value in _SECURITY_HEADERS:
            set_header(request, name, value)
        context.setdefault("root", root_prefix(request))
        return self.env.get_template(template).render(**context).encode("utf-8")

    def error(self, request: IRequest, err: HttpError, brand: str, back: str) -> bytes:
        """The error page: ``brand`` in the header, a link to ``back`` (a path
        relative to the web root)."""
        root = root_prefix(request)
        return self.render(request, "error.html", root=root, brand=brand, status=err.status,
                           heading=err.heading, message=err.message, field=err.field,
                           back=(root + back) or "./")


def json_headers(request: IRequest) -> None:
    """The headers of a JSON response."""
    set_header(request, "Content-Type", "application/json")
    set_header(request, "X-Content-Type-Options", "nosniff")


def json_body(request: IRequest, value: Any) -> bytes:
    """``value`` as a JSON response body."""
    json_headers(request)
    return json.dumps(value).encode("utf-8")


class _Remount(Resource):
    """Hands the request to ``inner`` with the path segment the parent route matched put back in front,
    so the inner Klein app's routes name whole paths (``/products/<id>``, not ``/<id>``)."""
    isLeaf = True

    def __init__(self, inner: IResource):
        super().__init__()
        self.inner = inner

    def render(self, request: Any) -> Any:
        if request.prepath:
            request.postpath.insert(0, request.prepath.pop())
        return cast(Any, self.inner).render(request)


def remount(inner: IResource) -> IResource:
    """``inner`` served under a branch route of one segment, seeing that segment in its path."""
    return cast(IResource, _Remount(inner))
