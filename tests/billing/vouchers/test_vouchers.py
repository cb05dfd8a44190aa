"""Voucher packages, batches and vouchers: checked input, codes without look-alikes, logins owned by
their vouchers (unused, with the package's limits), revoking one or a batch, selling once per
transaction, a customer's vouchers with passwords, history from accounting, other orgs kept apart."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import NotFound, ValidationError
from aaad.schema import logins
from accounting.schema import sessions as acct_sessions
from billing.vouchers import batches, codes, packages, vouchers
from billing.vouchers.schema import vouchers as vt
from tests.billing.fixtures_a import T0, World
from tests.billing.vouchers.conftest import package, vworld


def _login(w: World, login_id: int) -> Any:
    with w.engine.connect() as c:
        return c.execute(sa.select(logins).where(logins.c.id == login_id)).one()


def test_package_add_shows_price_in_locale_and_makes_profile(world: World) -> None:
    """A package's price is shown in babel's format for the org's locale; a rate limit becomes a profile
    named after the package, with one-minute interims."""
    p = package(world, data_limit=500_000_000, validity_hours=24, shared_users=2)
    assert p.price_text == "GH₵5.00" and p.currency == "GHS"
    assert p.rate_limit == "2M/2M" and p.profile_id is not None
    from aaad.view import store
    prof = world.read(store.get_profile, world.org_id, p.profile_id)
    assert prof.name == "voucher: 1 hour" and prof.interim_interval == 60
    assert p.login_values()["validity_seconds"] == 86400 and p.login_values()["simultaneous_use"] == 2


@pytest.mark.parametrize("kw, field", [
    ({"price": -1}, "price"), ({"name": ""}, "name"), ({"time_limit": 0}, "time_limit"),
    ({"code_length": 5}, "code_length"), ({"prefix": "WI-FI"}, "prefix"), ({"shared_users": 0}, "shared_users"),
    ({"validity_hours": 24, "expires_at": T0 + timedelta(days=9)}, "expires_at"),
    ({"bind_mac": True, "shared_users": 2}, "bind_mac"), ({"profile_id": 999}, "profile_id"),
    ({"rate_limit": ""}, "rate_limit"),
])
def test_package_bad_input_names_field(world: World, kw: dict[str, Any], field: str) -> None:
    """Bad package input is a ValidationError naming the field."""
    if "profile_id" in kw:
        kw["rate_limit"] = None
    with pytest.raises(ValidationError) as e:
        package(world, **kw)
    assert e.value.field == field


def test_package_name_unique_and_update(world: World) -> None:
    """Names are unique in the org; update changes the fields sent and checks them together."""
    p = package(world)
    with pytest.raises(ValidationError) as e:
        package(world)
    assert e.value.field == "name"
    q = world.tx(packages.update, world.org_id, p.id, T0, price=7_50, on_portal=False)
    assert q.price_text == "GH₵7.50" and not q.on_portal
    with pytest.raises(ValidationError):
        world.tx(packages.update, world.org_id, p.id, T0, bind_mac=True, shared_users=3)


def test_batch_creates_vouchers_and_unused_logins(world: World) -> None:
    """A batch writes N vouchers with distinct codes of the package's length and prefix from the
    look-alike-free alphabet, each with a login named by the code, unused, owned by the voucher, carrying
    the package's limits."""
    p = package(world, data_limit=10**9, prefix="CAFE", code_length=6, validity_hours=2)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 50, T0, note="counter")
    assert (b.count, b.package_name, b.note) == (50, "1 hour", "counter")
    vs = world.read(vouchers.list_for_batch, world.org_id, b.id, T0, box=world.box)
    assert len({v.code for v in vs}) == 50
    for v in vs:
        assert v.code.startswith("CAFE") and len(v.code) == 10
        assert set(v.code[4:]) <= set(codes.ALPHABET) and not set(v.code) & set("01OIL")
        assert v.state == "unused" and v.password and v.password != v.code
    lg = _login(world, vs[0].login_id)
    assert (lg.username, lg.state, lg.owner_type, lg.owner_id) == (vs[0].code, "unused", "voucher", vs[0].id)
    assert (lg.time_limit, lg.data_limit, lg.validity_seconds, lg.profile_id) == (3600, 10**9, 7200, p.profile_id)
    assert vs[0].time_left == 3600 and vs[0].data_left == 10**9


