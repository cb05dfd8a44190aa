"""Invoices, credit notes and receipts as HTML and PDF (billing.documents, billing.cli_documents)."""
from __future__ import annotations

import argparse
import html as htmlmod
import re
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaad import cli
from aaad.db import sync_engine
from aaad.errors import NotFound
from billing import cli_documents, documents
from billing.invoices import LineIn
from billing.schema import invoices as invoices_t
from tests.billing import fixtures_d as F
from tests.dbtemplate import migrated

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext (poppler-utils) not installed: make test installs it")


def text_of(html: str) -> str:
    """The page's visible text with whitespace collapsed (what a reader sees)."""
    body = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", htmlmod.unescape(re.sub(r"<[^>]+>", " ", body)))


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    p = tmp_path / "doc.pdf"
    p.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(p), "-"], check=True, capture_output=True, text=True)
    return re.sub(r"\s+", " ", out.stdout)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Any:
    e = sync_engine(migrated(f"sqlite:///{tmp_path / 'docs.db'}"))
    yield e
    e.dispose()


# -- formatting ---------------------------------------------------------------------------------

def test_money_is_formatted_per_locale() -> None:
    """Minor units print in the locale's money format: en_US $1,234.50, de_DE 1.234,50 €, GHS in en_GH."""
    assert documents.format_money(123_450, "USD", "en_US") == "$1,234.50"
    assert documents.format_money(123_450, "EUR", "de_DE").replace("\xa0", " ") == "1.234,50 €"
    assert documents.format_money(123_450, "GHS", "en_GH") == "GH₵1,234.50"
    assert documents.format_money(123_450, "JPY", "ja_JP") == "￥123,450"
    assert documents.format_money(-5, "USD", "en_US") == "-$0.05"


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(["USD", "JPY", "KWD", "GHS", "EUR"]))
def test_minor_units_convert_exactly(minor: int, currency: str) -> None:
    """Converting minor units to a Decimal is exact at the currency's precision (no float anywhere)."""
    from babel.numbers import get_currency_precision
    d = documents.money_decimal(minor, currency)
    assert isinstance(d, Decimal)
    assert d * (10 ** get_currency_precision(currency)) == minor


@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from(["USD", "JPY", "KWD", "GHS", "EUR"]),
       st.sampled_from(["en_US", "de_DE", "en_GH", "ja_JP", "fr_FR"]))
def test_remembered_amounts_read_as_babel_formats_them(minor: int, currency: str, locale: str) -> None:
    """format_money remembers what it formatted (FORMAT_CACHE amounts): the first and the remembered answer
    are babel's, for any amount, currency and locale."""
    from babel.numbers import format_currency
    expect = format_currency(documents.money_decimal(minor, currency), currency, locale=locale)
    assert documents.format_money(minor, currency, locale) == expect
    assert documents.format_money(minor, currency, locale) == expect
    assert documents.format_money.cache_info().maxsize == documents.FORMAT_CACHE


def test_rates_and_dates_follow_the_locale() -> None:
    """VAT rates print as percentages and dates in the locale's medium format."""
    assert documents.format_rate(1500, "en_US") == "15%"
    assert documents.format_rate(1250, "de_DE").replace("\xa0", " ") == "12,5 %"
    assert documents.format_day(date(2026, 3, 14), "en_US") == "Mar 14, 2026"
    assert documents.format_day(date(2026, 3, 14), "de_DE") == "14.03.2026"


# -- invoices ------------------------------------------------------------------------------------

def test_invoice_html_shows_branding_customer_lines_and_totals(engine: Any) -> None:
    """The invoice page carries the brand, logo, address and tax id, the customer, number,
    dates, every line with its period, and the totals, paid and due."""
    with engine.begin() as c:
        s = F.shop(c)
        inv = F.invoice(c, s)
        page = documents.render_invoice_html(c, s.org_id, inv.id)
    t = text_of(page)
    assert "Skyline Fibre" in t and "12 Ring Road" in t and "TIN-C0001234" in t
    assert F.LOGO in page and "#0a7cff" in page
    assert "Ama Mensah" in t and "4 Palm Street" in t and "ama-mensah-1001" in t
    assert inv.number == "INV-000001" and "INV-000001" in t
    assert "Mar 1, 2026" in t and "Mar 15, 2026" in t                 # issued, due (14 days' terms)
    assert "Fibre 50M Mar 1, 2026 – Mar 31, 2026" in t                # period printed inclusive
    assert "Router rental 3 $15.00" in t
    assert "−$50.00" in t                                             # the line's discount
    # 950.00 + 45.00 + 99.50 net; VAT 15 % of 995.00 = 149.25; total 1,243.75
    assert "Net $1,094.50 VAT $149.25 Total $1,243.75" in t
    assert "Amount paid $0.00 Amount due $1,243.75" in t
    assert "OPEN" in t and "stamp" not in page.split("</style>")[1]


