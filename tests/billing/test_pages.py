"""billing's page() functions for the admin API on SQLite and PostgreSQL: products, discounts,
services, a customer's ledger entries with running balances, the timeline, the balance summary;
each scoped by org and keyset-paged."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from aaad import paging
from aaad.errors import NotFound, ValidationError
from billing import catalogue, ledger, services, timeline
from tests.billing.fixtures_c import T0, World, at, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def _all(fn: Any, *a: Any, limit: int, **kw: Any) -> list[Any]:
    """Every item by walking the pages of ``limit``."""
    out: list[Any] = []
    cursor = None
    while True:
        p = fn(*a, cursor=cursor, limit=limit, **kw)
        out += p.items
        if p.next_cursor is None:
            return out
        cursor = p.next_cursor


def test_product_page_filters_sorts_and_stays_in_its_org(world: World) -> None:
    """Products filtered by type, active, on_portal and name; sorted by price descending over pages;
    another org's products are never in a page."""
    for i, (name, type_, price) in enumerate([("Net A", "internet", 300), ("Net B", "internet", 100),
                                              ("Phone", "voice", 200), ("Install", "one_time", 500)]):
        world.tx(catalogue.add_product, world.writer, world.org_id, T0, name=name, type=type_, price=price,
                 on_portal=i != 3)
    other = make_world(world.engine, "other")
    other.internet_product("Net Z")
    world.tx(catalogue.update_product, world.writer, world.org_id,
             world.read(catalogue.product_by_name, world.org_id, "Net B").id, T0, active=False)
    with world.engine.connect() as c:
        def names(**kw: Any) -> list[str]:
            return [p.name for p in _all(catalogue.page, c, world.org_id, limit=1, **kw)]
        assert names() == ["Net A", "Net B", "Phone", "Install"]
        assert names(type="internet") == ["Net A", "Net B"]
        assert names(active=False) == ["Net B"]
        assert names(on_portal=False) == ["Install"]
        assert names(q="net") == ["Net A", "Net B"]
        assert names(sort="-price") == ["Install", "Net A", "Phone", "Net B"]
        with pytest.raises(ValidationError) as e:
            catalogue.page(c, world.org_id, sort="colour")
        assert e.value.field == "sort"


def test_discount_page_and_get_are_scoped(world: World) -> None:
    """Discount rules page by product; another org's rule is not found by id."""
    a = world.internet_product("A")
    b = world.internet_product("B")
    d1 = world.tx(catalogue.add_discount, world.org_id, a, T0, value=1000)
    world.tx(catalogue.add_discount, world.org_id, b, T0, kind="fixed", value=500)
    other = make_world(world.engine, "other")
    od = other.tx(catalogue.add_discount, other.org_id, other.internet_product("Z"), T0, value=100)
    with world.engine.connect() as c:
        assert [d.id for d in catalogue.discount_page(c, world.org_id, product_id=a).items] == [d1.id]
        assert len(_all(catalogue.discount_page, c, world.org_id, limit=1)) == 2
        assert catalogue.get_discount(c, world.org_id, od.id) is None
        assert catalogue.get_discount(c, other.org_id, od.id) == od


def test_service_page_filters_by_customer_state_product_and_login(world: World) -> None:
    """Services filtered by customer, state, product and login name; newest first over pages."""
    p1, p2 = world.internet_product("P1"), world.internet_product("P2")
    c1, s1 = world.subscriber("ann", p1)
    c2, s2 = world.subscriber("bob", p2)
    s3 = world.tx(services.add, world.writer, world.org_id, c1, p2, T0, username="ann-2").id
    world.tx(services.suspend, world.writer, world.org_id, s2, T0, reason="x")
    other = make_world(world.engine, "other")
    other.subscriber("zed", other.internet_product("Z"))
    with world.engine.connect() as c:
        def ids(**kw: Any) -> list[int]:
            return [s.id for s in _all(services.page, c, world.org_id, limit=2, **kw)]
        assert ids() == [s1, s2, s3]
        assert ids(sort="-id") == [s3, s2, s1]
        assert ids(customer_id=c1) == [s1, s3]
        assert ids(state="suspended") == [s2]
        assert ids(state="pending") == [s3]
        assert ids(product_id=p2) == [s2, s3]
        assert ids(username="ann-2") == [s3]
        assert ids(customer_id=c2, state="active") == []


