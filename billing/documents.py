"""Documents: invoices, credit notes and payment receipts as HTML (Jinja2) and PDF (WeasyPrint).

The HTML is the single source: the PDF is WeasyPrint's rendering of the very
same page.  Each document is built from what the database says now (the
org's branding and locale from :mod:`billing.settings`, the customer, the
document's lines) into a plain :class:`Doc`, then rendered; nothing here
writes.  Money is printed from integer minor units converted exactly with
``Decimal`` at the currency's precision (JPY 0, GHS 2, KWD 3), formatted for
the org's locale by babel, like dates.

WeasyPrint never fetches anything over the network (the product runs on
offline LANs): its URL fetcher accepts ``data:`` URLs only, so a logo must be
a ``data:`` URL (anything else is left out of the page).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_percent, get_currency_precision
from sqlalchemy.engine import Connection

from aaad import orgs
from aaad.errors import NotFound
from billing import invoices, settings
from billing.schema import allocations, credit_note_lines, credit_notes, customers, payments
from billing.schema import invoices as invoices_t

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_COLOUR = "#1f4e79"


# -- formatting ---------------------------------------------------------------------------

def money_decimal(minor: int, currency: str) -> Decimal:
    """``minor`` units of ``currency`` as an exact Decimal (1234 USD -> 12.34, 1234 JPY -> 1234)."""
    return Decimal(int(minor)).scaleb(-get_currency_precision(currency))


@cache
def _parsed(name: str) -> Locale:
    """babel's Locale of ``name``, parsed once (a page formats dozens of amounts and dates)."""
    return Locale.parse(name)


#: Distinct amounts and days remembered by format_money and format_day.  babel takes 20-40 µs an amount
#: (pattern, quantisation, the currency's plural name); a page shows dozens, and an ISP's amounts repeat
#: (plan prices, balances).  Both are pure functions of their arguments.
FORMAT_CACHE = 16384


@lru_cache(maxsize=FORMAT_CACHE)
def format_money(minor: int, currency: str, locale: str) -> str:
    """Locale-correct money: en_US ``$1,234.50``, de_DE ``1.234,50 €``."""
    return format_currency(money_decimal(minor, currency), currency, locale=_parsed(locale))


@lru_cache(maxsize=FORMAT_CACHE)
def format_day(d: date | None, locale: str) -> str:
    return "" if d is None else format_date(d, format="medium", locale=_parsed(locale))


def last_day(end: date | None) -> date | None:
    """The last day of a period stored with an exclusive end (printed inclusive)."""
    return None if end is None else end - timedelta(days=1)


def format_rate(vat_bp: int, locale: str) -> str:
    """A VAT rate in basis points as a percentage: 1500 -> en ``15%``, de ``15 %``."""
    return format_percent(Decimal(vat_bp).scaleb(-4), locale=locale, decimal_quantization=False)


def _locale(name: str) -> str:
    try:
        Locale.parse(name)
    except (ValueError, TypeError, UnknownLocaleError):
        return "en_US"
    return name


# -- what a document shows ---------------------------------------------------------------

@dataclass(frozen=True)
class Party:
    name: str
    address: str | None = None
    tax_id: str | None = None
    username: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class DocLine:
    description: str
    period_start: date | None
    period_end: date | None         # exclusive
    quantity: int
    unit_price: int
    discount: int
    net: int
    vat_bp: int
    vat: int
    total: int


@dataclass(frozen=True)
class VatRow:
    vat_bp: int
    net: int
    vat: int


@dataclass(frozen=True)
class Settled:
    """A receipt's row: what the payment settled (an invoice and the amount allocated to it)."""
    number: str
    issue_date: date
    amount: int


@dataclass(frozen=True)
class Doc:
    kind: str                       # invoice | credit_note | receipt
    number: str
    currency: str
    locale: str
    seller: Party
    customer: Party
    brand_colour: str
    logo: str | None                # a data: URL, or None
    issue_date: date
    due_date: date | None = None
    state: str | None = None        # open | paid | void (invoices)
    lines: tuple[DocLine, ...] = ()
    subtotal: int = 0
    discount: int = 0
    vat: int = 0
    total: int = 0
    paid: int = 0
    reference: str | None = None    # credit note: the invoice it credits; receipt: method reference
    reason: str | None = None       # credit note reason
    method: str | None = None       # receipt
    note: str | None = None         # receipt
    settled: tuple[Settled, ...] = ()
    unallocated: int = 0            # receipt: what became customer credit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def due(self) -> int:
        return 0 if self.state == "void" else self.total - self.paid

    @property
    def vat_breakdown(self) -> tuple[VatRow, ...]:
        """Net and VAT per rate, highest rate first (sums of the lines, so they add up to the totals)."""
        by: dict[int, list[int]] = {}
        for ln in self.lines:
            acc = by.setdefault(ln.vat_bp, [0, 0])
            acc[0] += ln.net
            acc[1] += ln.vat
        return tuple(VatRow(bp, n, v) for bp, (n, v) in sorted(by.items(), reverse=True))


