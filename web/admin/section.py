"""A section of the admin console: a group of pages under ``/admin/<segment>/...`` with its own Klein app.

The console (:class:`web.admin.app.Console`) owns the session, the sign-in and the error page; a section
owns its routes and templates and reaches everything else through the console::

    class Customers(Section):
        app = Klein()
        paths = ("customers",)
        nav = (Nav("customers", "Customers", "customers.read"),)
        lists = frozenset({"customers"})

        @app.route("/customers/<int:customer_id>", methods=["GET"])
        @defer.inlineCallbacks
        def customer(self, request, customer_id):
            who = yield self.require(request, "customers.read")
            ...

Routes name the whole path (the segment the console matched is put back in front).  A section is built
per request, ``Section(console)``, and listed in :data:`web.admin.sections.SECTIONS`.  Every exception a
route raises reaches the console's one error handler: :class:`aaad.authz.Forbidden` gives the 403 page
naming the permission, :class:`aaad.errors.NotFound` the 404 page, a missing CSRF token 403.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from klein import Klein
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from web import forms
from web.errors import set_header
from web.pages import remount

if TYPE_CHECKING:
    from web.admin.app import Console, Who


@dataclass(frozen=True)
class Nav:
    """A menu entry: ``href`` relative to /admin/, its label, and the permission that shows it."""
    href: str
    label: str
    permission: str


class Section:
    """The base of a console section (see the module's docs)."""

    app: ClassVar[Klein]
    #: the first path segments under /admin/ this section serves
    paths: ClassVar[tuple[str, ...]] = ()
    #: its menu entries
    nav: ClassVar[tuple[Nav, ...]] = ()
    #: the dashboard figures' lists it shows at /admin/<list>?<filter>
    lists: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "app" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} needs its own app = Klein()")
        cls.app.handle_errors(Exception)(Section._error)

    def __init__(self, console: Console):
        self.console = console
        self.deps = console.deps

    def resource(self) -> IResource:
        """The section's pages, seeing the whole path after /admin/."""
        return remount(cast(IResource, self.app.resource()))

    def _error(self, request: IRequest, failure: Failure) -> bytes:
        return cast(bytes, self.console.error(request, failure))

    # -- what the console does for its sections ---------------------------------------------------

    def now(self) -> datetime:
        return self.console._now()

    def require(self, request: IRequest, permission: str | None = None) -> defer.Deferred[Who]:
        """The signed-in account acting on an org (else a redirect to the sign-in); with ``permission``,
        the 403 page unless its role has it."""
        return self.console.require(request, permission)

    def read(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> defer.Deferred[Any]:
        """``fn(conn, *args, **kw)`` in a read transaction."""
        return self.console.read(fn, *args, **kw)

    def write(self, request: IRequest, who: Who, permission: str | None, fn: Callable[..., Any], *args: Any,
              target: str, before: Any = None, after: Callable[[Any], Any] | None = None,
              **kw: Any) -> defer.Deferred[Any]:
        """``fn(conn, *args, **kw)`` and its audit entry in one transaction, after the role check."""
        return self.console.write(request, who, permission, fn, *args, target=target, before=before,
                                  after=after, **kw)

    @staticmethod
    def check_csrf(request: IRequest, who: Who) -> None:
        forms.check_csrf(request, who.session.csrf)

    def render(self, request: IRequest, template: str, who: Who, **context: Any) -> bytes:
        return self.console.render(request, template, who, **context)

    @staticmethod
    def download(request: IRequest, body: bytes, content_type: str, filename: str, *, inline: bool = False) -> bytes:
        """A file as the answer (a PDF to show, a CSV to save), never cached."""
        set_header(request, "Content-Type", content_type)
        set_header(request, "Content-Disposition", f'{"inline" if inline else "attachment"}; filename="{filename}"')
        set_header(request, "Cache-Control", "no-store")
        return body

    def see_other(self, request: IRequest, location: str) -> bytes:
        return self.console._see_other(request, location)

    def base(self, request: IRequest) -> str:
        """The console's start page relative to the request's page: links are ``base + "customers/12"``."""
        return self.console.base(request)
