"""Money arithmetic: pure functions on integer minor units.

Rounding is half-even ("banker's rounding") and happens once per invoice
line: a line's net amount, then its VAT, are each rounded to the minor unit;
an invoice's totals are the exact sums of its lines.  VAT rates are basis
points (1500 = 15 %).  With prices exclusive of VAT a line's VAT is
``round(net * bp / 10000)``; with prices inclusive the gross is kept and
``net = round(gross * 10000 / (10000 + bp))``, VAT being the difference,
so the customer pays exactly the advertised price.

Proration is by actual days.  A part ``[s, e)`` of a period ``[p0, p1)``
costs ``R(price * (e - p0) / D) - R(price * (s - p0) / D)`` where ``D`` is
the period's length in days and ``R`` rounds half-even: cumulative rounding,
so the parts of a period always sum to the whole price, no cent lost or
created, however the period is cut.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from babel.numbers import get_currency_precision

from aaad.errors import ValidationError

BP = 10_000  # basis points in 100 %


def div_half_even(num: int, den: int) -> int:
    """``num / den`` rounded to the nearest integer, ties to even (den > 0)."""
    if den <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q


@dataclass(frozen=True)
class Amounts:
    """One line's money: net (excluding VAT), VAT and total, in minor units."""
    net: int
    vat: int
    total: int


def line_amounts(price: int, vat_bp: int, inclusive: bool) -> Amounts:
    """Split one line's price (after discount) into net, VAT and total."""
    if vat_bp < 0:
        raise ValueError("VAT rate cannot be negative")
    if inclusive:
        net = div_half_even(price * BP, BP + vat_bp)
        return Amounts(net, price - net, price)
    vat = div_half_even(price * vat_bp, BP)
    return Amounts(price, vat, price + vat)


def discount_amount(price: int, kind: str, value: int) -> int:
    """The discount on ``price``: ``percent`` (value in basis points, half-even) or
    ``fixed`` (minor units), never more than the price itself."""
    if kind == "percent":
        d = div_half_even(price * value, BP)
    elif kind == "fixed":
        d = value
    else:
        raise ValueError(f"unknown discount kind {kind!r}")
    return max(0, min(price, d))


def prorate(price: int, period_start: date, period_end: date, part_start: date, part_end: date) -> int:
    """The price of the days ``[part_start, part_end)`` of the period
    ``[period_start, period_end)`` (cumulative half-even rounding, see the module docstring)."""
    days = (period_end - period_start).days
    if days <= 0:
        raise ValueError("empty period")
    s = min(max(part_start, period_start), period_end)
    e = min(max(part_end, s), period_end)
    return (div_half_even(price * (e - period_start).days, days)
            - div_half_even(price * (s - period_start).days, days))


# -- calendar periods -----------------------------------------------------------------

def add_months(d: date, months: int, day: int | None = None) -> date:
    """``d`` moved by ``months``, on ``day`` (default ``d.day``) clamped to the month's length."""
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    want = d.day if day is None else day
    return date(y, m, min(want, calendar.monthrange(y, m)[1]))


def monthly_period(d: date, billing_day: int) -> tuple[date, date]:
    """The monthly billing period ``[start, end)`` containing ``d``, periods starting
    on ``billing_day`` (1–28) of each month."""
    if not 1 <= billing_day <= 28:
        raise ValueError("billing day must be 1..28")
    start = date(d.year, d.month, billing_day)
    if d < start:
        start = add_months(start, -1)
    return start, add_months(start, 1)


def fixed_period(anchor: date, d: date, days: int) -> tuple[date, date]:
    """The ``days``-long period ``[start, end)`` containing ``d``, periods counted from ``anchor``."""
    if days <= 0:
        raise ValueError("period length must be positive")
    n = (d - anchor).days // days
    start = anchor + timedelta(days=n * days)
    return start, start + timedelta(days=days)


# -- amounts as people write them ------------------------------------------------------

_AMOUNT_RE = re.compile(r"-?[0-9]+(\.[0-9]*)?|-?\.[0-9]+")
_GROUPED_RE = re.compile(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")


def exponent(currency: str) -> int:
    """The number of minor-unit digits of ``currency`` (USD 2, JPY 0, KWD 3), from CLDR."""
    return int(get_currency_precision(currency.upper()))


def parse_amount(text: str, currency: str, field: str = "amount", negative: bool = False) -> int:
    """``"25.00"`` in ``currency`` as integer minor units (2500): digits with an optional
    ``.`` and at most the currency's number of decimals, thousands grouped by ``,`` or
    not, no currency symbol; ValidationError(``field``) otherwise, or if negative
    unless ``negative``."""
    t = text.strip()
    if _GROUPED_RE.fullmatch(t):
        t = t.replace(",", "")
    if not _AMOUNT_RE.fullmatch(t):
        raise ValidationError(field, f"{text!r} is not an amount like 25.00")
    d = Decimal(t)
    e = exponent(currency)
    minor = d.scaleb(e)
    if minor != minor.to_integral_value():
        raise ValidationError(field, f"{text!r} has more than {e} decimal(s) for {currency.upper()}")
    if minor < 0 and not negative:
        raise ValidationError(field, "must not be negative")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """Integer minor units as a plain decimal in ``currency`` (2500 -> ``"25.00"``; no
    symbol, no grouping, no locale: for machines and the command line)."""
    e = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10 ** e)
    return f"{sign}{whole}.{frac:0{e}d}" if e else f"{sign}{whole}"
