"""Builders for the documents tests: an org with branding, customers, invoices, credit notes
and payments written directly (the documents only read them)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Connection

from aaad import orgs
from billing import invoices, settings
from billing.invoices import LineIn
from billing.schema import allocations, credit_note_lines, credit_notes, customers, payments
from billing.schema import invoices as invoices_t

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LOGO = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@dataclass(frozen=True)
class Shop:
    org_id: int
    customer_id: int


def make_org(conn: Connection, slug: str = "isp", *, currency: str = "USD", locale: str = "en_US",
             tz: str = "UTC", vat_bp: int = 1500, **branding: Any) -> int:
    o = orgs.add(conn, slug, f"{slug.upper()} Networks Ltd", T0, tz, currency)
    values: dict[str, Any] = {"locale": locale, "vat_bp": vat_bp, "brand_name": "Skyline Fibre",
                              "brand_colour": "#0a7cff", "brand_address": "12 Ring Road\nAccra",
                              "brand_tax_id": "TIN-C0001234", "brand_logo": LOGO}
    values.update(branding)
    settings.update(conn, o.id, T0, **values)
    return o.id


def add_customer(conn: Connection, org_id: int, name: str = "Ama Mensah", username: str = "ama-mensah-1001",
                 address: str | None = "4 Palm Street\nOsu") -> int:
    key = conn.execute(customers.insert().values(
        org_id=org_id, username=username, name=name, email=f"{username}@example.com", address=address,
        status="active", created_at=T0, updated_at=T0)).inserted_primary_key
    assert key is not None
    return int(key[0])


def shop(conn: Connection, slug: str = "isp", **kw: Any) -> Shop:
    org_id = make_org(conn, slug, **kw)
    return Shop(org_id, add_customer(conn, org_id))


def invoice(conn: Connection, s: Shop, lines: list[LineIn] | None = None,
            issue_date: date = date(2026, 3, 1)) -> invoices.Invoice:
    lines = lines or [
        LineIn("Fibre 50M", 100_000, kind="recurring", period_start=date(2026, 3, 1),
               period_end=date(2026, 4, 1), discount=5_000),
        LineIn("Router rental", 1_500, quantity=3),
        LineIn("Installation (VAT exempt)", 9_950, taxable=False),
    ]
    return invoices.issue(conn, s.org_id, s.customer_id, lines, issue_date, T0)


def credit_note(conn: Connection, s: Shop, invoice_id: int | None, number: str = "CN-000001",
                net: int = 43_333, vat_bp: int = 1500, reason: str = "13 unused days") -> int:
    vat = net * vat_bp // 10_000
    key = conn.execute(credit_notes.insert().values(
        org_id=s.org_id, customer_id=s.customer_id, invoice_id=invoice_id, seq=1, number=number,
        kind="unused_days", reason=reason, issue_date=date(2026, 3, 14), currency=_currency(conn, s),
        subtotal=net, vat=vat, total=net + vat, created_at=T0)).inserted_primary_key
    assert key is not None
    cn_id = int(key[0])
    conn.execute(credit_note_lines.insert().values(
        org_id=s.org_id, credit_note_id=cn_id, service_id=None, kind="unused_days",
        period_start=date(2026, 3, 1), period_end=date(2026, 3, 14), description="Fibre 50M, unused days",
        net=net, vat_bp=vat_bp, vat=vat, total=net + vat))
    return cn_id


def payment(conn: Connection, s: Shop, amount: int, settles: list[tuple[int, int]],
            receipt: str = "RC-000001", method: str = "mobile_money", reference: str = "MM-778812") -> int:
    """A payment row and its allocations ``[(invoice_id, amount)]`` (the rest is customer credit)."""
    key = conn.execute(payments.insert().values(
        org_id=s.org_id, customer_id=s.customer_id, amount=amount, currency=_currency(conn, s), method=method,
        reference=reference, receipt_seq=int(receipt.rsplit("-", 1)[1]), receipt_number=receipt,
        note="paid at the office", received_at=T0, created_at=T0)).inserted_primary_key
    assert key is not None
    pid = int(key[0])
    for inv_id, amt in settles:
        conn.execute(allocations.insert().values(org_id=s.org_id, invoice_id=inv_id, customer_id=s.customer_id,
                                                 source="payment", source_id=pid, amount=amt, created_at=T0))
        conn.execute(invoices_t.update().where(invoices_t.c.id == inv_id)
                     .values(paid=invoices_t.c.paid + amt))
        conn.execute(invoices_t.update().where(invoices_t.c.id == inv_id, invoices_t.c.paid == invoices_t.c.total)
                     .values(state="paid", paid_at=T0))
    return pid


def _currency(conn: Connection, s: Shop) -> str:
    return settings.get(conn, s.org_id).currency
