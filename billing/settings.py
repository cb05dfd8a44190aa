"""Per-org billing settings (the ``billing_settings`` table, keyed by aaad's ``orgs``).

An org without a row has the defaults; the first write creates the row.
Document numbers (invoices, credit notes, receipts) are allocated here,
gap-free: the counter is incremented in the transaction that uses the
number, so a rolled-back invoice gives its number back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import orgs
from aaad.errors import NotFound, ValidationError
from billing.schema import billing_settings


@dataclass(frozen=True)
class Settings:
    org_id: int
    currency: str               # from the org
    timezone: str               # from the org
    country: str = "US"
    vat_bp: int = 0
    prices_include_vat: bool = False
    billing_day: int = 1
    payment_terms_days: int = 14
    grace_days: int = 3
    suspend_mode: str = "reject"
    auto_resume: bool = True
    invoice_prefix: str = "INV-"
    credit_note_prefix: str = "CN-"
    receipt_prefix: str = "RC-"
    brand_name: str | None = None
    brand_logo: str | None = None
    brand_colour: str | None = None
    brand_address: str | None = None
    brand_tax_id: str | None = None
    locale: str = "en_US"
    hotspot_login_url: str = "http://hotspot.lan/login"     # voucher cards' QR codes open it

    def today(self, now: datetime) -> date:
        """The org's local calendar date at the UTC instant ``now``."""
        return now.astimezone(ZoneInfo(self.timezone)).date()


#: What ``update`` accepts (everything but the org's own currency and time zone).
EDITABLE = tuple(f.name for f in fields(Settings) if f.name not in ("org_id", "currency", "timezone"))
_COUNTERS = {"invoice": "next_invoice_no", "credit_note": "next_credit_note_no", "receipt": "next_receipt_no"}
_PREFIX = {"invoice": "invoice_prefix", "credit_note": "credit_note_prefix", "receipt": "receipt_prefix"}


def get(conn: Connection, org_id: int) -> Settings:
    """The org's billing settings (defaults if it never set any).  NotFound if no such org."""
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    r = conn.execute(sa.select(billing_settings).where(billing_settings.c.org_id == org_id)).first()
    extra = {k: getattr(r, k) for k in EDITABLE} if r is not None else {}
    return Settings(org_id=org_id, currency=org.currency, timezone=org.timezone, **extra)


def check(values: dict[str, Any]) -> None:
    """ValidationError naming the first bad key."""
    for k, v in values.items():
        if k not in EDITABLE:
            raise ValidationError(k, "not a billing setting")
        if k == "country":
            if not isinstance(v, str) or v.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ValidationError(k, "a two-letter country code (ISO 3166), e.g. GH")
        elif k == "vat_bp":
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 10_000:
                raise ValidationError(k, "basis points from 0 to 10000 (1500 = 15 %)")
        elif k == "billing_day":
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 28:
                raise ValidationError(k, "a day of the month from 1 to 28")
        elif k in ("payment_terms_days", "grace_days"):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 365:
                raise ValidationError(k, "a number of days from 0 to 365")
        elif k == "suspend_mode":
            if v not in ("reject", "walled_garden"):
                raise ValidationError(k, "reject or walled_garden")
        elif k in ("prices_include_vat", "auto_resume"):
            if not isinstance(v, bool):
                raise ValidationError(k, "true or false")
        elif k in ("invoice_prefix", "credit_note_prefix", "receipt_prefix"):
            if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9/_.-]{0,20}", v):
                raise ValidationError(k, "up to 20 letters, digits or - _ . /")
        elif k == "brand_colour":
            if v is not None and (not isinstance(v, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", v)):
                raise ValidationError(k, "a colour like #0a7cff")
        elif k == "hotspot_login_url":
            if not isinstance(v, str) or not re.fullmatch(r"https?://[^\s?#]{1,480}", v):
                raise ValidationError(k, "an http:// or https:// URL without a query, e.g. http://hotspot.lan/login")
        elif k == "locale":
            from babel import Locale, UnknownLocaleError
            try:
                Locale.parse(v)
            except (ValueError, TypeError, UnknownLocaleError):
                raise ValidationError(k, "a locale like en_US or fr_FR") from None
        elif v is not None and not isinstance(v, str):
            raise ValidationError(k, "text")


def _ensure_row(conn: Connection, org_id: int, now: datetime) -> None:
    if conn.execute(sa.select(billing_settings.c.org_id).where(billing_settings.c.org_id == org_id)).first():
        return
    if orgs.get(conn, org_id) is None:
        raise NotFound("org", org_id)
    conn.execute(billing_settings.insert().values(org_id=org_id, updated_at=now))


def update(conn: Connection, org_id: int, now: datetime, **values: Any) -> Settings:
    """Change some settings (validated all together first)."""
    if "country" in values and isinstance(values["country"], str):
        values["country"] = values["country"].upper()
    check(values)
    _ensure_row(conn, org_id, now)
    if values:
        conn.execute(billing_settings.update().where(billing_settings.c.org_id == org_id)
                     .values(updated_at=now, **values))
    return get(conn, org_id)


def next_numbers(conn: Connection, org_id: int, which: str, n: int, now: datetime) -> list[tuple[int, str]]:
    """``n`` consecutive numbers at once (see :func:`next_number`): a batch of invoices."""
    col = billing_settings.c[_COUNTERS[which]]
    _ensure_row(conn, org_id, now)
    conn.execute(billing_settings.update().where(billing_settings.c.org_id == org_id).values({col: col + n}))
    r = conn.execute(sa.select(col, billing_settings.c[_PREFIX[which]])
                     .where(billing_settings.c.org_id == org_id)).one()
    first = int(r[0]) - n
    return [(seq, f"{r[1]}{seq:06d}") for seq in range(first, first + n)]


def next_number(conn: Connection, org_id: int, which: str, now: datetime) -> tuple[int, str]:
    """Allocate the next ``invoice``, ``credit_note`` or ``receipt`` number in the
    caller's transaction: (sequence, printed number).  Gap-free: the counter row is
    locked by the UPDATE until the transaction ends, and rolls back with it."""
    col = billing_settings.c[_COUNTERS[which]]
    _ensure_row(conn, org_id, now)
    conn.execute(billing_settings.update().where(billing_settings.c.org_id == org_id).values({col: col + 1}))
    r = conn.execute(sa.select(col, billing_settings.c[_PREFIX[which]])
                     .where(billing_settings.c.org_id == org_id)).one()
    seq = int(r[0]) - 1
    return seq, f"{r[1]}{seq:06d}"
