"""/reports: billing's month-end reports (revenue, VAT, debtors with ageing, payments by method), as
JSON and as CSV."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from billing import reports, settings
from web.api.declare import Call, Day, In, Out, Raw, Router

router = Router("reports", "Billing's reports: revenue and VAT by period, debtors aged, payments by method; "
                           "JSON or CSV (minor units)")

By = Literal["month", "day"]


class PeriodQuery(In):
    start: Day | None = Field(None, alias="from", description="First local date included (default: 1 January "
                                                               "of the end's year).")
    end: Day | None = Field(None, alias="to", description="Last local date included (default: today).")
    by: By = Field("month", description="One row per month (YYYY-MM) or per day (YYYY-MM-DD).")


class MonthQuery(In):
    start: Day | None = Field(None, alias="from", description="First local date included (default: the first "
                                                               "of the end's month).")
    end: Day | None = Field(None, alias="to", description="Last local date included (default: today).")


class DebtorsQuery(In):
    on: Day | None = Field(None, alias="date", description="Age the open invoices on this local date "
                                                            "(default: today).")


class RevenueRowOut(Out):
    period: str = Field(description="YYYY-MM or YYYY-MM-DD.")
    revenue: int = Field(description="Net of VAT, after credit notes (minor units).")
    vat: int
    total: int


class RevenueTotals(Out):
    revenue: int
    vat: int
    total: int


class RevenueReport(Out):
    currency: str
    start: date
    end: date
    by: By
    rows: list[RevenueRowOut] = Field(description="Periods without postings are left out.")
    totals: RevenueTotals


class VatRowOut(Out):
    period: str
    vat_invoiced: int = Field(description="VAT on invoices (minor units).")
    vat_credited: int = Field(description="VAT given back on credit notes.")
    vat_due: int = Field(description="vat_invoiced − vat_credited.")


class VatTotals(Out):
    vat_invoiced: int
    vat_credited: int
    vat_due: int


class VatReport(Out):
    currency: str
    start: date
    end: date
    by: By
    rows: list[VatRowOut]
    totals: VatTotals


class DebtorRowOut(Out):
    customer_id: int
    username: str
    name: str
    current: int = Field(description="Not yet due, or due on the day (minor units).")
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int
    oldest_due: date


class DebtorTotals(Out):
    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int


class DebtorsReport(Out):
    currency: str
    on: date = Field(description="The date the invoices are aged on.")
    rows: list[DebtorRowOut] = Field(description="Customers with open invoices, largest debt first.")
    totals: DebtorTotals


class MethodRowOut(Out):
    method: str
    payments: int = Field(description="How many payments.")
    received: int = Field(description="Minor units.")
    refunds: int = Field(description="How many refunds.")
    refunded: int
    net: int = Field(description="received − refunded.")


class MethodTotals(Out):
    payments: int
    received: int
    refunds: int
    refunded: int
    net: int


class PaymentsReport(Out):
    currency: str
    start: date
    end: date
    rows: list[MethodRowOut]
    totals: MethodTotals


@dataclass(frozen=True)
class _Report:
    rows: list[Any]
    row_type: type
    currency: str
    start: date
    end: date


def _run(conn: Any, org_id: int, name: str, now: datetime, start: date | None, end: date | None,
         by: str = "month") -> _Report:
    """The report ``name`` over its period, the defaults (from the org's today) filled in."""
    st = settings.get(conn, org_id)
    today = st.today(now)
    if name == "debtors":
        on = end or today
        return _Report(reports.debtors(conn, org_id, on), reports.DebtorRow, st.currency, on, on)
    end = end or today
    if name == "payments":
        start = start or end.replace(day=1)
        return _Report(reports.payments_by_method(conn, org_id, start, end), reports.MethodRow, st.currency,
                       start, end)
    start = start or end.replace(month=1, day=1)
    if name == "revenue":
        return _Report(reports.revenue(conn, org_id, start, end, by), reports.RevenueRow, st.currency, start, end)
    return _Report(reports.vat(conn, org_id, start, end, by), reports.VatRow, st.currency, start, end)


def _csv(r: _Report, name: str) -> Raw:
    span = r.start.isoformat() if name == "debtors" else f"{r.start.isoformat()}_{r.end.isoformat()}"
    return Raw(reports.to_csv(r.rows, r.row_type).encode("utf-8"), "text/csv; charset=utf-8",
               f"{name}-{span}.csv")


def _totals(r: _Report, model: type[Out]) -> Any:
    sums = reports.totals(r.rows)
    return model.model_validate({k: sums.get(k, 0) for k in model.model_fields})


@router.get("/reports/revenue", summary="Revenue by period")
async def revenue_report(call: Call, query: PeriodQuery) -> RevenueReport:
    """Revenue (net of VAT) and VAT per month or day, from the ledger by posting date: invoices add,
    credit notes take back.  Both ends included; 422 (field to) when the period ends before it starts."""
    r = await call.read(_run, call.org_id, "revenue", call.now, query.start, query.end, query.by)
    return RevenueReport(currency=r.currency, start=r.start, end=r.end, by=query.by,
                         rows=[RevenueRowOut.model_validate(x) for x in r.rows], totals=_totals(r, RevenueTotals))


@router.get("/reports/revenue.csv", summary="Revenue by period as CSV", media="text/csv")
async def revenue_report_csv(call: Call, query: PeriodQuery) -> Raw:
    """The revenue report as CSV: a header line, then period, revenue, vat, total (minor units)."""
    return _csv(await call.read(_run, call.org_id, "revenue", call.now, query.start, query.end, query.by), "revenue")


@router.get("/reports/vat", summary="VAT by period")
async def vat_report(call: Call, query: PeriodQuery) -> VatReport:
    """VAT invoiced, credited back and due per month or day."""
    r = await call.read(_run, call.org_id, "vat", call.now, query.start, query.end, query.by)
    return VatReport(currency=r.currency, start=r.start, end=r.end, by=query.by,
                     rows=[VatRowOut.model_validate(x) for x in r.rows], totals=_totals(r, VatTotals))


@router.get("/reports/vat.csv", summary="VAT by period as CSV", media="text/csv")
async def vat_report_csv(call: Call, query: PeriodQuery) -> Raw:
    """The VAT report as CSV: period, vat_invoiced, vat_credited, vat_due (minor units)."""
    return _csv(await call.read(_run, call.org_id, "vat", call.now, query.start, query.end, query.by), "vat")


@router.get("/reports/debtors", summary="Debtors with ageing")
async def debtors_report(call: Call, query: DebtorsQuery) -> DebtorsReport:
    """Each customer with open invoices: what they owe, aged by days past due on the date (current,
    1-30, 31-60, 61-90, over 90), largest debt first."""
    r = await call.read(_run, call.org_id, "debtors", call.now, None, query.on)
    return DebtorsReport(currency=r.currency, on=r.start, rows=[DebtorRowOut.model_validate(x) for x in r.rows],
                         totals=_totals(r, DebtorTotals))


@router.get("/reports/debtors.csv", summary="Debtors with ageing as CSV", media="text/csv")
async def debtors_report_csv(call: Call, query: DebtorsQuery) -> Raw:
    """The debtors report as CSV (minor units; oldest_due as YYYY-MM-DD)."""
    return _csv(await call.read(_run, call.org_id, "debtors", call.now, None, query.on), "debtors")


@router.get("/reports/payments", summary="Payments by method")
async def payments_report(call: Call, query: MonthQuery) -> PaymentsReport:
    """Payments received and refunds paid per method over the period (default: this month so far)."""
    r = await call.read(_run, call.org_id, "payments", call.now, query.start, query.end)
    return PaymentsReport(currency=r.currency, start=r.start, end=r.end,
                          rows=[MethodRowOut.model_validate(x) for x in r.rows], totals=_totals(r, MethodTotals))


@router.get("/reports/payments.csv", summary="Payments by method as CSV", media="text/csv")
async def payments_report_csv(call: Call, query: MonthQuery) -> Raw:
    """The payments report as CSV: method, payments, received, refunds, refunded, net (minor units)."""
    return _csv(await call.read(_run, call.org_id, "payments", call.now, query.start, query.end), "payments")