def test_batch_overrides_and_errors(world: World) -> None:
    """A batch may set its own code length and prefix; bad counts, unknown and retired packages are refused."""
    p = package(world)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 3, T0, code_length=12, prefix="x9")
    assert all(len(v.code) == 14 and v.code.startswith("X9")
               for v in world.read(vouchers.list_for_batch, world.org_id, b.id))
    for count in (0, batches.MAX_COUNT + 1):
        with pytest.raises(ValidationError) as e:
            world.tx(batches.create, world.writer, world.org_id, p.id, count, T0)
        assert e.value.field == "count"
    with pytest.raises(ValidationError) as e:
        world.tx(batches.create, world.writer, world.org_id, 9999, 1, T0)
    assert e.value.field == "package_id"
    world.tx(packages.update, world.org_id, p.id, T0, active=False)
    with pytest.raises(ValidationError):
        world.tx(batches.create, world.writer, world.org_id, p.id, 1, T0)


def test_codes_avoid_existing_logins(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drawn code that is already a login's name in the org is drawn again."""
    world.tx(world.writer.create, world.org_id, "AAAAAA", "pw", T0)
    drawn = iter(["AAAAAA", "BBBBBB", "CCCCCC"])
    monkeypatch.setattr(codes, "new_codes", lambda n, length, prefix="": [next(drawn) for _ in range(n)])
    assert world.read(codes.unique_codes, world.org_id, 2, 6) == ["BBBBBB", "CCCCCC"]


def test_code_only_password_is_the_code(world: World) -> None:
    """A code-only voucher's password is its code (shown without the secret box)."""
    p = package(world, code_only=True)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 2, T0)
    vs = world.read(vouchers.list_for_batch, world.org_id, b.id)
    assert all(v.password == v.code and v.code_only for v in vs)


def test_revoke_voucher_and_batch(world: World) -> None:
    """Revoking a voucher sets its login revoked as its owner with the reason; revoking a batch revokes
    the rest and stamps the batch; doing either again changes nothing."""
    p = package(world)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 4, T0)
    vs = world.read(vouchers.list_for_batch, world.org_id, b.id)
    v = world.tx(vouchers.revoke, world.writer, world.org_id, vs[0].id, T0)
    assert v.state == "revoked"
    payloads = world.event_payloads("login.state_changed")
    assert payloads[-1]["new"] == "revoked" and payloads[-1]["reason"] == "voucher revoked"
    assert world.tx(vouchers.revoke, world.writer, world.org_id, vs[0].id, T0).state == "revoked"
    assert len(world.event_payloads("login.state_changed")) == 1
    at = T0 + timedelta(hours=1)
    rb = world.tx(batches.revoke, world.writer, world.org_id, b.id, at)
    assert rb.revoked_at == at
    assert {v.state for v in world.read(vouchers.list_for_batch, world.org_id, b.id)} == {"revoked"}
    assert len(world.event_payloads("login.state_changed")) == 4
    assert world.tx(batches.revoke, world.writer, world.org_id, b.id, at).revoked_at == at
    h = world.read(vouchers.history, world.org_id, vs[1].id)
    assert [e.what for e in h.entries] == ["created", "revoked"] and h.entries[-1].at == at


def test_state_expired_after_validity(world: World) -> None:
    """An active voucher whose validity from first use has passed reads as expired; a fixed expiry too."""
    p = package(world, validity_hours=1)
    b = world.tx(batches.create, world.writer, world.org_id, p.id, 1, T0)
    [v] = world.read(vouchers.list_for_batch, world.org_id, b.id)
    with world.engine.begin() as c:
        c.execute(logins.update().where(logins.c.id == v.login_id).values(state="active", first_used_at=T0))
    assert world.read(vouchers.state_of, world.org_id, v.id, T0 + timedelta(minutes=59)) == "active"
    assert world.read(vouchers.state_of, world.org_id, v.id, T0 + timedelta(minutes=60)) == "expired"
    assert vouchers.voucher_state("unused", T0, T0) == "expired"
    assert vouchers.voucher_state("exhausted", None, T0) == "exhausted"


