"""Month-end reports against hand-computed figures, on SQLite and PostgreSQL:
revenue and VAT by month and day (credit notes taking back), debtors aged on a
date, payments by method with refunds, and their CSV."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from aaad.errors import ValidationError
from billing import ledger, reports
from billing.ledger import Posting
from billing.reports import DebtorRow, MethodRow, RevenueRow, VatRow
from tests.billing.fixtures_c import World, at, make_world


@pytest.fixture
def books(engine: Any) -> tuple[World, dict[str, int]]:
    """Five customers (VAT 15 %, 14 days to pay):

    A: 2026-11-01 100.00 + VAT = 115.00 (due 11-15); 2026-11-20 40.00 exempt (due 12-04);
       pays 15.00 by bank on 11-25.
    B: 2026-12-03 200.00 + VAT = 230.00 (due 12-17); credit note 12-05 of 20.00 + 3.00 VAT
       (to credit).
    C: 2027-02-10 50.00 exempt (due 02-24); 2027-01-10 10.00 exempt due 01-16.
    D: 2027-02-01 20.00 exempt (due 02-15), paid by mobile_money on 02-15.
    E: pays 30.00 cash on 12-10 (all credit), refunded 10.00 cash on 12-12.
    """
    w = make_world(engine)
    ids = {k: w.customer(f"{k.lower()}-1", f"Customer {k}") for k in "ABCDE"}
    w.invoice(ids["A"], 100_00, date(2026, 11, 1), taxable=True)
    w.invoice(ids["A"], 40_00, date(2026, 11, 20))
    w.pay(ids["A"], 15_00, "A-1", now=at(date(2026, 11, 25)))
    w.invoice(ids["B"], 200_00, date(2026, 12, 3), taxable=True)
    w.tx(ledger.post, w.org_id, "credit_note", [Posting(ledger.REVENUE, 20_00), Posting(ledger.VAT, 3_00),
                                                Posting(ledger.CREDIT, -23_00, ids["B"])],
         date(2026, 12, 5), at(date(2026, 12, 5)), customer_id=ids["B"])
    w.invoice(ids["C"], 50_00, date(2027, 2, 10))
    w.invoice(ids["C"], 10_00, date(2027, 1, 10), due=date(2027, 1, 16))
    w.invoice(ids["D"], 20_00, date(2027, 2, 1))
    w.pay(ids["D"], 20_00, "MM-9", method="mobile_money", now=at(date(2027, 2, 15)))
    w.pay(ids["E"], 30_00, "E-1", method="cash", now=at(date(2026, 12, 10)))
    w.refund(ids["E"], 10_00, method="cash", now=at(date(2026, 12, 12)))
    assert w.check() == []
    return w, ids


def test_revenue_by_month_and_day(books: tuple[World, dict[str, int]]) -> None:
    """Revenue and VAT per month and per day; credit notes take revenue back."""
    w, _ = books
    assert w.read(reports.revenue, w.org_id, date(2026, 11, 1), date(2026, 12, 31)) == [
        RevenueRow("2026-11", 140_00, 15_00, 155_00), RevenueRow("2026-12", 180_00, 27_00, 207_00)]
    assert w.read(reports.revenue, w.org_id, date(2026, 11, 1), date(2026, 12, 31), "day") == [
        RevenueRow("2026-11-01", 100_00, 15_00, 115_00), RevenueRow("2026-11-20", 40_00, 0, 40_00),
        RevenueRow("2026-12-03", 200_00, 30_00, 230_00), RevenueRow("2026-12-05", -20_00, -3_00, -23_00)]
    assert w.read(reports.revenue, w.org_id, date(2026, 12, 4), date(2027, 2, 28)) == [
        RevenueRow("2026-12", -20_00, -3_00, -23_00), RevenueRow("2027-01", 10_00, 0, 10_00),
        RevenueRow("2027-02", 70_00, 0, 70_00)]


def test_vat_by_month(books: tuple[World, dict[str, int]]) -> None:
    """VAT invoiced, credited back and due per month."""
    w, _ = books
    assert w.read(reports.vat, w.org_id, date(2026, 1, 1), date(2027, 12, 31)) == [
        VatRow("2026-11", 15_00, 0, 15_00), VatRow("2026-12", 30_00, 3_00, 27_00)]


def test_debtors_aged(books: tuple[World, dict[str, int]]) -> None:
    """Open invoices aged by days past due on a date, largest debtor first; paid customers absent."""
    w, ids = books
    got = w.read(reports.debtors, w.org_id, date(2027, 2, 15))
    assert got == [
        DebtorRow(ids["B"], "b-1", "Customer B", 0, 0, 230_00, 0, 0, 230_00, date(2026, 12, 17)),   # 60 days
        DebtorRow(ids["A"], "a-1", "Customer A", 0, 0, 0, 40_00, 100_00, 140_00, date(2026, 11, 15)),  # 73, 92
        DebtorRow(ids["C"], "c-1", "Customer C", 50_00, 10_00, 0, 0, 0, 60_00, date(2027, 1, 16)),  # -9, 30
    ]
    assert [reports.bucket(d) for d in (-1, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current", "current", "days_1_30", "days_1_30", "days_31_60", "days_31_60", "days_61_90",
        "days_61_90", "days_over_90"]
    assert reports.totals(got)["total"] == 430_00


def test_payments_by_method(books: tuple[World, dict[str, int]]) -> None:
    """Money in and refunded per method over a period."""
    w, _ = books
    assert w.read(reports.payments_by_method, w.org_id, date(2026, 11, 1), date(2026, 12, 31)) == [
        MethodRow("bank", 1, 15_00, 0, 0, 15_00), MethodRow("cash", 1, 30_00, 1, 10_00, 20_00)]
    assert [r.method for r in w.read(reports.payments_by_method, w.org_id, date(2027, 2, 15),
                                     date(2027, 2, 15))] == ["mobile_money"]


def test_csv(books: tuple[World, dict[str, int]]) -> None:
    """Each report as CSV: a header of field names, dates in ISO form; empty reports keep the header."""
    w, _ = books
    rows = w.read(reports.revenue, w.org_id, date(2026, 11, 1), date(2026, 12, 31))
    assert reports.to_csv(rows) == "period,revenue,vat,total\n2026-11,14000,1500,15500\n2026-12,18000,2700,20700\n"
    deb = w.read(reports.debtors, w.org_id, date(2027, 2, 15))
    lines = reports.to_csv(deb).splitlines()
    assert lines[0] == ("customer_id,username,name,current,days_1_30,days_31_60,days_61_90,days_over_90,total,"
                        "oldest_due")
    assert lines[1].endswith(",b-1,Customer B,0,0,23000,0,0,23000,2026-12-17")
    assert reports.to_csv([], MethodRow) == "method,payments,received,refunds,refunded,net\n"
    assert reports.to_csv([RevenueRow('a,"b"', 1, 2, 3)]).splitlines()[1] == '"a,""b""",1,2,3'


def test_reports_are_per_org_and_check_their_period(books: tuple[World, dict[str, int]]) -> None:
    """Another org sees none of these figures; bad periods are field errors."""
    w, _ = books
    other = make_world(w.engine, "other")
    assert other.read(reports.revenue, other.org_id, date(2026, 1, 1), date(2027, 12, 31)) == []
    assert other.read(reports.debtors, other.org_id, date(2027, 2, 15)) == []
    with pytest.raises(ValidationError) as e:
        w.read(reports.revenue, w.org_id, date(2026, 12, 1), date(2026, 11, 1))
    assert e.value.field == "to"
    with pytest.raises(ValidationError) as e:
        w.read(reports.vat, w.org_id, date(2026, 11, 1), date(2026, 12, 1), "week")
    assert e.value.field == "by"
