"""/reports: revenue and VAT by month and day, debtors aged, payments by method; the JSON against the
domain's figures, the CSV parsed back, defaults, bad periods, and no other org's money."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date
from typing import Any

from billing import reports
from tests.web.api.billing_helpers import customer, one_off
from tests.web.api.conftest import ApiClient, World


def _domain(world: World, fn: Any, *args: Any) -> Any:
    """What the billing function says, read straight from the database."""
    with world.db.engine.connect() as conn:
        return fn(conn, *args)


def _csv(api: ApiClient, path: str) -> list[dict[str, str]]:
    r = api.get(path)
    assert r.code == 200 and r.required_header("Content-Type").startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text)))


def _ints(rows: list[dict[str, str]], *text: str) -> list[dict[str, Any]]:
    return [{k: (v if k in text else int(v)) for k, v in r.items()} for r in rows]


def test_revenue_matches_the_ledger_and_its_csv(api: ApiClient, world: World) -> None:
    """Revenue by month for the demo's weeks: rows as billing.reports computes them, totals their sums,
    the CSV the same rows."""
    r = api.get("/reports/revenue?from=2026-10-01&to=2026-11-30")
    assert r.code == 200
    body = r.json()
    expected = _domain(world, reports.revenue, world.demo, date(2026, 10, 1), date(2026, 11, 30))
    assert body["rows"] == [asdict(x) for x in expected] and len(body["rows"]) == 2
    assert body["totals"]["revenue"] == sum(x.revenue for x in expected) > 0
    assert (body["currency"], body["start"], body["end"], body["by"]) == ("USD", "2026-10-01", "2026-11-30",
                                                                          "month")
    assert _ints(_csv(api, "/reports/revenue.csv?from=2026-10-01&to=2026-11-30"), "period") == body["rows"]


def test_revenue_by_day_and_defaults(api: ApiClient) -> None:
    """by=day gives YYYY-MM-DD periods summing to the monthly figure; without from/to the period is this
    year up to today (the org's date)."""
    month = api.get("/reports/revenue?from=2026-11-01&to=2026-11-30").json()
    days = api.get("/reports/revenue?from=2026-11-01&to=2026-11-30&by=day").json()
    assert all(len(x["period"]) == 10 for x in days["rows"])
    assert days["totals"] == month["totals"]
    default = api.get("/reports/revenue").json()
    assert (default["start"], default["end"]) == ("2026-01-01", "2026-11-30")


def test_vat_report_and_csv(api: ApiClient, world: World) -> None:
    """VAT invoiced, credited (the demo's credit notes) and due, as JSON and CSV."""
    body = api.get("/reports/vat?from=2026-10-01&to=2026-11-30").json()
    expected = _domain(world, reports.vat, world.demo, date(2026, 10, 1), date(2026, 11, 30))
    assert body["rows"] == [asdict(x) for x in expected]
    assert body["totals"]["vat_credited"] > 0
    assert body["totals"]["vat_due"] == body["totals"]["vat_invoiced"] - body["totals"]["vat_credited"]
    assert _ints(_csv(api, "/reports/vat.csv?from=2026-10-01&to=2026-11-30"), "period") == body["rows"]


def test_debtors_aged_and_csv(api: ApiClient, world: World) -> None:
    """Debtors on a date: the demo's unpaid customers with their buckets; the CSV has the same rows;
    a later date moves debt to older buckets."""
    body = api.get("/reports/debtors?date=2026-11-30").json()
    expected = _domain(world, reports.debtors, world.demo, date(2026, 11, 30))
    assert body["on"] == "2026-11-30" and body["rows"] == [{**asdict(x), "oldest_due": x.oldest_due.isoformat()}
                                                          for x in expected]
    assert body["rows"] and body["totals"]["total"] == sum(x.total for x in expected)
    assert _ints(_csv(api, "/reports/debtors.csv?date=2026-11-30"), "username", "name", "oldest_due") == body["rows"]
    later = api.get("/reports/debtors?date=2027-06-01").json()
    assert later["totals"]["days_over_90"] == later["totals"]["total"] == body["totals"]["total"]


def test_payments_by_method_and_csv(api: ApiClient, world: World) -> None:
    """Payments and refunds per method this month; CSV the same."""
    body = api.get("/reports/payments").json()
    assert (body["start"], body["end"]) == ("2026-11-01", "2026-11-30")
    expected = _domain(world, reports.payments_by_method, world.demo, date(2026, 11, 1), date(2026, 11, 30))
    assert body["rows"] == [asdict(x) for x in expected] and body["totals"]["refunds"] >= 1
    assert _ints(_csv(api, "/reports/payments.csv"), "method") == body["rows"]


def test_empty_report_csv_has_its_header(api: ApiClient) -> None:
    """A period with nothing in it: no rows, zero totals, and a CSV of the header line only."""
    body = api.get("/reports/revenue?from=2020-01-01&to=2020-12-31").json()
    assert body["rows"] == [] and body["totals"] == {"revenue": 0, "vat": 0, "total": 0}
    r = api.get("/reports/revenue.csv?from=2020-01-01&to=2020-12-31")
    assert r.text == "period,revenue,vat,total\n"
    assert 'filename="revenue-2020-01-01_2020-12-31.csv"' in r.required_header("Content-Disposition")


def test_bad_parameters_are_422(api: ApiClient) -> None:
    """A period ending before it starts: 422 naming to; a bad grouping and a non-date: 422 naming both;
    an unknown parameter: 422 naming it."""
    r = api.get("/reports/revenue?from=2026-11-30&to=2026-11-01")
    assert r.code == 422 and r.json()["error"]["field"] == "to"
    r = api.get("/reports/vat.csv?by=week&from=someday")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"by", "from"}
    r = api.get("/reports/debtors?date=2026-02-30")
    assert r.code == 422 and r.json()["error"]["field"] == "date"
    r = api.get("/reports/payments?month=11")
    assert r.code == 422 and r.json()["error"]["field"] == "month"


def test_reports_see_only_the_orgs_own_money(api: ApiClient) -> None:
    """An invoice issued in org demo moves demo's revenue and debtors, not the other org's."""
    theirs_before = api.as_("other").get("/reports/revenue?from=2026-11-30&to=2026-11-30").json()
    mine_before = api.get("/reports/revenue?from=2026-11-30&to=2026-11-30").json()
    cid = customer(api, "Report Isolation")
    one_off(api, cid, price=50_000)
    mine = api.get("/reports/revenue?from=2026-11-30&to=2026-11-30").json()
    assert mine["totals"]["revenue"] == mine_before["totals"]["revenue"] + 50_000
    assert api.as_("other").get("/reports/revenue?from=2026-11-30&to=2026-11-30").json() == theirs_before
    assert cid in {d["customer_id"] for d in api.get("/reports/debtors").json()["rows"]}
    assert cid not in {d["customer_id"] for d in api.as_("other").get("/reports/debtors").json()["rows"]}


def test_read_only_token_reads_reports(api: ApiClient) -> None:
    """Reports are reads: the read-only token gets them."""
    assert api.as_("demo_ro").get("/reports/debtors.csv").code == 200


def test_dates_are_yyyy_mm_dd_only(api: ApiClient) -> None:
    """A number is not a date (pydantic would read it as a Unix time): 422 naming to."""
    r = api.get("/reports/revenue?to=0")
    assert r.code == 422 and r.json()["error"]["field"] == "to"
    assert api.get("/invoices?issued_since=1700000000").code == 422