def test_sell_once_per_transaction_and_of_customer(world: World) -> None:
    """Selling gives the customer a new voucher with its password and publishes voucher.sold; the same
    transaction sold again returns the same voucher; of_customer lists them newest first."""
    p = package(world)
    cust = world.customer()
    v = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=cust.id, transaction_id=41)
    assert v.customer_id == cust.id and v.sold_at == T0 and v.password and v.batch_id is None
    again = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=cust.id, transaction_id=41)
    assert again.id == v.id
    sold = world.event_payloads("voucher.sold")
    assert len(sold) == 1 and sold[0]["code"] == v.code and sold[0]["price"] == 5_00
    w2 = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0 + timedelta(minutes=1), customer_id=cust.id)
    mine = world.read(vouchers.of_customer, world.org_id, cust.id, T0, box=world.box)
    assert [m.id for m in mine] == [w2.id, v.id] and mine[1].password == v.password
    assert mine[0].price_text == "GH₵5.00" and mine[0].package_name == "1 hour" and mine[0].state == "unused"
    assert world.read(vouchers.of_customer, world.org_id, cust.id)[0].password is None
    with pytest.raises(ValidationError) as e:
        world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=9999)
    assert e.value.field == "customer_id"
    with pytest.raises(ValidationError) as e:
        world.tx(vouchers.sell, world.writer, world.org_id, 9999, T0, customer_id=cust.id)
    assert e.value.field == "package_id"


def test_portal_packages_and_by_code(world: World) -> None:
    """The portal offers active packages shown on it, cheapest first; a code is found as typed."""
    package(world, name="Day", price=20_00)
    package(world, name="Hour", price=2_00)
    package(world, name="Hidden", price=1_00, on_portal=False)
    gone = package(world, name="Gone", price=1_00)
    world.tx(packages.update, world.org_id, gone.id, T0, active=False)
    assert [p.name for p in world.read(vouchers.portal_packages, world.org_id)] == ["Hour", "Day"]
    assert world.read(vouchers.portal_package_count, world.org_id) == 2
    for active in (None, True, False):       # the count and the listing filter alike
        assert (world.read(packages.count_packages, world.org_id, active=active)
                == len(world.read(packages.list_packages, world.org_id, active=active)))
    hour = world.read(packages.find, world.org_id, "Hour")
    v = world.tx(vouchers.sell, world.writer, world.org_id, hour.id, T0, customer_id=world.customer().id)
    typed = " ".join([v.code[:4].lower(), v.code[4:]])
    assert world.read(vouchers.by_code, world.org_id, typed).id == v.id
    assert world.read(vouchers.find, world.org_id, str(v.id)).code == v.code
    with pytest.raises(NotFound):
        world.read(vouchers.find, world.org_id, "NOPE")


def test_history_with_sessions(world: World) -> None:
    """A voucher's history: created, sold, first use with the bound MAC, and its sessions from
    accounting with their usage."""
    p = package(world, bind_mac=True)
    v = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=world.customer().id)
    t1 = T0 + timedelta(minutes=5)
    with world.engine.begin() as c:
        c.execute(logins.update().where(logins.c.id == v.login_id)
                  .values(state="active", first_used_at=t1, bound_mac="AA-BB-CC-00-11-22"))
        for i, (secs, oin, oout) in enumerate([(600, 1000, 9000), (300, 500, 500)]):
            c.execute(acct_sessions.insert().values(
                session_key=f"k{i}", org_id=world.org_id, nas_id=1, session_id=f"s{i}", login_id=v.login_id,
                username=v.code, start_time=t1 + timedelta(hours=i), last_update=t1 + timedelta(hours=i),
                stop_time=None if i else t1 + timedelta(seconds=secs), input_octets=oin, output_octets=oout,
                session_time=secs, calling_station="AA-BB-CC-00-11-22"))
    h = world.read(vouchers.history, world.org_id, v.id, t1)
    assert [e.what for e in h.entries] == ["created", "sold", "first_use", "session", "session"]
    assert "AA-BB-CC-00-11-22" in h.entries[2].detail and "(running)" in h.entries[-1].detail
    assert (h.session_time, h.octets) == (900, 11000) and h.voucher.state == "active"


