"""Builders for part (b)'s tests: an org with billing settings, products with
discount rules, customers and services inserted straight into billing's tables
(the services functions of part (a) are not needed to test the money side)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from aaad import orgs
from billing import settings
from billing.schema import customers, discounts, products, services

T0 = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)


def at(d: date, hour: int = 9) -> datetime:
    """A UTC instant on local date ``d`` (the test orgs are in UTC)."""
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


@dataclass
class World:
    engine: Any
    org_id: int

    def tx(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.begin() as c:
            return fn(c, *a, **kw)

    def product(self, name: str, price: int, *, period: str = "monthly", period_days: int | None = None,
                setup_fee: int = 0, taxable: bool = True, rules: tuple[dict[str, Any], ...] = ()) -> int:
        with self.engine.begin() as c:
            pid = c.execute(products.insert().values(
                org_id=self.org_id, name=name, type="internet" if period != "once" else "one_time", price=price,
                taxable=taxable, period=period, period_days=period_days, setup_fee=setup_fee, created_at=T0,
                updated_at=T0)).inserted_primary_key[0]
            for r in rules:
                c.execute(discounts.insert().values(org_id=self.org_id, product_id=pid, created_at=T0, **r))
        return int(pid)

    def customer(self, name: str) -> int:
        with self.engine.begin() as c:
            return int(c.execute(customers.insert().values(
                org_id=self.org_id, username=name.lower().replace(" ", "-"), name=name, status="active",
                created_at=T0, updated_at=T0)).inserted_primary_key[0])

    def service(self, customer_id: int, product_id: int, start: date | None, *, state: str = "active",
                activate: bool = True, now: datetime | None = None) -> int:
        """A service row (active from ``start``); ``activate`` runs the activation hook."""
        from billing import charges
        with self.engine.begin() as c:
            sid = int(c.execute(services.insert().values(
                org_id=self.org_id, customer_id=customer_id, product_id=product_id, state=state,
                start_date=start, created_at=T0, updated_at=T0)).inserted_primary_key[0])
            if activate and start is not None:
                charges.on_activate(c, self.org_id, svc(c, self.org_id, sid), now or at(start))
        return sid

    def set_service(self, service_id: int, **values: Any) -> Any:
        with self.engine.begin() as c:
            c.execute(services.update().where(services.c.id == service_id).values(**values))
            return svc(c, self.org_id, service_id)

    def svc(self, service_id: int) -> Any:
        with self.engine.connect() as c:
            return svc(c, self.org_id, service_id)


def svc(conn: Any, org_id: int, service_id: int) -> Any:
    return conn.execute(sa.select(services).where(services.c.org_id == org_id, services.c.id == service_id)).one()


def world(engine: Any, slug: str = "isp", **st: Any) -> World:
    """An org (UTC, USD) with these billing settings (billing day 1, VAT 0 unless said)."""
    with engine.begin() as c:
        o = orgs.add(c, slug, slug.upper(), T0)
        settings.update(c, o.id, T0, **st)
    return World(engine, o.id)


def pay(conn: Any, org_id: int, customer_id: int, amount: int, now: datetime) -> None:
    """A bank payment through part (c)'s billing.payments: allocated to the oldest open
    invoices, the rest customer credit."""
    from aaad.crypto import SecretBox
    from aaad.view.write import LoginWriter
    from billing import payments
    payments.record(conn, LoginWriter(SecretBox(b"k" * 32)), org_id, customer_id, amount, now, method="bank",
                    reference=f"test-{next(_REFS)}")


_REFS = itertools.count(1)


def invoice(conn: Any, org_id: int, invoice_id: int) -> Any:
    """An invoice that must exist (billing.invoices.get)."""
    from billing import invoices
    inv = invoices.get(conn, org_id, invoice_id)
    assert inv is not None
    return inv


def note(conn: Any, org_id: int, credit_note_id: int) -> Any:
    """A credit note that must exist (billing.credit_notes.get)."""
    from billing import credit_notes
    cn = credit_notes.get(conn, org_id, credit_note_id)
    assert cn is not None
    return cn
