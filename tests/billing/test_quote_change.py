"""The proration quote of a plan change (billing.services.quote_change) is what the change then books:
the credit note's lines and total, the invoice's lines and total, where billing restarts — for any
prices, periods, VAT setting, start day, change day and clock (a property, on both databases); and it
changes nothing, refuses what change_plan refuses, and quotes nothing for a pending service."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaad.errors import ValidationError
from billing import charges, credit_notes, invoices, services
from billing.schema import credit_notes as cn_t
from billing.schema import invoices as inv_t
from billing.schema import services as services_t
from tests.billing.fixtures_a import D0, T0, World, make_world

_SLUGS = itertools.count(1)
PERIODS = st.sampled_from([("monthly", None), ("days", 30), ("days", 7), ("daily", None)])


def _docs(w: World) -> tuple[set[int], set[int]]:
    with w.engine.connect() as c:
        return (set(c.execute(sa.select(inv_t.c.id).where(inv_t.c.org_id == w.org_id)).scalars()),
                set(c.execute(sa.select(cn_t.c.id).where(cn_t.c.org_id == w.org_id)).scalars()))


def _key(ln: Any) -> tuple[Any, ...]:
    return (ln.kind, ln.period_start, ln.period_end, ln.description)


def _quoted(q: charges.PlanChangeQuote, lines: tuple[invoices.LineIn, ...]) -> list[tuple[Any, ...]]:
    return sorted((ln.kind, ln.period_start, ln.period_end, ln.description) for ln in lines)


def check_quote_is_booked(w: World, sid: int, product_id: int, now: datetime, on: Any) -> charges.PlanChangeQuote:
    """Quote, change, and compare what was booked with the quote."""
    inv_before, cn_before = _docs(w)
    q = w.tx(services.quote_change, w.org_id, sid, product_id, now, on=on)
    assert _docs(w) == (inv_before, cn_before), "a quote writes nothing"
    w.tx(services.change_plan, w.writer, w.org_id, sid, product_id, now, on=on)
    inv_after, cn_after = _docs(w)
    new_inv, new_cn = inv_after - inv_before, cn_after - cn_before
    with w.engine.connect() as c:
        booked_inv = [invoices.get(c, w.org_id, i) for i in new_inv]
        booked_cn = [credit_notes.get(c, w.org_id, i) for i in new_cn]
        row = c.execute(sa.select(services_t).where(services_t.c.id == sid)).one()
    assert len(booked_inv) == (1 if q.charge else 0) and len(booked_cn) == (1 if q.credit else 0)
    assert sum(i.total for i in booked_inv if i) == q.charge_total
    assert sum(n.total for n in booked_cn if n) == q.credit_total
    assert sorted(_key(ln) for i in booked_inv if i for ln in i.lines) == _quoted(q, q.charge)
    assert sorted(_key(ln) for n in booked_cn if n for ln in n.lines) == _quoted(q, q.credit)
    assert all(n.kind == q.kind for n in booked_cn if n)
    if q.restart is not None:
        assert row.billed_through == q.restart[0]
    return q


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old_price=st.integers(1, 200_000), new_price=st.integers(1, 200_000), old_period=PERIODS,
       new_period=PERIODS, vat_bp=st.sampled_from([0, 1250, 1500]), inclusive=st.booleans(),
       start=st.integers(0, 40), change=st.integers(0, 45), late=st.integers(0, 40), back=st.booleans())
def test_the_quote_is_what_the_change_books(engine: Any, old_price: int, new_price: int, old_period: Any,
                                            new_period: Any, vat_bp: int, inclusive: bool, start: int, change: int,
                                            late: int, back: bool) -> None:
    """Whatever the plans and days, quote_change's credit, charge, totals and restart are what change_plan
    books at once after (and again for a second change back to the first plan)."""
    w = make_world(engine, slug=f"q{next(_SLUGS)}", vat_bp=vat_bp, prices_include_vat=inclusive)
    a = w.product("Old", price=old_price, period=old_period[0], period_days=old_period[1])
    b = w.product("New", price=new_price, period=new_period[0], period_days=new_period[1])
    s = w.service(w.customer().id, a.id)
    begin = D0 + timedelta(days=start)
    w.tx(services.approve, w.writer, w.org_id, s.id, begin, T0 + timedelta(days=start))
    on = begin + timedelta(days=change)
    now = T0 + timedelta(days=start + change + late)
    check_quote_is_booked(w, s.id, b.id, now, on)
    if back:
        check_quote_is_booked(w, s.id, a.id, now + timedelta(days=3), on + timedelta(days=3))


@pytest.mark.parametrize("vat_bp", [0, 1500])
def test_an_upgrade_mid_month_is_quoted_then_booked(engine: Any, vat_bp: int) -> None:
    """A monthly 31-day plan moved up on the 11th: the credit is 21 days of the old price, the charge 21
    days of the new (VAT added as the documents add it), kind upgrade."""
    w = make_world(engine, slug=f"q{next(_SLUGS)}", vat_bp=vat_bp, prices_include_vat=False)
    a, b = w.product("10M", price=3100), w.product("50M", price=6200)
    s = w.service(w.customer().id, a.id)
    dec1 = D0 + timedelta(days=30)                      # 2026-12-01: a 31-day month
    w.tx(services.approve, w.writer, w.org_id, s.id, dec1, T0 + timedelta(days=30))
    on = dec1 + timedelta(days=10)
    q = check_quote_is_booked(w, s.id, b.id, T0 + timedelta(days=40), on)
    vat = 1 + vat_bp / 10_000
    assert (q.kind, q.credit_total, q.charge_total) == ("upgrade", round(2100 * vat), round(4200 * vat))
    assert q.difference == q.charge_total - q.credit_total > 0 and q.currency == "GHS"


def test_quote_refuses_what_change_plan_refuses_and_a_pending_service_costs_nothing(engine: Any) -> None:
    """The same product, another type, a day before the start: the same field errors; a pending service's
    quote is empty."""
    w = make_world(engine, slug=f"q{next(_SLUGS)}")
    a, b = w.product("10M"), w.product("50M")
    voice = w.product("Voice", type="voice", price=1)
    s = w.service(w.customer().id, a.id)
    q = w.tx(services.quote_change, w.org_id, s.id, b.id, T0)
    assert (q.credit, q.charge, q.credit_total, q.charge_total, q.new_name) == ((), (), 0, 0, "50M")
    w.tx(services.approve, w.writer, w.org_id, s.id, D0, T0)
    for pid, on, fld in ((a.id, None, "product"), (voice.id, None, "product"), (b.id, D0 - timedelta(days=1), "on")):
        with pytest.raises(ValidationError) as e:
            w.tx(services.quote_change, w.org_id, s.id, pid, T0, on=on)
        assert e.value.field == fld
