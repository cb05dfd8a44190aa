"""A customer's timeline on SQLite and PostgreSQL: every money movement in time
order with the running balance, which ends at the ledger's balance."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from aaad.errors import NotFound
from billing import ledger, timeline
from tests.billing.fixtures_c import World, at, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def test_money_movements_in_order_with_running_balance(world: World) -> None:
    """Invoices, payments, credit applied, refunds and adjustments, oldest first; the
    running balance ends at the ledger's balance; another customer's rows are absent."""
    c = world.customer()
    other = world.customer("x-2", "X")
    world.invoice(other, 99_00)
    i1 = world.invoice(c, 100_00, date(2026, 11, 1))
    world.pay(c, 150_00, "P1", now=at(date(2026, 11, 5)))                      # 50 to credit
    i2 = world.invoice(c, 30_00, date(2026, 12, 1))                            # paid from credit
    world.refund(c, 5_00, now=at(date(2026, 12, 2)), reason="asked")
    world.tx(ledger.adjust, world.org_id, c, 7_00, "late fee waived back", date(2026, 12, 3),
             at(date(2026, 12, 3)))
    items = world.read(timeline.timeline, world.org_id, c)
    assert [(i.kind, i.ref, i.amount, i.balance) for i in items] == [
        ("invoice", i1.number, 100_00, 100_00),
        ("payment", "RC-000001", -150_00, -50_00),
        ("invoice", i2.number, 30_00, -20_00),
        ("credit_applied", items[3].ref, None, None),
        ("refund", items[4].ref, 5_00, -15_00),
        ("adjustment", items[5].ref, 7_00, -8_00),
    ]
    assert items[-1].balance == world.balance(c)
    assert "30 " not in items[3].description and "3000 of customer credit" in items[3].description
    assert "reference P1" in items[1].description and "asked" in items[4].description
    assert items[0].at == at(date(2026, 11, 1))


def test_unknown_customer(world: World) -> None:
    """A customer of another org is not found."""
    c = world.customer()
    other = make_world(world.engine, "other")
    with pytest.raises(NotFound):
        other.read(timeline.timeline, other.org_id, c)
