"""/{org}/portal/: one org's customer portal, a sub-application with HTML errors.

A :class:`Portal` is bound to the org named in the URL for one request, so
everything a page shows is that org's: a page of org A never names org B.
The portal issue fills it in; today it has a start page and the suspension
page the walled garden redirects to (``aaad.urls.suspension_url``).
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from klein import Klein
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from aaad import orgs
from aaad.errors import NotFound
from aaad.urls import SUSPENSION_REASONS
from web.errors import apply, classify
from web.pages import Pages

Reader = Callable[..., "defer.Deferred[Any]"]


class Portal:
    """The portal of the org ``slug``, built per request with the services."""

    app = Klein()

    def __init__(self, read: Reader, pages: Pages, slug: str):
        self.read = read
        self.pages = pages
        self.slug = slug
        self.org: orgs.Org | None = None
        self.looked_up = False

    @defer.inlineCallbacks
    def _org(self) -> Generator[Any, Any, orgs.Org]:
        """This portal's org; NotFound if no org has the slug."""
        if self.org is None:
            self.org = yield self.read(orgs.get_by_slug, self.slug)
            self.looked_up = True
            if self.org is None:
                raise NotFound("org", self.slug)
        return self.org

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def index(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The portal's start page."""
        org = yield self._org()
        return self.pages.render(request, "portal/index.html", brand=org.name)

    @app.route("/suspended", methods=["GET"])
    @defer.inlineCallbacks
    def suspended(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Where the walled garden sends a suspended login: the org's name and,
        for a known ``?reason=`` code, why."""
        org = yield self._org()
        code = request.args.get(b"reason", [b""])[0].decode("utf-8", "replace")
        return self.pages.render(request, "portal/suspended.html", brand=org.name,
                                 reason=SUSPENSION_REASONS.get(code))

    @app.handle_errors(Exception)
    @defer.inlineCallbacks
    def error(self, request: IRequest, failure: Failure) -> Generator[Any, Any, bytes]:
        """The one place the portal turns exceptions into pages; branded with
        the org when there is one."""
        err = classify(failure, request)
        apply(request, err)
        if not self.looked_up:
            # Branding only: if the org cannot be read, the page goes out unbranded.
            yield self._org().addErrback(lambda _: None)
        back = f"{self.slug}/portal/" if self.org is not None else ""
        return self.pages.error(request, err, self.org.name if self.org else "aaad", back)