def test_invoice_vat_breakdown_by_rate(engine: Any) -> None:
    """The VAT breakdown has one row per rate (net and VAT), and the rows sum to the totals."""
    with engine.begin() as c:
        s = F.shop(c)
        inv = F.invoice(c, s)
        doc = documents.invoice_doc(c, s.org_id, inv.id)
        page = documents.render(doc)
    assert [(r.vat_bp, r.net, r.vat) for r in doc.vat_breakdown] == [(1500, 99_500, 14_925), (0, 9_950, 0)]
    assert sum(r.net for r in doc.vat_breakdown) == inv.subtotal
    assert sum(r.vat for r in doc.vat_breakdown) == inv.vat
    rows = [text_of(m) for m in re.findall(r'<tr class="vat-row">.*?</tr>', page, flags=re.S)]
    assert [r.strip() for r in rows] == ["15% $995.00 $149.25", "0% $99.50 $0.00"]


@pytest.mark.parametrize(("currency", "locale", "expect"), [
    ("USD", "en_US", "$1,234.50"),
    ("EUR", "de_DE", "1.234,50 €"),
    ("GHS", "en_GH", "GH₵1,234.50"),
])
def test_invoice_money_in_the_org_locale(sqlite_engine: Any, currency: str, locale: str, expect: str) -> None:
    """An invoice prints its amounts in the org's currency and locale."""
    with sqlite_engine.begin() as c:
        s = F.shop(c, currency=currency, locale=locale, vat_bp=0)
        inv = F.invoice(c, s, [LineIn("Fibre 100M", 123_450)])
        t = text_of(documents.render_invoice_html(c, s.org_id, inv.id)).replace("\xa0", " ")
    assert f"Total {expect}" in t


def test_paid_and_void_invoices_are_marked(engine: Any) -> None:
    """A paid invoice carries a PAID mark with its due at zero; a void one a VOID mark."""
    with engine.begin() as c:
        s = F.shop(c)
        a = F.invoice(c, s)
        b = F.invoice(c, s)
        F.payment(c, s, a.total, [(a.id, a.total)])
        c.execute(invoices_t.update().where(invoices_t.c.id == b.id).values(state="void", voided_at=F.T0))
        pa = documents.render_invoice_html(c, s.org_id, a.id)
        pb = documents.render_invoice_html(c, s.org_id, b.id)
    assert '<div class="stamp paid">PAID</div>' in pa
    assert "Amount paid $1,243.75 Amount due $0.00" in text_of(pa)
    assert '<div class="stamp void">VOID</div>' in pb
    assert "Amount due $0.00" in text_of(pb)


def test_invoice_of_another_org_is_not_found(engine: Any) -> None:
    """Rendering is scoped by org: another org's invoice id is NotFound."""
    with engine.begin() as c:
        s = F.shop(c, "a")
        other = F.shop(c, "b")
        inv = F.invoice(c, s)
        with pytest.raises(NotFound):
            documents.render_invoice_html(c, other.org_id, inv.id)
        assert documents.invoice_id_by_number(c, s.org_id, "INV-000001") == inv.id
        with pytest.raises(NotFound):
            documents.invoice_id_by_number(c, other.org_id, "INV-000001")