def _scenario(world: World) -> int:
    """A customer with an invoice, a payment that leaves credit, a second invoice paid from credit, an
    adjustment, and another customer's invoice interleaved."""
    cid = world.customer()
    other = world.customer("x-2", "X")
    world.invoice(cid, 100_00, date(2026, 11, 1))
    world.invoice(other, 99_00, date(2026, 11, 2))
    world.pay(cid, 150_00, "P1", now=at(date(2026, 11, 5)))
    world.invoice(cid, 30_00, date(2026, 12, 1))
    world.tx(ledger.apply_credit, world.org_id, cid, date(2026, 12, 1), at(date(2026, 12, 1)))
    world.tx(ledger.adjust, world.org_id, cid, 7_00, "late fee", date(2026, 12, 3), at(date(2026, 12, 3)))
    return cid


def test_ledger_entries_carry_the_running_balance_on_every_page(world: World) -> None:
    """The customer's entries oldest first with receivable/credit changes and the balance after each,
    the same walked one at a time or newest first; the last is ledger.balance; the other customer's
    invoice is absent."""
    cid = _scenario(world)
    with world.engine.connect() as c:
        whole = ledger.entries_page(c, world.org_id, cid, limit=100).items
        assert [(e.kind, e.amount, e.balance) for e in whole] == [
            ("invoice", 100_00, 100_00), ("payment", -150_00, -50_00), ("invoice", 30_00, -20_00),
            ("credit_applied", 0, -20_00), ("adjustment", 7_00, -13_00)]
        assert whole[3].receivable == -30_00 and whole[3].credit == 30_00
        assert whole[-1].balance == ledger.balance(c, world.org_id, cid)
        assert _all(ledger.entries_page, c, world.org_id, cid, limit=1) == whole
        assert _all(ledger.entries_page, c, world.org_id, cid, limit=2, sort="-id") == whole[::-1]
        invoices_only = ledger.entries_page(c, world.org_id, cid, kind="invoice").items
        assert [(e.amount, e.balance) for e in invoices_only] == [(100_00, 100_00), (30_00, -20_00)]


def test_ledger_entries_and_summary_of_an_unknown_customer(world: World) -> None:
    """Another org's customer is NotFound for entries and for the summary."""
    cid = _scenario(world)
    other = make_world(world.engine, "other")
    with world.engine.connect() as c:
        with pytest.raises(NotFound):
            ledger.entries_page(c, other.org_id, cid)
        with pytest.raises(NotFound):
            ledger.summary(c, other.org_id, cid, date(2026, 12, 1))


def test_summary_counts_open_and_overdue_invoices(world: World) -> None:
    """Balance, receivable, credit and open invoices; overdue only past the due date on ``today``."""
    cid = world.customer()
    world.invoice(cid, 100_00, date(2026, 11, 1), due=date(2026, 11, 10))
    world.invoice(cid, 40_00, date(2026, 11, 20), due=date(2026, 12, 4))
    world.pay(cid, 30_00, "P1", now=at(date(2026, 11, 21)))
    with world.engine.connect() as c:
        s = ledger.summary(c, world.org_id, cid, date(2026, 11, 30))
    assert (s.balance, s.receivable, s.credit_available, s.open_invoices) == (110_00, 110_00, 0, 2)
    assert (s.overdue, s.overdue_invoices, s.oldest_due) == (70_00, 1, date(2026, 11, 10))
    with world.engine.connect() as c:
        assert ledger.summary(c, world.org_id, cid, date(2026, 11, 10)).overdue == 0


def test_timeline_pages_cover_the_timeline_once(world: World) -> None:
    """Pages of one item give the timeline; a cursor made for another listing or forged is refused."""
    cid = _scenario(world)
    with world.engine.connect() as c:
        whole = timeline.timeline(c, world.org_id, cid)
        assert _all(timeline.page, c, world.org_id, cid, limit=1) == whole
        assert timeline.page(c, world.org_id, cid, limit=100).next_cursor is None
        for bad in (paging.encode("id", 1, 1), paging.encode("timeline", ["2026-11-01T09:00:00", 0, 1], 1),
                    paging.encode("timeline", "abc", 1), paging.encode("timeline", [None, 0, 1], 1), "!!"):
            with pytest.raises(ValidationError) as e:
                timeline.page(c, world.org_id, cid, cursor=bad)
            assert e.value.field == "cursor"
