"""STAND-IN for C2's billing.console.figures (same shape, every figure 0): deleted when billing/console.py
is on main."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Connection

from aaad import orgs
from aaad.errors import NotFound


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    count: int
    amount: int | None
    list: str
    filter: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Figures:
    org_id: int
    currency: str
    timezone: str
    today: date
    figures: tuple[Figure, ...]

    def all(self) -> list[Figure]:
        return list(self.figures)


def figures(conn: Connection, org_id: int, now: datetime) -> Figures:
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    return Figures(org_id, org.currency, org.timezone, now.date(), (
        Figure("online_sessions", "Online now", 0, None, "sessions"),
        Figure("revenue_today", "Revenue today", 0, 0, "payments"),
        Figure("open_invoices", "Open invoices", 0, 0, "invoices", (("state", "open"),))))