def test_text_is_escaped_and_a_non_data_logo_is_left_out(sqlite_engine: Any) -> None:
    """Customer text is HTML-escaped; a logo that is not a data: URL is not put on the page;
    without a brand name the org's name is printed."""
    with sqlite_engine.begin() as c:
        org_id = F.make_org(c, brand_logo="http://example.com/logo.png", brand_name=None)
        cid = F.add_customer(c, org_id, name="<script>alert(1)</script> & Co")
        inv = F.invoice(c, F.Shop(org_id, cid))
        page = documents.render_invoice_html(c, org_id, inv.id)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    assert "example.com" not in page and "<img" not in page
    assert "ISP Networks Ltd" in text_of(page)


# -- PDF -----------------------------------------------------------------------------------------

def test_the_pdf_fetcher_refuses_the_network_and_files() -> None:
    """WeasyPrint's fetcher accepts data: URLs only (offline LANs): http, https and file are refused."""
    fetch = documents._fetcher()
    for url in ("http://127.0.0.1:9/x.png", "https://example.com/x.css", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            fetch(url)
    assert fetch(F.LOGO) is not None


@needs_pdftotext
def test_invoice_pdf_has_the_number_and_total(sqlite_engine: Any, tmp_path: Path) -> None:
    """The invoice PDF is a PDF whose text has the number, customer and total."""
    with sqlite_engine.begin() as c:
        s = F.shop(c, currency="EUR", locale="de_DE")
        inv = F.invoice(c, s)
        pdf = documents.render_invoice_pdf(c, s.org_id, inv.id)
    assert pdf.startswith(b"%PDF")
    t = pdf_text(pdf, tmp_path).replace("\xa0", " ")
    assert "INV-000001" in t and "Ama Mensah" in t
    assert "1.243,75 €" in t


# -- credit notes and receipts ---------------------------------------------------------------------

def test_credit_note_html_shows_the_credited_invoice_and_reason(engine: Any) -> None:
    """A credit note shows its number, the invoice it credits, its lines, VAT and total, and the reason."""
    with engine.begin() as c:
        s = F.shop(c)
        inv = F.invoice(c, s)
        cn = F.credit_note(c, s, inv.id)
        page = documents.render_credit_note_html(c, s.org_id, cn)
        assert documents.credit_note_id_by_number(c, s.org_id, "CN-000001") == cn
    t = text_of(page)
    assert "Credit note" in t and "CN-000001" in t and "Credits invoice INV-000001" in t
    assert "Fibre 50M, unused days Mar 1, 2026 – Mar 13, 2026" in t
    assert "Net $433.33 VAT $64.99 Total $498.32" in t
    assert "13 unused days" in t and "Amount due" not in t


def test_receipt_lists_what_the_payment_settled(engine: Any) -> None:
    """A receipt shows the amount, method and reference, each invoice the payment settled, and
    the rest as account credit."""
    with engine.begin() as c:
        s = F.shop(c, tz="Pacific/Auckland")
        a = F.invoice(c, s)
        b = F.invoice(c, s, [LineIn("Fibre 50M", 20_000)])
        pid = F.payment(c, s, 200_000, [(a.id, a.total), (b.id, 10_000)])
        page = documents.render_receipt_html(c, s.org_id, pid)
        assert documents.payment_id_by_receipt(c, s.org_id, "RC-000001") == pid
    t = text_of(page)
    assert "Receipt" in t and "RC-000001" in t and "mobile_money" in t and "MM-778812" in t
    assert "Date Mar 1, 2026" in t                          # 09:00 UTC is the 1st in Auckland too
    assert "INV-000001 Mar 1, 2026 $1,243.75" in t
    assert "INV-000002 Mar 1, 2026 $100.00" in t
    assert "Account credit $656.25" in t                     # 2,000.00 − 1,243.75 − 100.00
    assert "Amount received $2,000.00" in t and "paid at the office" in t


@needs_pdftotext
def test_credit_note_and_receipt_pdfs(sqlite_engine: Any, tmp_path: Path) -> None:
    """Credit notes and receipts render to PDFs with their numbers and totals."""
    with sqlite_engine.begin() as c:
        s = F.shop(c)
        inv = F.invoice(c, s)
        cn = F.credit_note(c, s, inv.id)
        pid = F.payment(c, s, 5_000, [(inv.id, 5_000)])
        cpdf = documents.render_credit_note_pdf(c, s.org_id, cn)
        rpdf = documents.render_receipt_pdf(c, s.org_id, pid)
    assert cpdf.startswith(b"%PDF") and rpdf.startswith(b"%PDF")
    assert "CN-000001" in pdf_text(cpdf, tmp_path) and "$498.32" in pdf_text(cpdf, tmp_path)
    rt = pdf_text(rpdf, tmp_path)
    assert "RC-000001" in rt and "$50.00" in rt


# -- command line ----------------------------------------------------------------------------------

@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    from aaad import app
    conf_ = app.load_config(str(p))
    e = sync_engine(app.prepare_storage(conf_, upgrade=True))
    with e.begin() as c:
        s = F.shop(c)
        inv = F.invoice(c, s)
        F.credit_note(c, s, inv.id)
        F.payment(c, s, 5_000, [(inv.id, 5_000)])
    e.dispose()
    return str(p)


def run(conf: str, capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@needs_pdftotext
def test_cli_document_writes_pdf_and_html_files(conf: str, tmp_path: Path, capsys: Any) -> None:
    """`aaad document invoice N --pdf -o FILE` writes the PDF; without --pdf, HTML; receipts and
    credit notes by their numbers too."""
    out = tmp_path / "inv.pdf"
    rc, _, err = run(conf, capsys, "document", "invoice", "INV-000001", "--pdf", "-o", str(out))
    assert rc == 0 and "wrote" in err
    assert out.read_bytes().startswith(b"%PDF") and "$1,243.75" in pdf_text(out.read_bytes(), tmp_path)
    rc, _, _ = run(conf, capsys, "document", "receipt", "RC-000001", "-o", str(tmp_path / "rc.html"))
    assert rc == 0 and "RC-000001" in (tmp_path / "rc.html").read_text()
    rc, _, _ = run(conf, capsys, "document", "credit-note", "CN-000001", "--pdf", "-o", str(tmp_path / "cn.pdf"))
    assert rc == 0 and (tmp_path / "cn.pdf").read_bytes().startswith(b"%PDF")


def test_cli_html_to_stdout_and_unknown_number(conf: str, capsys: Any) -> None:
    """Without -o, HTML goes to standard output; an unknown number is a usage error naming it."""
    rc, out, _ = run(conf, capsys, "document", "invoice", "INV-000001")
    assert rc == 0 and out.startswith("<!DOCTYPE html>") and "INV-000001" in out
    rc, _, err = run(conf, capsys, "document", "invoice", "INV-999999")
    assert rc == 2 and "no invoice 'INV-999999'" in err


def test_group_commands_join_other_groups(conf: str, tmp_path: Path, monkeypatch: Any) -> None:
    """add_invoice_commands / add_credit_note_commands / add_payment_commands add `invoice pdf|html`,
    `credit-note pdf|html` and `payment receipt [--pdf]` to groups another module created; a PDF
    without -o goes to NUMBER.pdf in the current directory."""
    p = argparse.ArgumentParser()
    p.add_argument("-c", dest="config")
    sub = p.add_subparsers(dest="command", required=True)
    groups = {name: sub.add_parser(name).add_subparsers(dest="sub", required=True)
              for name in ("invoice", "credit-note", "payment")}
    cli_documents.add_invoice_commands(groups["invoice"])
    cli_documents.add_credit_note_commands(groups["credit-note"])
    cli_documents.add_payment_commands(groups["payment"])
    monkeypatch.chdir(tmp_path)
    args = p.parse_args(["-c", conf, "invoice", "pdf", "INV-000001"])
    assert args.fn(args) == 0 and (tmp_path / "INV-000001.pdf").read_bytes().startswith(b"%PDF")
    args = p.parse_args(["-c", conf, "invoice", "html", "INV-000001", "-o", "i.html"])
    assert args.fn(args) == 0 and "INV-000001" in (tmp_path / "i.html").read_text()
    args = p.parse_args(["-c", conf, "credit-note", "html", "CN-000001", "-o", "c.html"])
    assert args.fn(args) == 0 and "CN-000001" in (tmp_path / "c.html").read_text()
    args = p.parse_args(["-c", conf, "payment", "receipt", "RC-000001", "--pdf"])
    assert args.fn(args) == 0 and (tmp_path / "RC-000001.pdf").read_bytes().startswith(b"%PDF")
