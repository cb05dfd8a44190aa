"""billing.money: half-even rounding, VAT per line, discounts, cumulative proration, periods."""
from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from billing import money

prices = st.integers(min_value=0, max_value=10**9)
rates = st.integers(min_value=0, max_value=10_000)


def test_half_even_ties_go_to_even() -> None:
    """Ties round to the even neighbour; others to the nearest."""
    assert [money.div_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert money.div_half_even(7, 3) == 2 and money.div_half_even(8, 3) == 3


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6))
def test_half_even_is_nearest(num: int, den: int) -> None:
    """The result is never more than half a unit from the exact quotient."""
    q = money.div_half_even(num, den)
    assert abs(Fraction(num, den) - q) <= Fraction(1, 2)


def test_vat_exclusive_and_inclusive() -> None:
    """15 % on 10.00 is 1.50; an inclusive 11.50 splits back into 10.00 + 1.50."""
    assert money.line_amounts(1000, 1500, False) == money.Amounts(1000, 150, 1150)
    assert money.line_amounts(1150, 1500, True) == money.Amounts(1000, 150, 1150)
    assert money.line_amounts(999, 0, False) == money.Amounts(999, 0, 999)


@given(prices, rates, st.booleans())
def test_line_net_plus_vat_is_total(price: int, bp: int, inclusive: bool) -> None:
    """A line's net and VAT always add up to its total; inclusive totals equal the price."""
    a = money.line_amounts(price, bp, inclusive)
    assert a.net + a.vat == a.total
    assert a.vat >= 0 and a.net >= 0
    if inclusive:
        assert a.total == price


@given(prices, st.sampled_from(["percent", "fixed"]), st.integers(0, 2 * 10**9))
def test_discount_never_exceeds_price(price: int, kind: str, value: int) -> None:
    """A discount is between nothing and the whole price."""
    assert 0 <= money.discount_amount(price, kind, value) <= price


@given(prices, st.integers(1, 62), st.lists(st.integers(0, 62), max_size=6))
def test_prorated_parts_sum_to_the_whole_price(price: int, days: int, cuts: list[int]) -> None:
    """However a period is cut into parts, their prices sum to the whole price exactly."""
    p0 = date(2026, 1, 1)
    p1 = p0 + timedelta(days=days)
    points = sorted({p0, p1, *(p0 + timedelta(days=min(c, days)) for c in cuts)})
    parts = [money.prorate(price, p0, p1, a, b) for a, b in zip(points, points[1:], strict=False)]
    assert sum(parts) == price
    assert all(x >= 0 for x in parts)


def test_unused_days_of_january() -> None:
    """13 of January's 31 days of a 31.00 plan are 13.00; of 25.00, 10.48 (half-even of 10.4838…)."""
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    assert money.prorate(3100, jan, feb, jan, date(2026, 1, 14)) == 1300
    assert money.prorate(2500, jan, feb, jan, date(2026, 1, 14)) == 1048


def test_monthly_period_and_month_ends() -> None:
    """Periods start on the billing day; adding a month clamps to the month's end."""
    assert money.monthly_period(date(2026, 3, 4), 5) == (date(2026, 2, 5), date(2026, 3, 5))
    assert money.monthly_period(date(2026, 3, 5), 5) == (date(2026, 3, 5), date(2026, 4, 5))
    assert money.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert money.add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert money.fixed_period(date(2026, 1, 1), date(2026, 1, 31), 30) == (date(2026, 1, 31), date(2026, 3, 2))
