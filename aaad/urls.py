"""The web side's public addresses, for every layer that puts them in front
of customers or routers: messages, QR codes, the walled garden's redirect.

The paths here are fixed (the web root serves them); the base is
``[web] public_url``, or derived from the listener when that is empty.
aaad cannot import web, so the URLs enforcement and billing need are built
here and the web root mounts its routes at the same paths.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from aaad.config import WebConfig

# Why a login was suspended, as the walled garden's redirect says it
# (``?reason=CODE``).  Only these codes are shown: free text in a URL would
# let anyone put their words on the operator's branded page.
SUSPENSION_REASONS: Mapping[str, str] = {
    "unpaid": "The account has an unpaid balance.",
    "quota": "The data quota for this period is used up.",
    "expired": "The subscription has expired.",
    "operator": "The service was suspended by the operator.",
}

_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}

#: The files of an org's MikroTik hotspot login pages (the router's ``hotspot`` HTML directory):
#: billing.vouchers.hotspot renders them, the portal serves each at :func:`hotspot_file_url`, and
#: ``aaad nas provision --hotspot`` has the router fetch them from there.
HOTSPOT_FILES = ("login.html", "alogin.html", "status.html", "logout.html", "error.html", "redirect.html",
                 "rlogin.html", "md5.js")


def local_url(web: WebConfig, bound_port: int | None = None) -> str:
    """``http://ADDRESS:PORT`` of the listener as this machine reaches it
    (loopback when it listens on every address); ``bound_port`` is the port
    actually bound, for ``port = 0``."""
    host = _WILDCARD.get(web.address, web.address)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{bound_port or web.port}"


def public_url(web: WebConfig, bound_port: int | None = None) -> str:
    """The effective public base URL, without a trailing slash: ``[web]
    public_url`` when set, otherwise :func:`local_url`."""
    if web.public_url:
        return web.public_url.rstrip("/")
    return local_url(web, bound_port)


def portal_url(base: str, slug: str, page: str = "") -> str:
    """The URL of a page of ``slug``'s portal (its start page by default)."""
    return f"{base.rstrip('/')}/{urllib.parse.quote(slug, safe='')}/portal/{page}"


def suspension_url(base: str, slug: str, reason: str | None = None) -> str:
    """Where the walled garden sends a suspended login of org ``slug``.

    ``reason`` is one of :data:`SUSPENSION_REASONS` (anything else is a
    programming error: a ValueError).
    """
    url = portal_url(base, slug, "suspended")
    if reason is None:
        return url
    if reason not in SUSPENSION_REASONS:
        raise ValueError(f"unknown suspension reason {reason!r}")
    return f"{url}?{urllib.parse.urlencode({'reason': reason})}"


def hotspot_file_url(base: str, slug: str, name: str) -> str:
    """Where a router fetches file ``name`` (one of :data:`HOTSPOT_FILES`) of ``slug``'s hotspot pages."""
    return portal_url(base, slug, f"hotspot/{name}")
