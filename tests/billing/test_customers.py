"""Customers on SQLite and PostgreSQL: phone and e-mail normalised and unique per org,
usernames generated from the name, closing keeps history, portal passwords."""
from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import NotFound, ValidationError
from billing import customers, services
from billing.schema import customers as customers_t
from billing.schema import service_log
from billing.schema import services as services_t
from tests.billing.fixtures_a import D0, T0, World, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def test_phone_is_normalised_to_e164_with_the_org_country(world: World) -> None:
    """0540000000, 540000000 and +233 54 000 0000 are one Ghana number, stored in E.164."""
    c = world.customer(phone="0540000000")
    assert c.phone == "+233540000000"
    for other in ("540000000", "+233 54 000 0000"):
        with pytest.raises(ValidationError) as e:
            world.customer("Jane Roe", phone=other)
        assert e.value.field == "phone"
    assert world.read(customers.find, world.org_id, "540000000") == c


def test_invalid_phone_names_the_field(world: World) -> None:
    """A number that is not valid in the org's country is refused with field phone."""
    for bad in ("12", "not a number", "+15555550123"):
        with pytest.raises(ValidationError) as e:
            world.customer(phone=bad)
        assert e.value.field == "phone"


def test_email_is_lower_cased_validated_and_unique(world: World) -> None:
    """E-mail is stored lower-case; the same address in another case is a duplicate."""
    c = world.customer(email=" John.Doe@Example.COM ")
    assert c.email == "john.doe@example.com"
    with pytest.raises(ValidationError) as e:
        world.customer("Other", email="JOHN.DOE@example.com")
    assert e.value.field == "email"
    with pytest.raises(ValidationError) as e:
        world.customer("Other", email="no-at-sign")
    assert e.value.field == "email"