def _seller(conn: Connection, org_id: int) -> tuple[settings.Settings, Party, str, str | None]:
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    st = settings.get(conn, org_id)
    party = Party(st.brand_name or org.name, st.brand_address, st.brand_tax_id)
    logo = st.brand_logo if st.brand_logo and st.brand_logo.startswith("data:") else None
    return st, party, st.brand_colour or DEFAULT_COLOUR, logo


def _customer(conn: Connection, org_id: int, customer_id: int) -> Party:
    r = conn.execute(sa.select(customers.c.name, customers.c.address, customers.c.username, customers.c.email)
                     .where(customers.c.org_id == org_id, customers.c.id == customer_id)).first()
    if r is None:
        raise NotFound("customer", customer_id)
    return Party(r.name, r.address, None, r.username, r.email)


def invoice_doc(conn: Connection, org_id: int, invoice_id: int) -> Doc:
    """What an invoice shows (NotFound if the org has no such invoice)."""
    inv = invoices.get(conn, org_id, invoice_id)
    if inv is None:
        raise NotFound("invoice", invoice_id)
    st, seller, colour, logo = _seller(conn, org_id)
    lines = tuple(DocLine(ln.description, ln.period_start, ln.period_end, ln.quantity, ln.unit_price,
                          ln.discount, ln.net, ln.vat_bp, ln.vat, ln.total) for ln in inv.lines)
    return Doc("invoice", inv.number or f"draft {inv.id}", inv.currency, _locale(st.locale), seller,
               _customer(conn, org_id, inv.customer_id), colour, logo, inv.issue_date, inv.due_date, inv.state,
               lines, inv.subtotal, inv.discount, inv.vat, inv.total, inv.paid)


def credit_note_doc(conn: Connection, org_id: int, credit_note_id: int) -> Doc:
    """What a credit note shows (read from its tables)."""
    cn = conn.execute(sa.select(credit_notes).where(credit_notes.c.org_id == org_id,
                                                    credit_notes.c.id == credit_note_id)).first()
    if cn is None:
        raise NotFound("credit note", credit_note_id)
    st, seller, colour, logo = _seller(conn, org_id)
    lines = tuple(DocLine(r.description, r.period_start, r.period_end, 1, r.net, 0, r.net, r.vat_bp, r.vat,
                          r.total)
                  for r in conn.execute(sa.select(credit_note_lines)
                                        .where(credit_note_lines.c.org_id == org_id,
                                               credit_note_lines.c.credit_note_id == cn.id)
                                        .order_by(credit_note_lines.c.id)))
    ref = None
    if cn.invoice_id is not None:
        ref = conn.execute(sa.select(invoices_t.c.number).where(invoices_t.c.org_id == org_id,
                                                                invoices_t.c.id == cn.invoice_id)).scalar()
    return Doc("credit_note", cn.number, cn.currency, _locale(st.locale), seller,
               _customer(conn, org_id, cn.customer_id), colour, logo, cn.issue_date, lines=lines,
               subtotal=cn.subtotal, vat=cn.vat, total=cn.total, reference=ref, reason=cn.reason,
               extra={"kind": cn.kind})


def receipt_doc(conn: Connection, org_id: int, payment_id: int) -> Doc:
    """What a payment's receipt shows: the amount, method, reference and the invoices it settled."""
    p = conn.execute(sa.select(payments).where(payments.c.org_id == org_id, payments.c.id == payment_id)).first()
    if p is None:
        raise NotFound("payment", payment_id)
    st, seller, colour, logo = _seller(conn, org_id)
    settled = tuple(Settled(r.number or "", r.issue_date, int(r.amount)) for r in conn.execute(
        sa.select(invoices_t.c.number, invoices_t.c.issue_date, sa.func.sum(allocations.c.amount).label("amount"))
        .join(invoices_t, invoices_t.c.id == allocations.c.invoice_id)
        .where(allocations.c.org_id == org_id, allocations.c.source == "payment",
               allocations.c.source_id == p.id)
        .group_by(invoices_t.c.id, invoices_t.c.number, invoices_t.c.issue_date)
        .order_by(invoices_t.c.issue_date, invoices_t.c.id)))
    received = st.today(p.received_at)
    return Doc("receipt", p.receipt_number, p.currency, _locale(st.locale), seller,
               _customer(conn, org_id, p.customer_id), colour, logo, received, total=int(p.amount),
               paid=int(p.amount), reference=p.reference, method=p.method, note=p.note or None,
               settled=settled, unallocated=int(p.amount) - sum(s.amount for s in settled))


