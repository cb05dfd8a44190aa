"""``aaad payment``, ``refund``, ``report`` and ``timeline`` in process (SQLite)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aaad import app, cli
from aaad.db import sync_engine
from aaad.errors import ValidationError
from billing.cli_payments import fmt, parse_amount
from billing.schema import customers
from tests.billing.fixtures_c import T0
from tests.billing.fixtures_c import World as _World


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Africa/Accra", "--currency", "GHS"]) == 0
    return str(p)


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def world(conf: str) -> _World:
    """The CLI's database and secret key, as the test's world (org 1)."""
    from aaad.view.write import LoginWriter
    c = app.load_config(conf)
    box = app.secret_box(c)
    return _World(sync_engine(app.database_url(c)), 1, LoginWriter(box), box)


def test_amounts_in_major_units() -> None:
    """Typed amounts follow the currency's decimals; extra decimals are refused, not rounded."""
    assert parse_amount("12.50", "GHS") == 1250 and parse_amount("1,000", "USD") == 100000
    assert parse_amount("500", "JPY") == 500 and parse_amount("1.234", "BHD") == 1234
    for bad in ("1.234", "abc", "NaN", ""):
        with pytest.raises(ValidationError):
            parse_amount(bad, "GHS")
    assert (fmt(1250, "GHS"), fmt(-5, "GHS"), fmt(500, "JPY"), fmt(1234, "BHD")) == ("12.50", "-0.05", "500",
                                                                                      "1.234")