def test_unique_constraint_backs_the_check(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even past the check (a racing transaction), the unique constraint refuses a
    duplicate and the error still names the field; the transaction stays usable."""
    world.customer(email="a@example.com", phone="0540000000")
    monkeypatch.setattr(customers, "_check_unique", lambda *a, **kw: None)
    cases: list[tuple[str, dict[str, Any]]] = [("email", {"email": "a@example.com"}),
                                               ("phone", {"phone": "540000000"})]
    for field, kw in cases:
        with world.engine.begin() as c:
            with pytest.raises(ValidationError) as e:
                customers.add(c, world.org_id, T0, name="B", **kw)
            assert e.value.field == field
            customers.add(c, world.org_id, T0, name="Still works")
    assert len(world.read(customers.list_customers, world.org_id)) == 3


def test_same_phone_and_email_in_another_org(world: World) -> None:
    """Uniqueness is per org: another org may have the same phone and e-mail."""
    world.customer(email="a@example.com", phone="0540000000")
    other = make_world(world.engine, "other")
    c = other.customer(email="a@example.com", phone="0540000000")
    assert c.org_id == other.org_id
    assert world.read(customers.get, world.org_id, c.id) is None


def test_username_is_slug_and_four_digits_retrying_on_collision(world: World) -> None:
    """john-doe-NNNN from the name with the injected random source; the same digits again
    are retried until free."""
    a = world.customer("John Doe", seed=7)
    expected = f"john-doe-{random.Random(7).randrange(10_000):04d}"
    assert a.username == expected
    b = world.customer("John  Doe!", seed=7)
    assert b.username != a.username and b.username.startswith("john-doe-") and len(b.username) == 13
    assert customers.slug("Zoë Ama-Kofi O'Brien") == "zoe-ama-kofi-o-brien"
    assert customers.slug("李") == "customer"


def test_add_publishes_customer_created(world: World) -> None:
    """customer.created carries id, username and name."""
    c = world.customer("Ama Owusu", custom_fields={"ghana_card": "GHA-1"})
    assert c.custom_fields == {"ghana_card": "GHA-1"} and c.status == "active"
    (p,) = world.event_payloads("customer.created")
    assert p == {"customer_id": c.id, "username": c.username, "name": "Ama Owusu"}


def test_bad_fields_name_the_field(world: World) -> None:
    """Empty name, a non-object custom_fields and a closed status are refused by field."""
    for kw, field in (({"name": " "}, "name"), ({"name": "x", "custom_fields": [1]}, "custom_fields"),
                      ({"name": "x", "status": "closed"}, "status")):
        with pytest.raises(ValidationError) as e:
            world.tx(customers.add, world.org_id, T0, **kw)
        assert e.value.field == field


def test_update_applies_the_same_checks(world: World) -> None:
    """update normalises and checks uniqueness against the other customers only."""
    a = world.customer(email="a@example.com", phone="0540000000")
    b = world.customer("B", email="b@example.com")
    same = world.tx(customers.update, world.org_id, a.id, T0, phone="540000000", zone="Osu")
    assert same.phone == "+233540000000" and same.zone == "Osu"
    with pytest.raises(ValidationError) as e:
        world.tx(customers.update, world.org_id, b.id, T0, phone="+233540000000")
    assert e.value.field == "phone"
    with pytest.raises(ValidationError) as e:
        world.tx(customers.update, world.org_id, b.id, T0, email="A@example.com")
    assert e.value.field == "email"
    with pytest.raises(NotFound):
        world.tx(customers.update, world.org_id, 999, T0, name="x")


def test_find_by_id_username_email_or_phone(world: World) -> None:
    """find takes an id, a username, an e-mail (any case) or a phone (any form)."""
    c = world.customer(email="ama@example.com", phone="0244123456")
    for key in (c.id, str(c.id), c.username, "AMA@example.com", "0244123456", "+233244123456"):
        assert world.read(customers.find, world.org_id, key) == c, key
    assert world.read(customers.find, world.org_id, "nobody") is None
    assert world.read(customers.by_username, world.org_id, c.username) == c


def test_list_filters_by_status_and_text(world: World) -> None:
    """list_customers filters by status and by a part of name, username, e-mail or phone."""
    a = world.customer("Ama Owusu", email="ama@example.com")
    b = world.customer("Kofi Mensah", status="pending", phone="0244123456")
    ids = lambda **kw: [c.id for c in world.read(customers.list_customers, world.org_id, **kw)]  # noqa: E731
    assert ids() == [a.id, b.id]
    assert ids(status="pending") == [b.id]
    assert ids(q="owusu") == [a.id]
    assert ids(q="244123") == [b.id]
    assert ids(limit=1, offset=1) == [b.id]


def test_close_cancels_services_and_keeps_history(world: World) -> None:
    """Closing cancels live services (rejects pending ones), removes their logins and
    keeps the customer, services and log rows; customer.closed is published."""
    c = world.customer()
    p = world.product()
    live = world.service(c.id, p.id, start=D0)
    pending = world.service(c.id, p.id)
    closed = world.tx(customers.close, world.writer, world.org_id, c.id, T0, "moved away")
    assert closed.status == "closed" and closed.closed_at == T0
    s1 = world.read(services.get, world.org_id, live.id)
    s2 = world.read(services.get, world.org_id, pending.id)
    assert (s1.state, s2.state) == ("cancelled", "rejected")
    assert world.login(live.login_id) is None and world.login(pending.login_id) is None
    assert s1.username == c.username
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(customers_t)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(services_t)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(service_log)).scalar_one() == 5
    assert world.event_types("customer.") == ["customer.created", "customer.closed"]
    with pytest.raises(ValidationError) as e:
        world.tx(customers.close, world.writer, world.org_id, c.id, T0)
    assert e.value.field == "status"
    with pytest.raises(ValidationError) as e:
        world.service(c.id, p.id)
    assert e.value.field == "customer"


def test_portal_password_is_argon2(world: World) -> None:
    """set_password stores an argon2 hash; verify_password checks it."""
    c = world.customer()
    assert not world.read(customers.verify_password, world.org_id, c.id, "secret-pass")
    world.tx(customers.set_password, world.org_id, c.id, "secret-pass", T0)
    with world.engine.connect() as conn:
        h = conn.execute(sa.select(customers_t.c.password_hash)).scalar_one()
    assert h.startswith("$argon2")
    assert world.read(customers.verify_password, world.org_id, c.id, "secret-pass")
    assert not world.read(customers.verify_password, world.org_id, c.id, "wrong-pass")
    assert world.read(customers.get, world.org_id, c.id).has_password
    with pytest.raises(ValidationError) as e:
        world.tx(customers.set_password, world.org_id, c.id, "short", T0)
    assert e.value.field == "password"


def test_two_racing_adds_of_one_email(world: World) -> None:
    """Two transactions adding the same e-mail at once: one customer, the other gets
    ValidationError('email') (PostgreSQL: from the unique constraint after both checks)."""
    from tests.billing.fixtures_a import race
    out = race(world.engine, customers, "_check_unique",
               *(lambda c, n=n: customers.add(c, world.org_id, T0, name=n, email="same@example.com")
                 for n in ("A", "B")))
    errors = [r for r in out if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ValidationError) and errors[0].field == "email", out
    assert len(world.read(customers.list_customers, world.org_id)) == 1


def test_username_taken_at_insert_is_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A username taken between the check and the insert (a racing add) is retried with
    new digits by the unique constraint, not reported as an error."""
    a = world.customer("Email Phone", seed=3)
    monkeypatch.setattr(customers, "_username_taken", lambda *a: False)
    b = world.customer("Email Phone", seed=3)
    assert b.username != a.username and b.username.startswith("email-phone-")


def test_close_with_a_service_starting_later(world: World) -> None:
    """A service active from a future date is cancelled on its start when the customer closes."""
    from datetime import timedelta
    c = world.customer()
    s = world.service(c.id, world.product().id, start=D0 + timedelta(days=20))
    world.tx(customers.close, world.writer, world.org_id, c.id, T0, "changed mind")
    x = world.read(services.get, world.org_id, s.id)
    assert (x.state, x.end_date) == ("cancelled", D0 + timedelta(days=19))
    assert [e.reason for e in world.read(services.history, world.org_id, service_id=s.id)][-1] == "changed mind"
