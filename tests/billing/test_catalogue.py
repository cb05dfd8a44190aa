"""The catalogue on SQLite and PostgreSQL: an internet product owns its RADIUS profile,
written in the product's transaction; validation names the field; discounts."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from aaad.errors import NotFound, ValidationError
from aaad.view import store
from billing import catalogue
from tests.billing.fixtures_a import D0, T0, World, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def test_internet_product_creates_its_profile(world: World) -> None:
    """add_product writes a profile named after the product with its RADIUS fields."""
    p = world.product("Home 10M", price=25_00, rate_limit="10M/10M", fup_rate_limit="2M/2M",
                      session_timeout=86400, pool="home", address_list="home", interim_interval=300,
                      data_cap=50 * 10**9)
    prof = world.read(store.get_profile, world.org_id, p.profile_id)
    assert prof is not None and prof.name == "Home 10M"
    assert (prof.rate_limit, prof.fup_rate_limit, prof.session_timeout, prof.pool, prof.address_list,
            prof.interim_interval) == ("10M/10M", "2M/2M", 86400, "home", "home", 300)
    assert (p.type, p.price, p.period, p.data_cap, p.taxable, p.zones) == (
        "internet", 25_00, "monthly", 50 * 10**9, True, ())
    assert "profile.changed" in world.event_types()


def test_rolled_back_product_leaves_no_profile(world: World) -> None:
    """The profile is written in the product's transaction: a rollback leaves neither."""
    with world.engine.connect() as c:
        tx = c.begin()
        p = catalogue.add_product(c, world.writer, world.org_id, T0, name="Ghost", type="internet", price=1,
                                  rate_limit="1M/1M")
        assert p.profile_id is not None and store.get_profile(c, world.org_id, p.profile_id) is not None
        tx.rollback()
    assert world.read(store.profile_by_name, world.org_id, "Ghost") is None
    assert world.read(catalogue.product_by_name, world.org_id, "Ghost") is None


def test_update_changes_the_profile_in_the_same_transaction(world: World) -> None:
    """update_product changes the profile with the product; a rollback undoes both."""
    p = world.product()
    with world.engine.connect() as c:
        tx = c.begin()
        catalogue.update_product(c, world.writer, world.org_id, p.id, T0, price=30_00, rate_limit="20M/20M")
        tx.rollback()
    assert world.read(store.get_profile, world.org_id, p.profile_id).rate_limit == "10M/10M"
    assert world.read(catalogue.get_product, world.org_id, p.id).price == 25_00
    q = world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, price=30_00,
                 rate_limit="20M/20M", pool=None, on_portal=False)
    assert (q.price, q.on_portal) == (30_00, False)
    prof = world.read(store.get_profile, world.org_id, p.profile_id)
    assert (prof.rate_limit, prof.pool) == ("20M/20M", None)


def test_changed_data_cap_reaches_the_logins_of_its_services(world: World) -> None:
    """A new data cap is set on the logins of the product's live services, as their owner."""
    p = world.product(data_cap=10**9)
    c = world.customer()
    s = world.service(c.id, p.id, start=D0)
    assert world.login(s.login_id).data_cap == 10**9
    world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, data_cap=5 * 10**9)
    assert world.login(s.login_id).data_cap == 5 * 10**9


def test_non_internet_products_have_no_profile(world: World) -> None:
    """Voice, bundle, recurring and one-time products have no profile; RADIUS fields on
    them are refused by name."""
    v = world.product("Voice", type="voice", price=5_00)
    o = world.product("Router", type="one_time", price=300_00)
    assert v.profile_id is None and (o.period, o.profile_id) == ("once", None)
    with pytest.raises(ValidationError) as e:
        world.product("Voice2", type="voice", rate_limit="1M/1M")
    assert e.value.field == "rate_limit"
    with pytest.raises(ValidationError) as e:
        world.tx(catalogue.update_product, world.writer, world.org_id, v.id, T0, pool="x")
    assert e.value.field == "pool"