def test_payment_refund_report_timeline(conf: str, capsys: Any) -> None:
    """An operator records payments (duplicates refused), refunds credit, reads the reports
    as tables, CSV and JSON, and the customer's timeline."""
    w = world(conf)
    with w.engine.begin() as c:
        c.execute(customers.insert().values(org_id=1, username="ama-1", name="Ama", status="active",
                                            created_at=T0, updated_at=T0))
    w.invoice(1, 100_00, date(2026, 11, 1))
    rc, out = run(conf, "payment", "add", "ama-1", "60.50", "--method", "bank", "--reference", "T1", capsys=capsys)
    assert rc == 0, out
    assert "receipt RC-000001: 60.50 GHS from ama-1 (bank T1)" in out
    assert "allocated:       INV-000001 60.50" in out and "balance owed:    39.50" in out
    assert "services resumed: none" in out
    rc, out = run(conf, "payment", "add", "1", "50", "--method", "bank", "--reference", "T2", "--json",
                  capsys=capsys)
    data = json.loads(out)
    assert (data["receipt"], data["allocations"], data["credit"], data["credit_available"], data["balance"]) == (
        "RC-000002", [{"invoice_id": 1, "invoice": "INV-000001", "amount": 39_50}], 10_50, 10_50, -10_50)
    rc, out = run(conf, "payment", "add", "ama-1", "5", "--method", "bank", "--reference", "T1", capsys=capsys)
    assert rc == 2 and "reference: bank reference 'T1' is already recorded as receipt RC-000001" in out
    rc, out = run(conf, "payment", "add", "ama-1", "1.234", "--method", "bank", "--reference", "T3", capsys=capsys)
    assert rc == 2 and "amount: '1.234' has more than 2 decimal(s) for GHS" in out
    rc, out = run(conf, "payment", "add", "nobody", "1", "--method", "bank", "--reference", "T4", capsys=capsys)
    assert rc == 2 and "no customer 'nobody'" in out
    rc, out = run(conf, "payment", "list", "--json", capsys=capsys)
    assert [(p["receipt"], p["customer"], p["amount"]) for p in json.loads(out)] == [
        ("RC-000002", "ama-1", 50_00), ("RC-000001", "ama-1", 60_50)]
    rc, out = run(conf, "payment", "list", "--method", "cash", capsys=capsys)
    assert rc == 0 and "(none)" in out

    rc, out = run(conf, "refund", "add", "ama-1", "20", "--method", "cash", "--reason", "left", capsys=capsys)
    assert rc == 2 and "only 1050 of credit" in out
    rc, out = run(conf, "refund", "add", "ama-1", "10.50", "--method", "cash", "--reason", "left", capsys=capsys)
    assert rc == 0 and "refund 1: 10.50 GHS to ama-1 by cash; credit left 0.00" in out
    rc, out = run(conf, "refund", "list", "--json", capsys=capsys)
    assert [(r["amount"], r["reason"]) for r in json.loads(out)] == [(10_50, "left")]

    rc, out = run(conf, "report", "payments", "--from", "2000-01-01", "--to", "2100-01-01", "--csv", capsys=capsys)
    assert out == "method,payments,received,refunds,refunded,net\nbank,2,11050,0,0,11050\ncash,0,0,1,1050,-1050\n"
    rc, out = run(conf, "report", "revenue", "--from", "2026-01-01", "--to", "2026-12-31", capsys=capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["period", "revenue", "vat", "total"]
    assert lines[1].split() == ["2026-11", "100.00", "0.00", "100.00"] and lines[2].split()[1:] == ["100.00",
                                                                                                 "0.00", "100.00"]
    rc, out = run(conf, "report", "vat", "--from", "2026-01-01", "--to", "2026-12-31", "--json", capsys=capsys)
    assert json.loads(out) == []                       # VAT-exempt line: no VAT posting
    rc, out = run(conf, "report", "debtors", "--date", "2027-01-01", capsys=capsys)
    assert rc == 0 and "(none)" in out
    rc, out = run(conf, "report", "revenue", "--from", "2026-12-01", "--to", "2026-11-01", capsys=capsys)
    assert rc == 2 and "to: the period ends before it starts" in out

    rc, out = run(conf, "timeline", "ama-1", "--json", capsys=capsys)
    items = json.loads(out)
    assert [(i["kind"], i["amount"], i["balance"]) for i in items] == [
        ("invoice", 100_00, 100_00), ("payment", -60_50, 39_50), ("payment", -50_00, -10_50),
        ("refund", 10_50, 0)]
    rc, out = run(conf, "timeline", "ama-1", capsys=capsys)
    assert rc == 0 and "INV-000001" in out and "RC-000002" in out
    rc, out = run(conf, "timeline", "ghost", capsys=capsys)
    assert rc == 2


def test_debtors_table_has_totals(conf: str, capsys: Any) -> None:
    """The debtors table ends with a total line in major units."""
    w = world(conf)
    for n in (1, 2):
        with w.engine.begin() as c:
            c.execute(customers.insert().values(org_id=1, username=f"c-{n}", name=f"C{n}", status="active",
                                                created_at=T0, updated_at=T0))
    w.invoice(1, 10_00, date(2026, 11, 1))
    w.invoice(2, 5_25, date(2026, 12, 1))        # on 12-20: 35 and 5 days past due
    rc, out = run(conf, "report", "debtors", "--date", "2026-12-20", capsys=capsys)
    last = out.splitlines()[-1].split()
    assert rc == 0 and last == ["total", "0.00", "5.25", "10.00", "0.00", "0.00", "15.25"]


def test_payment_add_reports_services_resumed(conf: str, capsys: Any) -> None:
    """A payment clearing arrears says which services it resumed (and the login is active)."""
    from billing import dunning
    w = world(conf)
    cid, sid = w.subscriber("kwame", w.internet_product())
    w.invoice(cid, 30_00, date(2026, 11, 1))
    day = date(2026, 11, 19)
    w.tx(dunning.dunning_chunk, w.writer, w.org_id, day, 0, 100, T0.replace(day=19))
    assert w.service(sid).state == "suspended"
    rc, out = run(conf, "payment", "add", "kwame", "30", "--method", "cash", "--reference", "RB-1", capsys=capsys)
    assert rc == 0 and f"services resumed: {sid}" in out
    assert w.service(sid).state == "active" and w.login_of(sid).state == "active"
