"""The money side of a service's life: what starting, moving the start, changing
plan and cancelling cost or credit (the first invoice with its prorated period
and setup fee; the credit note for unused days; proration of a plan change),
and the periods the billing run (:mod:`billing.run`) bills.

:mod:`billing.services` calls the hooks in the transaction of the service
change, after the service row and its login are written; each receives the
service as it is after the change (and re-reads its billing columns).

Periods.  A monthly service is billed in advance for ``[billing day, next
billing day)`` (the org's billing day); a prepaid ``days`` service for
periods of N days from its start; a ``daily`` one a day at a time;
``once`` (one-time products) once, at activation.  ``billed_through`` is
the exclusive end of what has been invoiced and ``periods_billed`` counts
the (possibly partial) periods invoiced.  A period cut by the start, a
plan change or the service's end (``cancel_at``, exclusive, or
``end_date``, inclusive) is prorated on the whole period by actual days
(:func:`billing.money.prorate`, cumulative rounding).

Discounts.  A product's discount rules apply to a period whose index (0 for
the first period billed) is below the rule's ``periods`` and which starts
before its ``until``.  Over a whole period a rule takes exactly
:func:`billing.money.discount_amount` of the price; the rules' discounts
are added, never beyond the price.  Over a part of a period the discount is
the same share of the prorated price, rounded cumulatively like the price,
so the net amounts of the parts of a period also sum to the whole period's.

Credits are the complement of charges: the unused days ``[a, b)`` of a
period are credited at ``net([p0, b)) - net([p0, a))`` of the same period,
price and discount, so a period billed and then partly credited leaves
exactly what billing the used days alone would have cost.  A credit is never
more than what was charged and not yet credited for the service in that
period (an operator may have changed the product's price since).

Each line carries ``(service, kind, period_start)``, unique on invoice and
credit note lines: a hook or a run repeated for the same change finds its
lines there and skips them instead of charging or crediting twice.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.db import in_list
from billing import credit_notes, invoices, money, settings
from billing.invoices import LineIn
from billing.schema import credit_note_lines, discounts, invoice_lines, products, services
from billing.schema import invoices as invoices_t

CHARGE_KINDS = ("recurring", "proration", "upgrade", "downgrade")
CREDIT_KINDS = ("unused_days", "cancellation", "upgrade", "downgrade")
DAY = timedelta(days=1)


# -- products as billing sees them ------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    kind: str                   # percent | fixed
    value: int                  # basis points | minor units per period
    periods: int | None         # the first N periods billed
    until: date | None          # periods starting before this date


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    price: int
    taxable: bool
    period: str                 # monthly | days | daily | once
    period_days: int | None
    setup_fee: int
    rules: tuple[Rule, ...] = ()


def load_plans(conn: Connection, org_id: int, product_ids: set[int]) -> dict[int, Plan]:
    """The products (with their discount rules) by id."""
    if not product_ids:
        return {}
    args = {"org_id": org_id, "ids": sorted(product_ids)}
    rules: dict[int, list[Rule]] = {}
    for r in conn.execute(_RULES, args):
        rules.setdefault(r.product_id, []).append(Rule(r.kind, int(r.value), r.periods, r.until))
    return {r.id: Plan(r.id, r.name, int(r.price), bool(r.taxable), r.period, r.period_days, int(r.setup_fee),
                       tuple(rules.get(r.id, ())))
            for r in conn.execute(_PLANS, args)}


_RULES = sa.select(discounts).where(discounts.c.org_id == sa.bindparam("org_id"),
                                    in_list(discounts.c.product_id, "ids")
                                    ).order_by(discounts.c.id)
_PLANS = sa.select(products).where(products.c.org_id == sa.bindparam("org_id"),
                                   in_list(products.c.id, "ids"))


def discount_share(plan: Plan, index: int, period_start: date) -> Fraction:
    """The share of a period's price its discounts take (0..1), for the period
    with this index (0: the first billed) starting on ``period_start``."""
    if plan.price <= 0:
        return Fraction(0)
    share = Fraction(0)
    for r in plan.rules:
        if r.periods is not None and index >= r.periods:
            continue
        if r.until is not None and period_start >= r.until:
            continue
        share += Fraction(money.discount_amount(plan.price, r.kind, r.value), plan.price)
    return min(share, Fraction(1))


def segment_amounts(price: int, share: Fraction, p0: date, p1: date, s: date, e: date) -> tuple[int, int]:
    """(price, discount) of the days ``[s, e)`` of the period ``[p0, p1)``: both
    rounded cumulatively (see the module docstring), so parts sum to the whole."""
    def gross(x: date) -> int:
        return money.prorate(price, p0, p1, p0, x)

    def disc(x: date) -> int:
        return money.div_half_even(gross(x) * share.numerator, share.denominator)
    return gross(e) - gross(s), disc(e) - disc(s)


# -- periods ----------------------------------------------------------------------------

def period_at(plan: Plan, x: date, billing_day: int, grid: date) -> tuple[date, date]:
    """The period ``[p0, p1)`` of ``plan`` holding ``x`` (``days`` periods on the grid through ``grid``)."""
    if plan.period == "monthly":
        return money.monthly_period(x, billing_day)
    if plan.period == "days":
        return money.fixed_period(grid, x, plan.period_days or 1)
    if plan.period == "daily":
        return x, x + DAY
    raise ValueError(f"{plan.period} products have no periods")


@dataclass(frozen=True)
class Segment:
    p0: date        # the whole period
    p1: date
    s: date         # the part billed
    e: date

    @property
    def whole(self) -> bool:
        return (self.s, self.e) == (self.p0, self.p1)


def due_segments(plan: Plan, billing_day: int, frm: date, upto: date, stop: date | None,
                 first: bool = False) -> list[Segment]:
    """The parts of periods to bill from ``frm``: every period starting on or before
    ``upto`` (and the first one whatever its start, with ``first``), none at or
    after ``stop``; a period cut by ``stop`` ends there."""
    out: list[Segment] = []
    x = frm
    while stop is None or x < stop:
        if x > upto and (out or not first):
            break
        p0, p1 = period_at(plan, x, billing_day, x)
        e = p1 if stop is None else min(p1, stop)
        out.append(Segment(p0, p1, x, e))
        x = e
    return out


def billed_periods(plan: Plan, billing_day: int, a: date, billed_through: date) -> list[tuple[date, date]]:
    """The periods holding the billed days ``[a, billed_through)``, oldest first."""
    out: list[tuple[date, date]] = []
    x = a
    while x < billed_through:
        p = period_at(plan, x, billing_day, billed_through)
        out.append(p)
        x = p[1]
    return out


def service_stop(svc: Any) -> date | None:
    """The first day without service (``cancel_at``, or the day after ``end_date``)."""
    stops = [d for d in (svc.cancel_at, svc.end_date + DAY if svc.end_date else None) if d is not None]
    return min(stops) if stops else None


def _span(s: date, e: date) -> str:
    last = e - DAY
    return s.isoformat() if last <= s else f"{s.isoformat()} to {last.isoformat()}"


def charge_lines(plan: Plan, service_id: int, segs: list[Segment], first_index: int,
                 kind: str | None = None) -> list[LineIn]:
    """Invoice lines for ``segs`` (period indexes from ``first_index``); kind ``recurring``
    for a whole period, ``proration`` for a part, unless ``kind`` says."""
    out = []
    for i, sg in enumerate(segs):
        gross, disc = segment_amounts(plan.price, discount_share(plan, first_index + i, sg.p0),
                                      sg.p0, sg.p1, sg.s, sg.e)
        k = kind or ("recurring" if sg.whole else "proration")
        out.append(LineIn(f"{plan.name}, {_span(sg.s, sg.e)}", gross, discount=disc, taxable=plan.taxable,
                          kind=k, service_id=service_id, period_start=sg.s, period_end=sg.e))
    return out


# -- what exists already -----------------------------------------------------------------

_BILLED = sa.select(invoice_lines.c.service_id, invoice_lines.c.kind, invoice_lines.c.period_start).where(
    invoice_lines.c.org_id == sa.bindparam("org_id"),
    in_list(invoice_lines.c.service_id, "ids"))
_BILLED_SINCE = _BILLED.where(invoice_lines.c.period_start >= sa.bindparam("since"))


def _billed_keys(conn: Connection, org_id: int, service_ids: list[int], since: date | None = None
                 ) -> set[tuple[int, str, date | None]]:
    """The (service, kind, period start) of the services' invoice lines (from ``since``)."""
    q, args = (_BILLED, {}) if since is None else (_BILLED_SINCE, {"since": since})
    return {(r[0], r[1], r[2]) for r in conn.execute(q, {"org_id": org_id, "ids": service_ids, **args})}