@pytest.mark.parametrize("kw,field", [
    ({"type": "satellite"}, "type"),
    ({"price": -1}, "price"),
    ({"price": 1.5}, "price"),
    ({"setup_fee": -5}, "setup_fee"),
    ({"period": "weekly"}, "period"),
    ({"period": "days"}, "period_days"),
    ({"period": "monthly", "period_days": 30}, "period_days"),
    ({"type": "one_time", "period": "monthly"}, "period"),
    ({"period": "once"}, "period"),
    ({"zones": "Osu"}, "zones"),
    ({"name": ""}, "name"),
    ({"rate_limit": "10M 10M x"}, "rate_limit"),
    ({"session_timeout": 0}, "session_timeout"),
    ({"data_cap": -1}, "data_cap"),
])
def test_validation_names_the_field(world: World, kw: dict[str, Any], field: str) -> None:
    """A bad product field is refused with a ValidationError naming it."""
    args = {"name": "P", "type": "internet", "price": 100} | kw
    with pytest.raises(ValidationError) as e:
        world.tx(catalogue.add_product, world.writer, world.org_id, T0, **args)
    assert e.value.field == field


def test_duplicate_name_and_unknown_product(world: World) -> None:
    """Names are unique per org; an unknown product id is NotFound."""
    world.product("Basic", type="recurring")
    with pytest.raises(ValidationError) as e:
        world.product("Basic", type="recurring")
    assert e.value.field == "name"
    with pytest.raises(NotFound):
        world.tx(catalogue.update_product, world.writer, world.org_id, 999, T0, price=1)


def test_prepaid_and_daily_periods(world: World) -> None:
    """A prepaid product has period days and its length; a daily one none."""
    p = world.product("Week", period="days", period_days=7, price=10_00)
    d = world.product("Day", period="daily", price=2_00)
    assert (p.period, p.period_days, d.period, d.period_days) == ("days", 7, "daily", None)
    q = world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, period="monthly")
    assert (q.period, q.period_days) == ("monthly", None)


def test_period_of_a_product_in_use_does_not_change(world: World) -> None:
    """A product with live services keeps its billing period."""
    p = world.product()
    world.service(world.customer().id, p.id)
    with pytest.raises(ValidationError) as e:
        world.tx(catalogue.update_product, world.writer, world.org_id, p.id, T0, period="daily")
    assert e.value.field == "period"


def test_list_products_for_the_portal_and_zones(world: World) -> None:
    """portal_only lists active products shown on the portal; zone those sold there."""
    a = world.product("A", zones=["Osu", "Labone"])
    b = world.product("B", on_portal=False)
    c = world.product("C", active=False)
    names = lambda **kw: [p.name for p in world.read(catalogue.list_products, world.org_id, **kw)]  # noqa: E731
    assert names() == ["A", "B", "C"]
    assert names(portal_only=True) == ["A"]
    assert names(zone="Osu") == ["A", "B", "C"]
    assert names(zone="Tema") == ["B", "C"]
    assert a.zones == ("Labone", "Osu") and not b.on_portal and not c.active


def test_discount_rules(world: World) -> None:
    """Percent (basis points) and fixed discounts for N periods or until a date."""
    p = world.product()
    d1 = world.tx(catalogue.add_discount, world.org_id, p.id, T0, kind="percent", value=1000, periods=3)
    d2 = world.tx(catalogue.add_discount, world.org_id, p.id, T0, kind="fixed", value=5_00,
                  until=date(2027, 1, 1))
    assert world.read(catalogue.discounts_for, world.org_id, p.id) == [d1, d2]
    assert (d1.kind, d1.value, d1.periods, d2.until) == ("percent", 1000, 3, date(2027, 1, 1))
    for kw, field in (({"kind": "half", "value": 1}, "kind"), ({"value": 10_001}, "value"),
                      ({"value": 0}, "value"), ({"value": 10, "periods": 0}, "periods")):
        with pytest.raises(ValidationError) as e:
            world.tx(catalogue.add_discount, world.org_id, p.id, T0, **kw)
        assert e.value.field == field
    other = make_world(world.engine, "other")
    assert other.read(catalogue.discounts_for, other.org_id, p.id) == []
    with pytest.raises(NotFound):
        other.tx(catalogue.add_discount, other.org_id, p.id, T0, value=1)