# -- lookups by printed number (the CLI's way in) --------------------------------------------

def invoice_id_by_number(conn: Connection, org_id: int, number: str) -> int:
    r = conn.execute(sa.select(invoices_t.c.id).where(invoices_t.c.org_id == org_id,
                                                      invoices_t.c.number == number)).scalar()
    if r is None:
        raise NotFound("invoice", number)
    return int(r)


def credit_note_id_by_number(conn: Connection, org_id: int, number: str) -> int:
    r = conn.execute(sa.select(credit_notes.c.id).where(credit_notes.c.org_id == org_id,
                                                        credit_notes.c.number == number)).scalar()
    if r is None:
        raise NotFound("credit note", number)
    return int(r)


def payment_id_by_receipt(conn: Connection, org_id: int, receipt_number: str) -> int:
    r = conn.execute(sa.select(payments.c.id).where(payments.c.org_id == org_id,
                                                    payments.c.receipt_number == receipt_number)).scalar()
    if r is None:
        raise NotFound("receipt", receipt_number)
    return int(r)


# -- rendering ----------------------------------------------------------------------------

@cache
def _env() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # here: the CLI need not load jinja2
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env


def render(doc: Doc) -> str:
    """The document's HTML page (self-contained: inline CSS, the logo as a data: URL)."""
    loc = doc.locale
    tpl = _env().get_template(f"{doc.kind}.html")
    return tpl.render(
        doc=doc,
        money=lambda minor: format_money(minor, doc.currency, loc),
        day=lambda d: format_day(d, loc),
        rate=lambda bp: format_rate(bp, loc),
        last_day=last_day,
        lang=loc.split("_")[0],
    )


def _weasyprint() -> Any:
    import weasyprint  # type: ignore[import-untyped]  # imported late: Pango loads only for PDFs
    return weasyprint


def _fetcher() -> Any:
    """WeasyPrint's URL fetcher limited to ``data:`` URLs: no network, no local files."""
    weasyprint = _weasyprint()
    fetcher_cls = getattr(weasyprint, "URLFetcher", None)
    if fetcher_cls is not None:
        return fetcher_cls(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)

    def fetch(url: str) -> Any:           # WeasyPrint before URLFetcher: a plain function
        if not url.lower().startswith("data:"):
            raise ValueError(f"offline: refusing to fetch {url.split(':', 1)[0]}: URLs")
        return weasyprint.default_url_fetcher(url)
    return fetch


def html_to_pdf(html: str) -> bytes:
    """A PDF of the page, by WeasyPrint, fetching nothing but ``data:`` URLs."""
    out = _weasyprint().HTML(string=html, url_fetcher=_fetcher(), base_url=None).write_pdf()
    assert isinstance(out, bytes)
    return out


def render_invoice_html(conn: Connection, org_id: int, invoice_id: int) -> str:
    return render(invoice_doc(conn, org_id, invoice_id))


def render_invoice_pdf(conn: Connection, org_id: int, invoice_id: int) -> bytes:
    return html_to_pdf(render_invoice_html(conn, org_id, invoice_id))


def render_credit_note_html(conn: Connection, org_id: int, credit_note_id: int) -> str:
    return render(credit_note_doc(conn, org_id, credit_note_id))


def render_credit_note_pdf(conn: Connection, org_id: int, credit_note_id: int) -> bytes:
    return html_to_pdf(render_credit_note_html(conn, org_id, credit_note_id))


def render_receipt_html(conn: Connection, org_id: int, payment_id: int) -> str:
    return render(receipt_doc(conn, org_id, payment_id))


def render_receipt_pdf(conn: Connection, org_id: int, payment_id: int) -> bytes:
    return html_to_pdf(render_receipt_html(conn, org_id, payment_id))
