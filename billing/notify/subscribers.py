"""Event messages: what each event decides, as outbox rows (see :mod:`billing.notify.outbox`).

Each function runs as the ``notify`` subscriber on the writer, in the transaction
that advances its delivery position, and writes the message rows there; the
draft key is the event's id, so a redelivered event writes nothing new.  The
variables are the facts at that moment (the balance after this payment), money
and dates formatted for the org's locale.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.events import Event
from aaad.view import store as view_store
from accounting.events import QuotaExceeded
from billing import catalogue, invoices, ledger, payments, services
from billing.documents import format_day, format_money
from billing.events import (
    CustomerCreated,
    InvoiceIssued,
    PaymentReceived,
    ServiceActivated,
    ServicePlanChanged,
    ServiceResumed,
    ServiceSuspended,
)
from billing.notify import outbox
from billing.notify.outbox import Draft, OrgFacts
from billing.orders.notices import OrderNotices
from billing.schema import services as svc_t
from billing.signup.notices import RegistrationNotices

Handler = Callable[[Connection, Event], None]


def fmt_bytes(n: int) -> str:
    """Octets as people read them: 1.5 GB, 40 GB, 512 MB (decimal units, as ISPs sell them)."""
    for unit, size in (("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v >= 100 or v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


class Subscribers:
    """The notify subscriber's handlers, bound to the daemon's key and public address."""

    def __init__(self, box: SecretBox, base_url: Callable[[], str] = lambda: ""):
        self.box = box
        self.base_url = base_url

    def handlers(self) -> list[tuple[str, Handler]]:
        return [
            ("customer.created", self.on_customer_created),
            ("invoice.issued", self.on_invoice_issued),
            ("payment.received", self.on_payment_received),
            ("service.activated", self.on_service_activated),
            ("service.suspended", self.on_service_suspended),
            ("service.resumed", self.on_service_resumed),
            ("service.plan_changed", self.on_plan_changed),
            ("usage.quota_exceeded", self.on_quota_exceeded),
            ("usage.quota_warning", self.on_quota_warning),
            *RegistrationNotices(self.box, self.base_url).handlers(),
            *OrderNotices(self.box, self.base_url).handlers(),
        ]

    def _queue(self, conn: Connection, ev: Event, drafts: list[Draft], facts: OrgFacts | None = None) -> None:
        assert ev.created_at is not None, "events come from the outbox with their time"
        outbox.queue(conn, self.box, ev.org_id, drafts, ev.created_at.astimezone(UTC),
                     facts=facts or self._facts(conn, ev.org_id))

    def _facts(self, conn: Connection, org_id: int) -> OrgFacts:
        return outbox.org_facts(conn, org_id, self.base_url())

    def on_customer_created(self, conn: Connection, ev: Event) -> None:
        p: CustomerCreated = ev.payload
        if outbox.has_kind(conn, ev.org_id, p.customer_id, "customer.credentials"):
            return      # the operator sent the login details: that e-mail is the welcome (billing.customer_accounts)
        self._queue(conn, ev, [Draft("customer.welcome", f"ev:{ev.id}", p.customer_id, event_id=ev.id)])

    def on_invoice_issued(self, conn: Connection, ev: Event) -> None:
        p: InvoiceIssued = ev.payload
        inv = invoices.get(conn, ev.org_id, p.invoice_id)
        if inv is None:
            return
        f = self._facts(conn, ev.org_id)
        inv_vars = invoice_fields(inv.number, inv.total, inv.open_amount, inv.currency, inv.due_date,
                                  inv.issue_date, f.locale)
        self._queue(conn, ev, [Draft("invoice.issued", f"ev:{ev.id}", inv.customer_id, {"invoice": inv_vars},
                                     attachments=({"doc": "invoice", "id": inv.id},), event_id=ev.id)], f)

    def on_payment_received(self, conn: Connection, ev: Event) -> None:
        p: PaymentReceived = ev.payload
        pay = payments.get(conn, ev.org_id, p.payment_id)
        if pay is None:
            return
        f = self._facts(conn, ev.org_id)
        bal = ledger.balance(conn, ev.org_id, pay.customer_id)
        v = {"payment": {"amount": format_money(pay.amount, pay.currency, f.locale), "method": pay.method,
                         "receipt_number": pay.receipt_number,
                         "date": format_day(pay.received_at.astimezone(_zone(f)).date(), f.locale)},
             "balance": format_money(bal, f.currency, f.locale), "balance_due": bal > 0}
        self._queue(conn, ev, [Draft("payment.received", f"ev:{ev.id}", pay.customer_id, v,
                                     attachments=({"doc": "receipt", "id": pay.id},), event_id=ev.id)], f)

    def _service(self, conn: Connection, org_id: int, service_id: int,
                 f: OrgFacts) -> tuple[dict[str, Any], int | None] | None:
        """The ``service`` variable, and the service's login id (None: no service, or no login)."""
        s = services.get(conn, org_id, service_id)
        if s is None:
            return None
        prod = catalogue.get_product(conn, org_id, s.product_id)
        return ({"product": prod.name if prod else "", "username": s.username or "",
                 "start_date": format_day(s.start_date, f.locale)}, s.login_id)

    def on_service_activated(self, conn: Connection, ev: Event) -> None:
        p: ServiceActivated = ev.payload
        f = self._facts(conn, ev.org_id)
        found = self._service(conn, ev.org_id, p.service_id, f)
        if found is None:
            return
        sv, login_id = found
        secrets: dict[str, str] = {}
        if login_id is not None:
            login = view_store.get_login(conn, self.box, ev.org_id, login_id)
            if login is not None:
                secrets["password"] = login.password.decode("utf-8", "replace")
        if not secrets:
            sv["username"] = ""
        self._queue(conn, ev, [Draft("service.activated", f"ev:{ev.id}", p.customer_id, {"service": sv},
                                     secrets or {"password": ""}, event_id=ev.id)], f)

    def on_service_suspended(self, conn: Connection, ev: Event) -> None:
        p: ServiceSuspended = ev.payload
        f = self._facts(conn, ev.org_id)
        found = self._service(conn, ev.org_id, p.service_id, f)
        if found is None:
            return
        sv = found[0]
        bal = ledger.balance(conn, ev.org_id, p.customer_id)
        v = {"service": sv, "reason": p.reason or "suspended",
             "amount_due": format_money(bal, f.currency, f.locale) if bal > 0 else ""}
        self._queue(conn, ev, [Draft("service.suspended", f"ev:{ev.id}", p.customer_id, v, event_id=ev.id)], f)

    def on_service_resumed(self, conn: Connection, ev: Event) -> None:
        p: ServiceResumed = ev.payload
        f = self._facts(conn, ev.org_id)
        found = self._service(conn, ev.org_id, p.service_id, f)
        if found is None:
            return
        sv = found[0]
        self._queue(conn, ev, [Draft("service.resumed", f"ev:{ev.id}", p.customer_id, {"service": sv},
                                     event_id=ev.id)], f)

    def on_plan_changed(self, conn: Connection, ev: Event) -> None:
        p: ServicePlanChanged = ev.payload
        f = self._facts(conn, ev.org_id)
        found = self._service(conn, ev.org_id, p.service_id, f)
        if found is None:
            return
        sv = found[0]
        old = catalogue.get_product(conn, ev.org_id, p.old_product_id) if p.old_product_id else None
        sv["old_product"] = old.name if old else ""
        self._queue(conn, ev, [Draft("service.plan_changed", f"ev:{ev.id}", p.customer_id, {"service": sv},
                                     event_id=ev.id)], f)

    def _cap(self, conn: Connection, ev: Event, login_id: int, used: int, cap: int, cycle_start: str,
             percent: int) -> None:
        row = conn.execute(sa.select(svc_t.c.customer_id).where(svc_t.c.org_id == ev.org_id,
                                                                svc_t.c.login_id == login_id)
                           .order_by(svc_t.c.id.desc()).limit(1)).first()
        if row is None:
            return
        f = self._facts(conn, ev.org_id)
        start = datetime.fromisoformat(cycle_start)
        v = {"usage": {"percent": percent, "used": fmt_bytes(used), "cap": fmt_bytes(cap),
                       "cycle_start": format_day(start.astimezone(_zone(f)).date(), f.locale)}}
        # one per login, cycle and threshold, whichever event brought it
        key = f"cap:{login_id}:{cycle_start[:19]}:{percent}"
        self._queue(conn, ev, [Draft("usage.cap_warning", key, row.customer_id, v, event_id=ev.id)], f)

    def on_quota_exceeded(self, conn: Connection, ev: Event) -> None:
        p: QuotaExceeded = ev.payload
        self._cap(conn, ev, p.login_id, p.used, p.cap, p.cycle_start, 100)

    def on_quota_warning(self, conn: Connection, ev: Event) -> None:
        p = ev.payload
        self._cap(conn, ev, p.login_id, p.used, p.cap, p.cycle_start, p.percent)


def invoice_fields(number: str | None, total: int, open_amount: int, currency: str, due: date, issued: date,
                   locale: str) -> dict[str, Any]:
    """An invoice as templates see it (the ``invoice`` variable), money and dates formatted."""
    return {"number": number or "", "total": format_money(total, currency, locale),
            "amount_due": format_money(open_amount, currency, locale),
            "due_date": format_day(due, locale), "issue_date": format_day(issued, locale)}


def _zone(f: OrgFacts) -> ZoneInfo:
    return ZoneInfo(f.timezone)