def test_other_org_is_apart(vengine: Any) -> None:
    """Another org's packages, batches and vouchers are not found; the same code may exist in both."""
    a, b = vworld(vengine, "a"), vworld(vengine, "b")
    pa = package(a)
    ba = a.tx(batches.create, a.writer, a.org_id, pa.id, 1, T0)
    [va] = a.read(vouchers.list_for_batch, a.org_id, ba.id)
    assert b.read(packages.get, b.org_id, pa.id) is None
    assert b.read(batches.get, b.org_id, ba.id) is None
    assert b.read(vouchers.get, b.org_id, va.id) is None and b.read(vouchers.by_code, b.org_id, va.code) is None
    with pytest.raises(NotFound):
        b.tx(vouchers.revoke, b.writer, b.org_id, va.id, T0)
    with pytest.raises(NotFound):
        b.tx(batches.revoke, b.writer, b.org_id, ba.id, T0)
    with pytest.raises(ValidationError):
        b.tx(batches.create, b.writer, b.org_id, pa.id, 1, T0)
    assert b.read(vouchers.page, b.org_id).items == []


def test_pages(world: World) -> None:
    """Packages, batches and vouchers page with filters and cursors."""
    p = package(world)
    b1 = world.tx(batches.create, world.writer, world.org_id, p.id, 3, T0)
    b2 = world.tx(batches.create, world.writer, world.org_id, p.id, 2, T0)
    world.tx(batches.revoke, world.writer, world.org_id, b2.id, T0)
    assert [b.id for b in world.read(batches.page, world.org_id).items] == [b2.id, b1.id]
    assert [b.id for b in world.read(batches.page, world.org_id, revoked=False).items] == [b1.id]
    first = world.read(vouchers.page, world.org_id, limit=2)
    rest = world.read(vouchers.page, world.org_id, limit=10, cursor=first.next_cursor)
    assert len(first.items) == 2 and len(rest.items) == 3 and rest.next_cursor is None
    assert len(world.read(vouchers.page, world.org_id, batch_id=b1.id).items) == 3
    assert len(world.read(vouchers.page, world.org_id, state="revoked").items) == 2
    assert [x.name for x in world.read(packages.page, world.org_id).items] == ["1 hour"]
    with pytest.raises(ValidationError):
        world.read(vouchers.page, world.org_id, state="lost")


def test_generation_on_both_databases(engine: Any) -> None:
    """A batch and a sale work on SQLite and PostgreSQL alike (ids back in order, logins linked)."""
    w = vworld(engine)
    p = package(w)
    b = w.tx(batches.create, w.writer, w.org_id, p.id, 20, T0)
    vs = w.read(vouchers.list_for_batch, w.org_id, b.id)
    with engine.connect() as c:
        names = dict(c.execute(sa.select(logins.c.owner_id, logins.c.username)
                               .where(logins.c.owner_type == "voucher")).all())
        linked = c.execute(sa.select(sa.func.count()).select_from(vt).where(vt.c.login_id.isnot(None))).scalar()
    assert {v.id: v.code for v in vs} == names and linked == 20
    s = w.tx(vouchers.sell, w.writer, w.org_id, p.id, T0, customer_id=w.customer().id, transaction_id=7)
    assert w.tx(vouchers.sell, w.writer, w.org_id, p.id, T0, customer_id=s.customer_id, transaction_id=7).id == s.id
    assert json.loads(json.dumps(w.event_payloads("voucher.sold")))[0]["transaction_id"] == 7


def test_sell_at_another_price(world: World) -> None:
    """A voucher may be sold for another price than the package's (0: assigned free), recorded and published."""
    p = package(world)
    v = world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=world.customer().id, price=0)
    assert (v.price, v.price_text) == (0, "GH₵0.00") and world.event_payloads("voucher.sold")[0]["price"] == 0
    with pytest.raises(ValidationError) as e:
        world.tx(vouchers.sell, world.writer, world.org_id, p.id, T0, customer_id=v.customer_id, price=-5)
    assert e.value.field == "price"