def new_lines(conn: Connection, org_id: int, lines: list[LineIn],
              known: set[tuple[int, str, date | None]] | None = None) -> list[LineIn]:
    """``lines`` without those a (service, kind, period start) line was already invoiced for."""
    ids = sorted({ln.service_id for ln in lines if ln.service_id is not None})
    if known is None:
        known = _billed_keys(conn, org_id, ids) if ids else set()
    return [ln for ln in lines if ln.service_id is None or (ln.service_id, ln.kind, ln.period_start) not in known]


def _credited(conn: Connection, org_id: int, service_id: int, kind: str, start: date) -> bool:
    return conn.execute(sa.select(credit_note_lines.c.id).where(
        credit_note_lines.c.org_id == org_id, credit_note_lines.c.service_id == service_id,
        credit_note_lines.c.kind == kind, credit_note_lines.c.period_start == start)).first() is not None


def _uncredited(conn: Connection, org_id: int, service_id: int, p0: date, p1: date, inclusive: bool) -> int:
    """What was charged for the service's period ``[p0, p1)`` (invoices not void) and not
    credited yet, as a price: net of VAT, or including it where the org's prices do."""
    il = invoice_lines
    col = "total" if inclusive else "net"
    charged = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(il.c[col]), 0)).select_from(
        il.join(invoices_t, invoices_t.c.id == il.c.invoice_id)).where(
        il.c.org_id == org_id, il.c.service_id == service_id, il.c.kind.in_(CHARGE_KINDS),
        il.c.period_start >= p0, il.c.period_start < p1, invoices_t.c.state != "void")).scalar_one()
    cl = credit_note_lines
    credited = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(cl.c[col]), 0)).where(
        cl.c.org_id == org_id, cl.c.service_id == service_id, cl.c.kind.in_(CREDIT_KINDS),
        cl.c.period_start >= p0, cl.c.period_start < p1)).scalar_one()
    return int(charged) - int(credited)


