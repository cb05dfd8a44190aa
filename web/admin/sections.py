"""The console's sections (:class:`web.admin.section.Section`): the console serves ``/admin/<segment>/...``
from the one whose ``paths`` holds the segment, and builds its menu from their ``nav`` entries."""
from __future__ import annotations

from collections.abc import Callable

from web.admin.catalogue import Catalogue
from web.admin.customers import Customers
from web.admin.network import Network
from web.admin.queues import Queues
from web.admin.section import Nav, Section
from web.admin.settings import Settings
from web.admin.vouchers import Vouchers

SECTIONS: tuple[type[Section], ...] = (
    Customers,
    Queues,
    Vouchers,
    Catalogue,
    Network,
    Settings,
)


def by_path() -> dict[str, type[Section]]:
    """Each first path segment and the section serving it (a segment served twice is a bug)."""
    found: dict[str, type[Section]] = {}
    for s in SECTIONS:
        for p in s.paths:
            if p in found:
                raise RuntimeError(f"/admin/{p} is served by {found[p].__name__} and {s.__name__}")
            found[p] = s
    return found


def menu() -> tuple[Nav, ...]:
    """Every section's menu entries, in SECTIONS order."""
    return tuple(n for s in SECTIONS for n in s.nav)


def lists() -> frozenset[str]:
    """The dashboard figures' lists some section shows."""
    return frozenset().union(*(s.lists for s in SECTIONS))


def list_permission(name: str) -> str | None:
    """The permission a figure's list needs to be seen: that of the menu entry opening it (``nav`` href
    ``name`` or ``name?...``); None when no menu entry opens it."""
    for n in menu():
        if n.href.split("?", 1)[0] == name:
            return n.permission
    return None


def lists_for(can: Callable[[str], bool]) -> frozenset[str]:
    """The figures' lists a role may open (``can``: whether it has a permission): the dashboard links only
    these, so no figure leads to the 403 page."""
    return frozenset(name for name in lists() if (p := list_permission(name)) is None or can(p))
