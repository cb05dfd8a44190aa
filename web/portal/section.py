"""The base of the portal's page groups (payment, registration, sign-up, vouchers, the shop): each has its
own Klein app, mounted by the :class:`web.portal.app.Portal` under ``/<org>/portal/<segment>/``, and
shares the portal's visitor, rendering and errors."""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from klein import Klein
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from aaad.clock import utcnow
from web.errors import apply, classify
from web.pages import Pages, remount, root_prefix


class PortalPages:
    """A group of one org's portal pages (``portal``: the Portal or what stands in for it in tests)."""

    app: ClassVar[Klein]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "app" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} needs its own app = Klein()")
        cls.app.handle_errors(Exception)(PortalPages._error)

    def __init__(self, portal: Any, deps: Any, pages: Pages, org_slug: str):
        self.portal = portal
        self.deps = deps
        self.pages = pages
        self.org_slug = org_slug
        self.brand = org_slug

    def remounted(self) -> IResource:
        """The pages seeing the segment the Portal matched in front of their paths (routes name whole
        paths: ``/products/<id>``)."""
        return remount(cast(IResource, self.app.resource()))

    def _now(self) -> datetime:
        return utcnow(self.deps.clock)

    def _base(self, request: IRequest) -> str:
        """The portal's start page, relative to this page."""
        return f"{root_prefix(request)}{self.org_slug}/portal/"

    def _error(self, request: IRequest, failure: Failure) -> Any:
        """Errors as the portal shows them: the Portal's own handler when it has one (its sign-in redirect,
        CSRF 403, branding), else a page branded with the org; never a stack trace."""
        portal_error = getattr(self.portal, "error", None)
        if callable(portal_error):
            return portal_error(request, failure)
        err = classify(failure, request)
        apply(request, err)
        if err.status in (301, 302, 303, 307, 308):
            return b""
        return self.pages.error(request, err, self.brand, f"{self.org_slug}/portal/")
