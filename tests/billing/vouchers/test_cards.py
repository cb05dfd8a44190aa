"""Voucher cards: the CSV of a batch, and the PDF sheet rendered to PNG (pdftoppm) whose QR codes
decode (zbarimg) to the hotspot login page with each code filled in; the text carries the code,
password, price in the org's currency and the limits."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from billing import settings
from billing.vouchers import batches, cards, vouchers
from tests.billing.fixtures_a import T0, World
from tests.billing.vouchers.conftest import package

needs_tools = pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")
                                      and shutil.which("pdftotext")),
                                 reason="poppler-utils and zbar-tools (apt-get install -y poppler-utils zbar-tools)")


def test_helpers() -> None:
    """Login URLs carry the code (and the password for code-only); sizes and durations read naturally."""
    assert cards.login_url("http://hs.lan/login", "AB2C", False) == "http://hs.lan/login?username=AB2C"
    assert cards.login_url("http://hs.lan/login", "AB2C", True) == \
        "http://hs.lan/login?username=AB2C&password=AB2C"
    assert cards.duration_text(5400) == "1 h 30 min" and cards.duration_text(172800) == "2 days"
    assert cards.size_text(500_000_000) == "500 MB" and cards.size_text(1_500_000_000) == "1.5 GB"


def test_csv(world: World) -> None:
    """The CSV has a row per voucher with its code, password, decimal price and login URL."""
    p = package(world, data_limit=10**9)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 3, T0)
    rows = list(csv.DictReader(io.StringIO(world.read(cards.batch_csv, world.box, world.org_id, b.id))))
    vs = {v.code: v for v in world.read(vouchers.list_for_batch, world.org_id, b.id, box=world.box)}
    assert len(rows) == 3 and {r["code"] for r in rows} == set(vs)
    r = rows[0]
    assert r["password"] == vs[r["code"]].password and r["price"] == "5.00" and r["currency"] == "GHS"
    assert r["time_limit_seconds"] == "3600" and r["data_limit_octets"] == "1000000000"
    assert r["login_url"] == f"http://hotspot.lan/login?username={r['code']}" and r["state"] == "unused"


def _decode(pdf: bytes, tmp: Path) -> tuple[list[str], str]:
    (tmp / "cards.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp / "cards.pdf"),
                    str(tmp / "page")], check=True, timeout=60)
    [png] = sorted(tmp.glob("page*.png"))
    r = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=60)
    text = subprocess.run(["pdftotext", "-layout", str(tmp / "cards.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    return sorted(r.stdout.split()), text


@needs_tools
def test_pdf_cards_qr_decodes(world: World, tmp_path: Path) -> None:
    """Each card's QR code on the rendered page decodes to the org's hotspot login URL with its code; the
    page shows the code, the password, the price in cedis and the limits."""
    world.tx(settings.update, world.org_id, T0, hotspot_login_url="http://wifi.cafe.lan/login")
    p = package(world, data_limit=500_000_000, validity_hours=24)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 4, T0)
    vs = world.read(vouchers.list_for_batch, world.org_id, b.id, box=world.box)
    pdf = world.read(cards.batch_pdf, world.box, world.org_id, b.id)
    assert pdf.startswith(b"%PDF")
    found, text = _decode(pdf, tmp_path)
    assert found == sorted(f"http://wifi.cafe.lan/login?username={v.code}" for v in vs)
    for v in vs:
        assert v.code in text and v.password and v.password in text
    assert "GH₵5.00" in text and "1 h online" in text and "500 MB of data" in text
    assert "valid 1 day" in text and "ISP WiFi" in text


@needs_tools
def test_pdf_code_only_logs_in_by_itself(world: World, tmp_path: Path) -> None:
    """A code-only voucher's QR code carries the code as the password too; no password is printed."""
    p = package(world, name="Code only", code_only=True, time_limit=None, data_limit=2 * 10**9)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 1, T0)
    [v] = world.read(vouchers.list_for_batch, world.org_id, b.id)
    found, text = _decode(world.read(cards.batch_pdf, world.box, world.org_id, b.id), tmp_path)
    assert found == [f"http://hotspot.lan/login?username={v.code}&password={v.code}"]
    assert "Password" not in text and "2 GB of data" in text


def test_one_vouchers_card(world: World) -> None:
    """A single voucher (one sold at the counter) prints as one card with its code and password, the
    sheet labelled with the voucher; another org's voucher id is not found."""
    from aaad.errors import NotFound
    from billing import customers
    from tests.billing.vouchers.conftest import vworld
    p = package(world)
    cust = world.tx(customers.add, world.org_id, T0, name="Ama Card")
    v = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=cust.id)
    s = world.read(cards.voucher_sheet, world.box, world.org_id, v.id)
    assert [(c.code, c.password) for c in s.cards] == [(v.code, v.password)] and s.label == f"voucher {v.id}"
    html = cards.render_html(s)
    assert v.code in html and str(v.password) in html and f"voucher {v.id}" in html and "batch None" not in html
    assert world.read(cards.voucher_pdf, world.box, world.org_id, v.id).startswith(b"%PDF")
    other = vworld(world.engine, "other")
    with pytest.raises(NotFound):
        other.read(cards.voucher_sheet, other.box, other.org_id, v.id)
