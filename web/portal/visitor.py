"""The seam between the portal's pages and its sessions: who is looking at a page.

:class:`Visitor` is what every portal page gets for a request: the org of the
URL, the signed-in customer (or None) and the CSRF token to put in its forms.
:class:`VisitorSource` is what the Portal offers pages built outside it (the
payment pages, ``web/portal/pay.py``): the visitor of a request, a visitor that
must be signed in (else a redirect to the login page, coming back after), and
the CSRF check every POST runs first (403 without a valid token).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import orgs

T = TypeVar("T")


@dataclass(frozen=True)
class Visitor:
    org: orgs.Org
    customer_id: int | None          # None: not signed in
    csrf: str                        # the token this visitor's forms carry (hidden field "csrf")
    session_id: str | None = None    # the session's public id (never the cookie's secret)

    @property
    def signed_in(self) -> bool:
        return self.customer_id is not None


class VisitorSource(Protocol):
    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> defer.Deferred[T]:
        """Run ``fn(conn, ...)`` on the portal's reader (``Database.portal_read``: threads at the
        daemon's priority, since a customer waits for each page)."""

    def visitor(self, request: IRequest) -> defer.Deferred[Visitor]:
        """The visitor of this request (a session cookie is set if it had none)."""

    def require_customer(self, request: IRequest) -> defer.Deferred[Visitor]:
        """The signed-in visitor; otherwise fails with a redirect to the login page (``?next=`` this page)."""

    def check_csrf(self, request: IRequest, visitor: Visitor) -> None:
        """Raise a 403 error unless the POSTed form's ``csrf`` field matches ``visitor.csrf``."""

    def sign_in(self, request: IRequest, visitor: Visitor, customer_id: int) -> defer.Deferred[Visitor]:
        """Sign the visitor in as ``customer_id`` (a customer the sign-up just created, whose
        password they typed): a new session replaces the visitor's, its cookie set.  The
        signed-in visitor (its new CSRF token for the next form)."""