def _charged_invoice(conn: Connection, org_id: int, service_id: int, a: date, b: date) -> int | None:
    """The latest invoice (not void) that charged the service for days in ``[a, b)``."""
    il = invoice_lines
    r = conn.execute(sa.select(il.c.invoice_id).select_from(
        il.join(invoices_t, invoices_t.c.id == il.c.invoice_id)).where(
        il.c.org_id == org_id, il.c.service_id == service_id, il.c.kind.in_(CHARGE_KINDS),
        il.c.period_start < b, il.c.period_end > a, invoices_t.c.state != "void")
        .order_by(il.c.invoice_id.desc()).limit(1)).first()
    return None if r is None else int(r[0])


def credit_lines(conn: Connection, org_id: int, svc: Any, plan: Plan, st: settings.Settings, a: date, b: date,
                 kind: str, label: str) -> list[LineIn]:
    """Credit note lines for the billed days ``[a, b)`` of ``svc`` on ``plan`` (see the
    module docstring), skipping parts already credited under ``kind``."""
    billing_day, inclusive = st.billing_day, st.prices_include_vat
    bt = svc.billed_through
    if bt is None or plan.period == "once":
        return []
    b = min(b, bt)
    if a >= b:
        return []
    periods = billed_periods(plan, billing_day, a, bt)
    out = []
    for j, (p0, p1) in enumerate(periods):
        s, e = max(a, p0), min(b, p1)
        if s >= e:
            continue
        index = svc.periods_billed - len(periods) + j
        gross, disc = segment_amounts(plan.price, discount_share(plan, max(index, 0), p0), p0, p1, s, e)
        cap = _uncredited(conn, org_id, svc.id, p0, p1, inclusive)
        if gross - disc > cap:
            gross, disc = max(cap, 0), 0
        if gross - disc <= 0 or _credited(conn, org_id, svc.id, kind, s):
            continue
        out.append(LineIn(f"{label}: {plan.name}, {_span(s, e)}", gross, discount=disc, taxable=plan.taxable,
                          kind=kind, service_id=svc.id, period_start=s, period_end=e))
    return out


# -- the service's billing columns -------------------------------------------------------

def _service(conn: Connection, org_id: int, service_id: int) -> Any:
    return conn.execute(sa.select(services).where(services.c.org_id == org_id,
                                                  services.c.id == service_id)).one()


