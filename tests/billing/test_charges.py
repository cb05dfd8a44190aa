"""What a service's life costs: the activation invoice (prorated first period, setup
fee, one-time price), the 01/01 -> 14/01 credit note, plan changes up and down,
cancellation, discounts, hooks repeated without charging twice; properties of the
proration and discount arithmetic."""
from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from billing import charges, credit_notes, invoices, ledger, money
from billing.schema import credit_notes as cn_t
from billing.schema import invoices as inv_t
from tests.billing.fixtures_b import at, invoice, note, world

D = date


def all_invoices(w: Any) -> list[invoices.Invoice]:
    with w.engine.connect() as c:
        ids = c.execute(sa.select(inv_t.c.id).where(inv_t.c.org_id == w.org_id).order_by(inv_t.c.seq)).scalars()
        return [invoice(c, w.org_id, i) for i in ids]


def all_notes(w: Any) -> list[credit_notes.CreditNote]:
    with w.engine.connect() as c:
        ids = c.execute(sa.select(cn_t.c.id).where(cn_t.c.org_id == w.org_id).order_by(cn_t.c.seq)).scalars()
        return [note(c, w.org_id, i) for i in ids]


def lines(inv: Any) -> list[tuple[str, Any, Any, int, int, int]]:
    return [(ln.kind, ln.period_start, ln.period_end, ln.unit_price, ln.discount, ln.total) for ln in inv.lines]


def books_clean(w: Any) -> None:
    with w.engine.connect() as c:
        assert ledger.check(c, w.org_id) == []


def test_activation_bills_prorated_first_month_and_setup_fee(engine: Any) -> None:
    """A monthly service starting 14/01 is invoiced the setup fee and 18/31 of January at once."""
    w = world(engine, vat_bp=1500)
    p = w.product("Fibre", 3100, setup_fee=500)
    sid = w.service(w.customer("Ann"), p, D(2027, 1, 14))
    [inv] = all_invoices(w)
    # 3100 * 18 / 31 = 1800 exactly; VAT 15 % per line.
    assert lines(inv) == [("setup", D(2027, 1, 14), None, 500, 0, 575),
                          ("proration", D(2027, 1, 14), D(2027, 2, 1), 1800, 0, 2070)]
    assert (inv.subtotal, inv.vat, inv.total, inv.issue_date) == (2300, 345, 2645, D(2027, 1, 14))
    s = w.svc(sid)
    assert (s.billed_through, s.periods_billed) == (D(2027, 2, 1), 1)
    books_clean(w)


def test_days_daily_and_one_time_first_invoices(engine: Any) -> None:
    """Prepaid N days and daily services are billed a whole period from their start; a one-time product once."""
    w = world(engine)
    c = w.customer("Bo")
    s30 = w.service(c, w.product("30 days", 1500, period="days", period_days=30), D(2027, 3, 10))
    s1 = w.service(c, w.product("Day pass", 100, period="daily"), D(2027, 3, 10))
    w.service(c, w.product("Router", 4000, period="once"), D(2027, 3, 10))
    a, b, r = all_invoices(w)
    assert lines(a) == [("recurring", D(2027, 3, 10), D(2027, 4, 9), 1500, 0, 1500)]
    assert lines(b) == [("recurring", D(2027, 3, 10), D(2027, 3, 11), 100, 0, 100)]
    assert lines(r) == [("one_time", D(2027, 3, 10), None, 4000, 0, 4000)]
    assert w.svc(s30).billed_through == D(2027, 4, 9)
    assert w.svc(s1).billed_through == D(2027, 3, 11)


def test_activation_in_the_past_catches_up_every_due_period(engine: Any) -> None:
    """Approved on 05/03 from 14/01: one invoice for the rest of January, February and March."""
    w = world(engine)
    sid = w.service(w.customer("Cy"), w.product("Fibre", 3100), D(2027, 1, 14), now=at(D(2027, 3, 5)))
    [inv] = all_invoices(w)
    assert [(k, s, e, t) for k, s, e, _, _, t in lines(inv)] == [
        ("proration", D(2027, 1, 14), D(2027, 2, 1), 1800), ("recurring", D(2027, 2, 1), D(2027, 3, 1), 3100),
        ("recurring", D(2027, 3, 1), D(2027, 4, 1), 3100)]
    assert w.svc(sid).periods_billed == 3


