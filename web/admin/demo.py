"""The console's demo accounts (``aaad demo``): an owner and a cashier of the demo org, without two-factor
login, so a first look needs no phone.  Idempotent: an existing account is left as it is."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.engine import Engine

from aaad import orgs
from web.admin import accounts

ORG = "demo"
PEOPLE = (("owner@demo.example", "Demo Owner", "owner", "owner-pass"),
          ("cashier@demo.example", "Demo Cashier", "cashier", "cashier-pass"))


def seed(engine: Engine, now: datetime) -> Iterator[str]:
    """Add the demo org's console accounts; a line for each to print."""
    with engine.begin() as conn:
        org = orgs.get_by_slug(conn, ORG)
        if org is None:
            return
        for email, name, role, password in PEOPLE:
            if accounts.find(conn, org.id, email) is None:
                accounts.add(conn, org.id, email, name, role, password, now)
            yield f"console /admin/login: {email} / {password} ({role}, no two-factor login yet)"