service_row = _service      # the service's billing columns, for a quote (:func:`quote_plan_change`)


def advance(conn: Connection, org_id: int, service_id: int, old: date | None, new: date | None,
            periods: int) -> bool:
    """Move ``billed_through`` from ``old`` to ``new`` and count ``periods`` more, if
    nobody moved it meanwhile (a conditional UPDATE: its row count says)."""
    s = services
    cur = s.c.billed_through.is_(None) if old is None else s.c.billed_through == old
    return conn.execute(s.update().where(s.c.org_id == org_id, s.c.id == service_id, cur).values(
        billed_through=new, periods_billed=s.c.periods_billed + periods)).rowcount == 1


# -- the hooks --------------------------------------------------------------------------

def on_activate(conn: Connection, org_id: int, service: Any, now: datetime) -> None:
    """A service became active from ``service.start_date``: invoice its setup fee and
    its first period, prorated from the start (monthly), whole (days, daily), or the
    one-time price; and any later period already due today (a start in the past)."""
    svc = _service(conn, org_id, service.id)
    if svc.periods_billed > 0 or svc.billed_through is not None or svc.start_date is None:
        return  # activated (and invoiced) before
    plan = load_plans(conn, org_id, {svc.product_id})[svc.product_id]
    st = settings.get(conn, org_id)
    today = st.today(now)
    start = svc.start_date
    lines = []
    if plan.setup_fee:
        lines.append(LineIn(f"{plan.name}: setup", plan.setup_fee, taxable=plan.taxable, kind="setup",
                            service_id=svc.id, period_start=start))
    if plan.period == "once":
        lines.append(LineIn(plan.name, plan.price, taxable=plan.taxable, kind="one_time", service_id=svc.id,
                            period_start=start))
        new_bt, count = None, 1
    else:
        segs = due_segments(plan, st.billing_day, start, today, service_stop(svc), first=True)
        lines += charge_lines(plan, svc.id, segs, 0)
        new_bt, count = (segs[-1].e if segs else start), len(segs)
    if not advance(conn, org_id, svc.id, None, new_bt, max(count, 1)):
        return
    lines = new_lines(conn, org_id, lines)
    if lines:
        invoices.issue(conn, org_id, svc.customer_id, lines, today, now)


def on_start_moved(conn: Connection, org_id: int, service: Any, old_start: date, now: datetime) -> None:
    """An active, already invoiced service's actual start moved later (approval with
    a later date): credit note for the unused days ``[old_start, service.start_date)``."""
    svc = _service(conn, org_id, service.id)
    new = svc.start_date
    if new is None or new <= old_start:
        return
    plan = load_plans(conn, org_id, {svc.product_id})[svc.product_id]
    st = settings.get(conn, org_id)
    lines = credit_lines(conn, org_id, svc, plan, st, old_start, new, "unused_days", "Unused days")
    if lines:
        credit_notes.issue(conn, org_id, svc.customer_id, lines, st.today(now), now, kind="unused_days",
                           reason=f"service {svc.id} started on {new.isoformat()}, not {old_start.isoformat()}",
                           invoice_id=_charged_invoice(conn, org_id, svc.id, old_start, new))


@dataclass(frozen=True)
class PlanChangeQuote:
    """What moving a service from one plan to another on ``on`` books, computed without writing: the
    credit note lines for the old plan's unused billed days and the invoice lines for the new plan's
    (both empty when nothing is prorated: a service not billed past ``on``, a one-off plan), their totals
    as the documents will carry them (VAT per the org's settings), and, for a new plan with another kind
    of period, where its billing restarts (``restart``: the new billed-through day and periods billed)."""
    service_id: int
    old_product_id: int
    new_product_id: int
    old_name: str
    new_name: str
    on: date
    issue_date: date
    currency: str
    kind: str = "upgrade"                        # downgrade when the credit is the bigger
    credit: tuple[LineIn, ...] = ()
    charge: tuple[LineIn, ...] = ()
    credit_total: int = 0
    charge_total: int = 0
    restart: tuple[date, int] | None = None

    @property
    def difference(self) -> int:
        """The new charge less the credit (negative: the customer is owed money)."""
        return self.charge_total - self.credit_total