def test_start_moved_from_01_01_to_14_01_credits_exactly_13_days(engine: Any) -> None:
    """Paid for January on 01/01, actual start approved as 14/01: credit note of 2999*13/31 half-even."""
    w = world(engine)
    cid = w.customer("Dee")
    sid = w.service(cid, w.product("Fibre", 2999), D(2027, 1, 1))
    [inv] = all_invoices(w)
    assert inv.total == 2999
    s = w.set_service(sid, start_date=D(2027, 1, 14))
    w.tx(charges.on_start_moved, w.org_id, s, D(2027, 1, 1), at(D(2027, 1, 14)))
    w.tx(charges.on_start_moved, w.org_id, s, D(2027, 1, 1), at(D(2027, 1, 15)))   # repeated: once
    [cn] = all_notes(w)
    # 2999 * 13 / 31 = 1257.645... -> 1258
    assert (cn.kind, cn.total, cn.invoice_id) == ("unused_days", 1258, inv.id)
    assert [(ln.period_start, ln.period_end, ln.net) for ln in cn.lines] == [(D(2027, 1, 1), D(2027, 1, 14), 1258)]
    with engine.connect() as c:
        assert invoice(c, w.org_id, inv.id).paid == 1258      # allocated to the open invoice
        assert ledger.balance(c, w.org_id, cid) == 2999 - 1258
    books_clean(w)


def test_plan_change_up_and_down_mid_month(engine: Any) -> None:
    """Upgrade on 11/01 and downgrade on 21/01 each credit the old plan's and invoice the new plan's
    rest of January, prorated on the month; the downgrade's credit note is the bigger."""
    w = world(engine)
    cid = w.customer("Eve")
    small, big = w.product("10M", 3100), w.product("50M", 6200)
    sid = w.service(cid, small, D(2027, 1, 1))
    s = w.set_service(sid, product_id=big)
    w.tx(charges.on_plan_change, w.org_id, s, small, D(2027, 1, 11), at(D(2027, 1, 11)))
    s = w.set_service(sid, product_id=small)
    w.tx(charges.on_plan_change, w.org_id, s, big, D(2027, 1, 21), at(D(2027, 1, 21)))
    w.tx(charges.on_plan_change, w.org_id, s, big, D(2027, 1, 21), at(D(2027, 1, 21)))  # repeated: once
    first, up, down = all_invoices(w)
    n_up, n_down = all_notes(w)
    # 21 days of 31: small 3100*21/31 = 2100, big 6200*21/31 = 4200; 11 days: 1100 and 2200.
    assert (n_up.kind, n_up.total, lines(up)) == ("upgrade", 2100,
                                                  [("upgrade", D(2027, 1, 11), D(2027, 2, 1), 4200, 0, 4200)])
    assert (n_down.kind, n_down.total, lines(down)) == ("downgrade", 2200,
                                                        [("downgrade", D(2027, 1, 21), D(2027, 2, 1), 1100, 0, 1100)])
    assert n_down.total > down.total
    with engine.connect() as c:
        # January: 10 days small (1000) + 10 days big (2000) + 11 days small (1100)
        assert ledger.balance(c, w.org_id, cid) == 4100
    books_clean(w)


def test_cancel_at_once_credits_the_billed_days_after_the_end(engine: Any) -> None:
    """Cancelled from 10/02 on a February already billed: credit 19 of 28 days; once."""
    w = world(engine)
    cid = w.customer("Fay")
    sid = w.service(cid, w.product("Fibre", 2800), D(2027, 2, 1))
    s = w.set_service(sid, state="cancelled", end_date=D(2027, 2, 9))
    for _ in range(2):
        w.tx(charges.on_cancel, w.org_id, s, D(2027, 2, 10), at(D(2027, 2, 10)))
    [cn] = all_notes(w)
    assert (cn.kind, cn.total) == ("cancellation", 1900)
    with engine.connect() as c:
        assert ledger.balance(c, w.org_id, cid) == 900
    books_clean(w)


def test_cancel_at_period_end_credits_nothing(engine: Any) -> None:
    """A cancellation at the end of the billed period has no unused days."""
    w = world(engine)
    sid = w.service(w.customer("Gus"), w.product("Fibre", 2800), D(2027, 2, 1))
    s = w.set_service(sid, cancel_at=D(2027, 3, 1))
    w.tx(charges.on_cancel, w.org_id, s, D(2027, 3, 1), at(D(2027, 2, 10)))
    assert all_notes(w) == []


def test_discounts_first_periods_percent_and_fixed(engine: Any) -> None:
    """50 % off the first two periods plus 100 off until 01/03: per line, prorated with the period."""
    w = world(engine)
    p = w.product("Promo", 3100, rules=({"kind": "percent", "value": 5000, "periods": 2},
                                        {"kind": "fixed", "value": 100, "until": D(2027, 3, 1)}))
    w.service(w.customer("Hal"), p, D(2027, 1, 11))
    [inv] = all_invoices(w)
    # 21/31 of 3100 = 2100; share 1/2 + 100/3100 -> discount 2100*(1550+100)/3100 = 1117.74 -> 1118
    assert lines(inv) == [("proration", D(2027, 1, 11), D(2027, 2, 1), 2100, 1118, 982)]


