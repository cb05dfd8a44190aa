"""A batch's vouchers as CSV, and as a PDF sheet of printed cards in the org's branding.

Each card shows the code (and the password, unless the voucher is code-only),
the price, the limits and a QR code opening the org's hotspot login page with
the code filled in: ``{hotspot_login_url}?username=CODE`` (``&password=CODE``
too for a code-only voucher, so the page logs in by itself).  The QR code is an
PNG data URL drawn by segno; the PDF is WeasyPrint's rendering of the HTML page
(see :mod:`billing.documents`), fetching nothing.
"""
from __future__ import annotations

import csv
import io
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
from babel.dates import format_datetime
from sqlalchemy.engine import Connection

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.errors import NotFound
from billing import documents, settings
from billing.vouchers import batches
from billing.vouchers import vouchers as vouchers_mod
from billing.vouchers.vouchers import Voucher


def login_url(base: str, code: str, code_only: bool) -> str:
    """The hotspot login page with the code filled in (and the password, for a code-only voucher)."""
    q = {"username": code} | ({"password": code} if code_only else {})
    return base + ("&" if "?" in base else "?") + urllib.parse.urlencode(q)


def qr_data_url(url: str) -> str:
    """A QR code of ``url`` as a PNG ``data:`` URL, one pixel a module (error correction M, a quiet zone of
    2 modules): scaled up on the card without smoothing.  WeasyPrint draws a PNG several times faster than
    the same code as SVG paths (it counts on a sheet of a thousand cards)."""
    return str(segno.make(url, error="m", micro=False).png_data_uri(border=2, scale=1))


def duration_text(seconds: int) -> str:
    """``5400`` -> ``1 h 30 min``; whole days as ``2 days``."""
    if seconds % 86400 == 0:
        d = seconds // 86400
        return f"{d} day" + ("s" if d != 1 else "")
    h, rest = divmod(seconds, 3600)
    m = rest // 60
    parts = ([f"{h} h"] if h else []) + ([f"{m} min"] if m else [])
    return " ".join(parts) or f"{seconds} s"


def size_text(octets: int) -> str:
    """Octets in powers of 1000, as on the package: ``500000000`` -> ``500 MB``, ``1500000000`` -> ``1.5 GB``."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if octets >= size:
            v = octets / size
            return f"{v:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{octets} B"


def limits_text(v: Voucher, locale: str, tz: str) -> list[str]:
    """What a voucher gives, in a few words each (online time, data, validity)."""
    out = []
    if v.time_limit is not None:
        out.append(f"{duration_text(v.time_limit)} online")
    if v.data_limit is not None:
        out.append(f"{size_text(v.data_limit)} of data")
    if v.validity_seconds is not None:
        out.append(f"valid {duration_text(v.validity_seconds)} from first use")
    if v.expires_at is not None and v.validity_seconds is None:
        out.append("valid until " + format_datetime(v.expires_at, "medium", tzinfo=_zone(tz), locale=locale))
    if not (v.time_limit or v.data_limit):
        out.append("unlimited use")
    return out


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo
    return ZoneInfo(tz)


@dataclass(frozen=True)
class Card:
    code: str
    password: str | None          # None: code-only
    package_name: str
    price_text: str
    limits: list[str]
    url: str
    qr: str                       # data: URL


@dataclass(frozen=True)
class Sheet:
    batch_id: int | None
    brand: str
    colour: str
    login_url: str
    locale: str
    cards: list[Card]
    label: str = ""               # the sheet's footer ("" : "batch N")


def batch_vouchers(conn: Connection, box: SecretBox, org_id: int, batch_id: int) -> list[Voucher]:
    """The batch's vouchers with their passwords (NotFound if the org has no such batch)."""
    batches.require(conn, org_id, batch_id)
    return vouchers_mod.list_for_batch(conn, org_id, batch_id, box=box)


def sheet(conn: Connection, box: SecretBox, org_id: int, batch_id: int,
          progress: Callable[[int, int], None] | None = None) -> Sheet:
    """What the batch's card sheet shows (read only)."""
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    st = settings.get(conn, org_id)
    vs = batch_vouchers(conn, box, org_id, batch_id)
    return _sheet(org, st, vs, batch_id, "", progress)


def _sheet(org: Any, st: settings.Settings, vs: Sequence[Voucher], batch_id: int | None, label: str,
           progress: Callable[[int, int], None] | None = None) -> Sheet:
    loc = documents._locale(st.locale)
    cards = []
    for i, v in enumerate(vs):
        url = login_url(st.hotspot_login_url, v.code, v.code_only)
        cards.append(Card(v.code, None if v.code_only else v.password, v.package_name, v.price_text,
                          limits_text(v, loc, st.timezone), url, qr_data_url(url)))
        if progress is not None and (i + 1) % 500 == 0:
            progress(i + 1, len(vs))
    return Sheet(batch_id, st.brand_name or org.name, st.brand_colour or documents.DEFAULT_COLOUR,
                 st.hotspot_login_url, loc, cards, label)


def voucher_sheet(conn: Connection, box: SecretBox, org_id: int, voucher_id: int) -> Sheet:
    """One voucher's card (a voucher sold at the counter, printed for the customer); NotFound if the
    org has no such voucher."""
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    v = vouchers_mod.require(conn, org_id, voucher_id, box=box)
    return _sheet(org, settings.get(conn, org_id), [v], v.batch_id, f"voucher {v.id}")


def voucher_pdf(conn: Connection, box: SecretBox, org_id: int, voucher_id: int) -> bytes:
    """One voucher's card as a PDF (the batch sheet's layout, one card)."""
    return documents.html_to_pdf(render_html(voucher_sheet(conn, box, org_id, voucher_id)))


def render_html(s: Sheet) -> str:
    return documents._env().get_template("voucher_cards.html").render(sheet=s, lang=s.locale.split("_")[0])


def batch_html(conn: Connection, box: SecretBox, org_id: int, batch_id: int) -> str:
    return render_html(sheet(conn, box, org_id, batch_id))


def batch_pdf(conn: Connection, box: SecretBox, org_id: int, batch_id: int) -> bytes:
    """The batch's cards as a PDF (A4, ten cards a page)."""
    return documents.html_to_pdf(batch_html(conn, box, org_id, batch_id))


CSV_HEADERS = ["code", "password", "package", "price", "currency", "time_limit_seconds", "data_limit_octets",
               "valid_seconds_from_first_use", "expires_at", "state", "login_url"]


def csv_text(vs: Sequence[Voucher], base_url: str) -> str:
    """Vouchers as CSV (a header row, then one row each; the price in decimal units of its currency)."""
    from billing.money import format_amount
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADERS)
    for v in vs:
        w.writerow([v.code, v.password or "", v.package_name, format_amount(v.price, v.currency), v.currency,
                    v.time_limit or "", v.data_limit or "", v.validity_seconds or "",
                    v.expires_at.isoformat() if v.expires_at and v.validity_seconds is None else "", v.state,
                    login_url(base_url, v.code, v.code_only)])
    return buf.getvalue()


def batch_csv(conn: Connection, box: SecretBox, org_id: int, batch_id: int, now: datetime | None = None) -> str:
    """The batch's vouchers as CSV, with passwords (NotFound if the org has no such batch)."""
    batches.require(conn, org_id, batch_id)
    vs = vouchers_mod.list_for_batch(conn, org_id, batch_id, now, box=box)
    return csv_text(vs, settings.get(conn, org_id).hotspot_login_url)
