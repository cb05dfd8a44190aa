"""Builders for part (c)'s tests (payments, refunds, dunning, reports, timeline):
an org (Africa/Accra, GHS, VAT 15 %), customers inserted directly, invoices
issued through billing.invoices.issue, each in its own transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.schema import events as events_t
from aaad.view import store
from aaad.view.model import Login
from aaad.view.write import LoginWriter
from billing import catalogue, invoices, ledger, payments, services, settings
from billing.invoices import LineIn
from billing.schema import customers

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
D0 = date(2026, 11, 1)


def at(day: date, hour: int = 9) -> datetime:
    """A UTC instant on a local date (Accra is UTC+0)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class World:
    engine: Any
    org_id: int
    writer: LoginWriter
    box: SecretBox

    def tx(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.begin() as c:
            return fn(c, *a, **kw)

    def read(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.connect() as c:
            return fn(c, *a, **kw)

    def customer(self, username: str = "john-doe-1", name: str = "John Doe") -> int:
        with self.engine.begin() as c:
            key = c.execute(customers.insert().values(org_id=self.org_id, username=username, name=name,
                                                      status="active", created_at=T0,
                                                      updated_at=T0)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def internet_product(self, name: str = "Home 10M") -> int:
        """An internet product that costs nothing by itself (the tests issue their own invoices)."""
        p = self.tx(catalogue.add_product, self.writer, self.org_id, T0, name=name, type="internet", price=0,
                    rate_limit="10M/10M")
        return int(p.id)

    def subscriber(self, username: str, product_id: int, start: date = D0) -> tuple[int, int]:
        """A customer (row inserted directly) with an internet service active from ``start``:
        (customer id, service id)."""
        cid = self.customer(username, username.title())
        svc = self.tx(services.add, self.writer, self.org_id, cid, product_id, at(start), start=start,
                      username=username, password="pw")
        return cid, int(svc.id)

    def service(self, service_id: int) -> services.Service:
        svc = self.read(services.get, self.org_id, service_id)
        assert svc is not None
        return svc

    def login_of(self, service_id: int) -> Login:
        lg = self.read(store.get_login, self.box, self.org_id, self.service(service_id).login_id)
        assert lg is not None
        return lg

    def invoice(self, customer_id: int, net: int, day: date = D0, *, taxable: bool = False,
                due: date | None = None) -> invoices.Invoice:
        """An invoice of one line of ``net`` (VAT-exempt unless ``taxable``)."""
        return self.tx(invoices.issue, self.org_id, customer_id,
                       [LineIn("Home 10M", net, taxable=taxable)], day, at(day), due_date=due)

    def pay(self, customer_id: int, amount: int, reference: str, *, method: str = "bank",
            now: datetime = T0, **kw: Any) -> payments.PaymentResult:
        return self.tx(payments.record, self.writer, self.org_id, customer_id, amount, now,
                       method=method, reference=reference, **kw)

    def refund(self, customer_id: int, amount: int, *, method: str = "cash", now: datetime = T0,
               reason: str = "moving away") -> payments.Refund:
        return self.tx(payments.refund, self.org_id, customer_id, amount, now, method=method, reason=reason)

    def balance(self, customer_id: int) -> int:
        return int(self.read(ledger.balance, self.org_id, customer_id))

    def credit(self, customer_id: int) -> int:
        return int(self.read(ledger.credit_available, self.org_id, customer_id))

    def get_invoice(self, invoice_id: int) -> invoices.Invoice:
        inv = self.read(invoices.get, self.org_id, invoice_id)
        assert inv is not None
        return inv

    def check(self) -> list[ledger.Problem]:
        return self.read(ledger.check, self.org_id)

    def event_payloads(self, type_: str) -> list[dict[str, Any]]:
        import json
        with self.engine.connect() as c:
            rows = c.execute(sa.select(events_t.c.payload).where(events_t.c.org_id == self.org_id,
                                                                 events_t.c.type == type_)
                             .order_by(events_t.c.id))
            return [json.loads(r.payload) for r in rows]


def make_world(engine: Any, slug: str = "isp", **st: Any) -> World:
    """An org in Accra (UTC+0, GHS), VAT 15 % exclusive, 14 days to pay, 3 days' grace."""
    box = SecretBox(b"k" * 32)
    with engine.begin() as c:
        o = orgs.add(c, slug, slug.upper(), T0, "Africa/Accra", "GHS")
        settings.update(c, o.id, T0, country="GH", vat_bp=1500, **st)
    return World(engine, o.id, LoginWriter(box), box)


def days(n: int) -> timedelta:
    return timedelta(days=n)