def test_credit_after_discount_is_the_complement_of_the_charge(engine: Any) -> None:
    """A discounted month credited for its last 10 days leaves what 21 days alone cost."""
    w = world(engine)
    p = w.product("Promo", 3100, rules=({"kind": "percent", "value": 3333, "periods": 1},))
    cid = w.customer("Ida")
    sid = w.service(cid, p, D(2027, 1, 1))
    s = w.set_service(sid, state="cancelled")
    w.tx(charges.on_cancel, w.org_id, s, D(2027, 1, 22), at(D(2027, 1, 22)))
    [inv] = all_invoices(w)
    [cn] = all_notes(w)
    g, d = charges.segment_amounts(3100, Fraction(3333, 10000), D(2027, 1, 1), D(2027, 2, 1),
                                   D(2027, 1, 1), D(2027, 1, 22))
    assert inv.total - cn.total == g - d


# -- properties ------------------------------------------------------------------------

dates = st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31))


@given(price=st.integers(0, 10**9), start=dates, length=st.integers(1, 400),
       cuts=st.lists(st.integers(0, 400), max_size=8))
def test_prorated_parts_of_a_period_sum_to_the_price(price: int, start: date, length: int, cuts: list[int]) -> None:
    """However a period is cut, money.prorate's parts sum to the whole price: no cent lost or created."""
    end = start + timedelta(days=length)
    points = sorted({start, end, *(start + timedelta(days=min(c, length)) for c in cuts)})
    parts = [money.prorate(price, start, end, a, b) for a, b in zip(points, points[1:], strict=False)]
    assert sum(parts) == price
    assert all(p >= 0 for p in parts)


@given(price=st.integers(1, 10**7), pct=st.integers(0, 10000), fixed=st.integers(0, 10**7), start=dates,
       length=st.integers(1, 62), cuts=st.lists(st.integers(0, 62), max_size=6))
def test_discounted_parts_sum_to_the_discounted_whole(price: int, pct: int, fixed: int, start: date, length: int,
                                                      cuts: list[int]) -> None:
    """Discounted parts of a period: each part's discount within its price, and prices and
    discounts of the parts sum to the whole period's, which are discount_amount's."""
    plan = charges.Plan(1, "p", price, True, "days", length, 0,
                        (charges.Rule("percent", pct, None, None), charges.Rule("fixed", fixed, None, None)))
    share = charges.discount_share(plan, 0, start)
    end = start + timedelta(days=length)
    points = sorted({start, end, *(start + timedelta(days=min(c, length)) for c in cuts)})
    parts = [charges.segment_amounts(price, share, start, end, a, b) for a, b in zip(points, points[1:], strict=False)]
    assert all(0 <= d <= g for g, d in parts)
    assert sum(g for g, _ in parts) == price
    whole = min(price, money.discount_amount(price, "percent", pct) + money.discount_amount(price, "fixed", fixed))
    assert sum(d for _, d in parts) == whole


def test_prices_including_vat_credit_the_same_share(engine: Any) -> None:
    """With prices including 15 % VAT the 13 days of January credit R(2999*13/31) gross too,
    VAT split back out of it."""
    w = world(engine, vat_bp=1500, prices_include_vat=True)
    sid = w.service(w.customer("Vi"), w.product("Fibre", 2999), D(2027, 1, 1))
    s = w.set_service(sid, start_date=D(2027, 1, 14))
    w.tx(charges.on_start_moved, w.org_id, s, D(2027, 1, 1), at(D(2027, 1, 14)))
    [inv] = all_invoices(w)
    [cn] = all_notes(w)
    # net = R(1258 * 10000 / 11500) = R(1093.91) = 1094; VAT 164
    assert (inv.total, cn.total, cn.subtotal, cn.vat) == (2999, 1258, 1094, 164)
    books_clean(w)


def test_credit_never_exceeds_what_was_charged(engine: Any) -> None:
    """The product's price went up after the period was billed: cancelling credits at most
    what was charged and not yet credited for the period."""
    from billing.schema import products
    w = world(engine)
    pid = w.product("Fibre", 1000)
    sid = w.service(w.customer("Wu"), pid, D(2027, 1, 1))
    with engine.begin() as c:
        c.execute(products.update().where(products.c.id == pid).values(price=100_000))
    s = w.set_service(sid, state="cancelled")
    w.tx(charges.on_cancel, w.org_id, s, D(2027, 1, 2), at(D(2027, 1, 2)))
    [cn] = all_notes(w)
    assert cn.total == 1000
    books_clean(w)