def quote_plan_change(conn: Connection, org_id: int, svc: Any, old_product_id: int, new_product_id: int,
                      on: date, now: datetime) -> PlanChangeQuote:
    """The proration of moving ``svc`` (a services row: its billed-through day and periods billed) from
    ``old_product_id`` to ``new_product_id`` on ``on`` (see :class:`PlanChangeQuote`); reads only.
    :func:`on_plan_change` books exactly this."""
    st = settings.get(conn, org_id)
    plans = load_plans(conn, org_id, {old_product_id, new_product_id})
    old, new = plans.get(old_product_id), plans.get(new_product_id)
    today = st.today(now)
    none = PlanChangeQuote(svc.id, old_product_id, new_product_id, old.name if old else "", new.name if new else "",
                           on, today, st.currency)
    bt = svc.billed_through
    if bt is None or on >= bt or old_product_id == new_product_id or old is None or new is None:
        return none
    if old.period == "once" or new.period == "once":
        return none
    credit = credit_lines(conn, org_id, svc, old, st, on, bt, "upgrade", "Plan change")
    if (old.period, old.period_days) == (new.period, new.period_days):
        periods = billed_periods(new, st.billing_day, on, bt)
        segs = [Segment(p0, p1, max(on, p0), min(bt, p1)) for p0, p1 in periods]
        charge = charge_lines(new, svc.id, segs, svc.periods_billed - len(segs), kind="upgrade")
        restart = None
    else:
        segs = due_segments(new, st.billing_day, on, today, service_stop(svc), first=True)
        charge = charge_lines(new, svc.id, segs, svc.periods_billed, kind="upgrade")
        restart = (segs[-1].e if segs else on), len(segs)
    kind = "downgrade" if sum(ln.unit_price - ln.discount for ln in credit) > \
        sum(ln.unit_price - ln.discount for ln in charge) else "upgrade"
    credit = [replace(ln, kind=kind) for ln in credit
              if kind == "upgrade" or not _credited(conn, org_id, svc.id, kind, ln.period_start or on)]
    charge = new_lines(conn, org_id, [replace(ln, kind=kind) for ln in charge])

    def total(lines: list[LineIn]) -> int:
        return sum(int(invoices.line_values(ln, st.vat_bp, st.prices_include_vat)["total"])  # type: ignore[call-overload]
                   for ln in lines)
    return replace(none, kind=kind, credit=tuple(credit), charge=tuple(charge), credit_total=total(credit),
                   charge_total=total(charge), restart=restart)


def on_plan_change(conn: Connection, org_id: int, service: Any, old_product_id: int, on: date,
                   now: datetime) -> None:
    """The service moved to ``service.product_id`` from ``old_product_id`` on ``on``:
    credit the old plan's unused days of the billed periods, invoice the new plan's,
    both prorated on the same periods (``downgrade`` when the credit is the bigger,
    ``upgrade`` otherwise).  A new plan with another kind of period starts its
    periods on ``on``.  What is booked is :func:`quote_plan_change`'s quote."""
    svc = _service(conn, org_id, service.id)
    q = quote_plan_change(conn, org_id, svc, old_product_id, svc.product_id, on, now)
    bt = svc.billed_through
    if q.restart is not None and not advance(conn, org_id, svc.id, bt, q.restart[0], q.restart[1]):
        return
    if q.credit:
        credit_notes.issue(conn, org_id, svc.customer_id, list(q.credit), q.issue_date, now, kind=q.kind,
                           reason=f"service {svc.id}: {q.old_name} -> {q.new_name} on {on.isoformat()}",
                           invoice_id=_charged_invoice(conn, org_id, svc.id, on, bt))
    if q.charge:
        invoices.issue(conn, org_id, svc.customer_id, list(q.charge), q.issue_date, now)


def on_cancel(conn: Connection, org_id: int, service: Any, on: date, now: datetime) -> None:
    """The service ends on ``on`` (exclusive): credit the billed days after it."""
    svc = _service(conn, org_id, service.id)
    if svc.billed_through is None or on >= svc.billed_through:
        return
    plan = load_plans(conn, org_id, {svc.product_id})[svc.product_id]
    st = settings.get(conn, org_id)
    lines = credit_lines(conn, org_id, svc, plan, st, on, svc.billed_through, "cancellation",
                         "Cancelled")
    if lines:
        credit_notes.issue(conn, org_id, svc.customer_id, lines, st.today(now), now, kind="cancellation",
                           reason=f"service {svc.id} cancelled from {on.isoformat()}",
                           invoice_id=_charged_invoice(conn, org_id, svc.id, on, svc.billed_through))
