"""Registrations on SQLite and PostgreSQL: submitted, refused as duplicates with one message, rate
limited per address, approved (customer, service and login in one transaction; in bulk), rejected
with a reason, and sent back for more information through a secret link."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from aaad import orgs
from aaad.errors import NotFound, ValidationError
from billing import customers, services
from billing.signup import forms, registrations
from tests.billing.fixtures_c import T0, World, make_world

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.fixture
def world(engine: Any) -> World:
    w = make_world(engine)
    w.tx(forms.update_settings, w.org_id, NOW, enabled=True)
    return w


def form(n: int = 1, **kw: Any) -> forms.Clean:
    values = {"name": f"Ama Mensah {n}", "email": f"ama{n}@example.com", "phone": None, "address": "1 Ring Rd",
              "password": "long enough", "custom": {"id_number": f"GHA-{n}"}, **kw}
    return forms.Clean(**values)


def submit(w: World, f: forms.Clean, **kw: Any) -> registrations.Registration:
    return w.tx(registrations.submit, w.writer, w.org_id, f, NOW, ip="10.0.0.1", user_agent="pytest", **kw)


def test_submit_keeps_the_form_and_publishes(world: World) -> None:
    """A pending registration with what was typed (the password only hashed) and registration.created."""
    reg = submit(world, form())
    assert (reg.status, reg.name, reg.email, reg.fields, reg.ip) == (
        "pending", "Ama Mensah 1", "ama1@example.com", {"id_number": "GHA-1"}, "10.0.0.1")
    assert world.event_payloads("registration.created") == [
        {"registration_id": reg.id, "name": "Ama Mensah 1", "resubmitted": False}]


def test_closed_sign_up_refuses(world: World) -> None:
    """With sign-up disabled nothing is registered."""
    world.tx(forms.update_settings, world.org_id, NOW, enabled=False)
    with pytest.raises(ValidationError) as e:
        submit(world, form())
    assert e.value.field == "form"


def test_duplicates_of_customers_and_open_registrations_get_one_message(world: World) -> None:
    """An e-mail or phone of a customer or of another open registration is refused with the same message,
    whichever it was; a rejected registration frees its address."""
    world.tx(customers.add, world.org_id, NOW, name="Kofi", email="kofi@example.com", phone="0540000001")
    reg = submit(world, form(1, phone="+233540000002"))
    messages = set()
    for f in (form(2, email="kofi@example.com"), form(3, phone="+233540000001"), form(4, email="ama1@example.com"),
              form(5, phone="+233540000002")):
        with pytest.raises(ValidationError) as e:
            submit(world, f)
        assert e.value.field == "form"
        messages.add(e.value.message)
    assert messages == {registrations.DUPLICATE}
    world.tx(registrations.reject, world.writer, world.org_id, reg.id, NOW, reason="no coverage")
    assert submit(world, form(1, phone="+233540000002")).status == "pending"


def test_rate_limit_per_address(world: World) -> None:
    """max_per_hour forms from one address, then a wait until the oldest is an hour old; other addresses
    and other orgs are not affected."""
    for i in range(3):
        assert world.tx(registrations.attempt, world.org_id, "10.0.0.9", NOW + timedelta(minutes=i), 3) == 0
    wait = world.tx(registrations.attempt, world.org_id, "10.0.0.9", NOW + timedelta(minutes=10), 3)
    assert 50 * 60 <= wait <= 50 * 60 + 1
    assert world.tx(registrations.attempt, world.org_id, "10.0.0.8", NOW + timedelta(minutes=10), 3) == 0
    assert world.tx(registrations.attempt, world.org_id, "10.0.0.9", NOW + timedelta(minutes=61), 3) == 0


def test_approve_creates_customer_service_and_login(world: World) -> None:
    """Approval with a product: an active customer with the typed password, the service active from
    today with its active login, the registration approved (password hash gone); event published."""
    pid = world.internet_product()
    reg = submit(world, form())
    done = world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW, product_id=pid, zone="East")
    assert done.status == "approved" and done.customer_id and done.service_id and done.zone == "East"
    c = world.read(customers.get, world.org_id, done.customer_id)
    assert (c.status, c.email, c.zone, c.custom_fields) == ("active", "ama1@example.com", "East",
                                                            {"id_number": "GHA-1"})
    assert world.read(customers.verify_password, world.org_id, c.id, "long enough")
    svc = world.service(done.service_id)
    assert (svc.state, svc.start_date) == ("active", date(2026, 11, 30))
    assert world.login_of(svc.id).state == "active"
    assert world.event_payloads("registration.approved") == [
        {"registration_id": reg.id, "customer_id": c.id, "service_id": svc.id}]
    with pytest.raises(ValidationError) as e:
        world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW, product_id=pid)
    assert e.value.field == "status"


def test_approve_uses_defaults_and_checks_product_and_zone(world: World) -> None:
    """No product and no default: refused naming product_id (nothing created); the default product and zone
    apply; a product not sold in the zone is refused naming zone."""
    reg = submit(world, form())
    with pytest.raises(ValidationError) as e:
        world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW)
    assert e.value.field == "product_id"
    assert world.read(customers.find, world.org_id, "ama1@example.com") is None
    from billing import catalogue
    west = world.tx(catalogue.add_product, world.writer, world.org_id, T0, name="West 5M", type="internet",
                    price=0, rate_limit="5M/5M", zones=["West"])
    with pytest.raises(ValidationError) as e:
        world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW, product_id=west.id, zone="East")
    assert e.value.field == "zone"
    pid = world.internet_product()
    world.tx(forms.update_settings, world.org_id, NOW, default_product_id=pid, default_zone="North")
    done = world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW)
    assert (done.product_id, done.zone) == (pid, "North")


def test_automatic_approval(world: World) -> None:
    """approval = automatic with a default product: approved as it arrives."""
    pid = world.internet_product()
    world.tx(forms.update_settings, world.org_id, NOW, approval="automatic", default_product_id=pid)
    reg = submit(world, form())
    assert reg.status == "approved" and reg.service_id is not None
    assert world.service(reg.service_id).state == "active"


def test_bulk_approval_reports_each(world: World) -> None:
    """Many at once: each approved on its own; one already decided and an unknown id are reported, the
    others go ahead."""
    pid = world.internet_product()
    regs = [submit(world, form(i)) for i in range(3)]
    world.tx(registrations.reject, world.writer, world.org_id, regs[1].id, NOW, reason="duplicate person")
    out = world.tx(registrations.approve_many, world.writer, world.org_id, [regs[0].id, regs[1].id, regs[2].id,
                                                                           99999], NOW, product_id=pid)
    assert [(r.registration_id, r.ok) for r in out] == [(regs[0].id, True), (regs[1].id, False),
                                                        (regs[2].id, True), (99999, False)]
    assert "rejected" in out[1].error
    assert len(world.read(services.list_services, world.org_id)) == 2


def test_reject_with_reason(world: World) -> None:
    """A reason is needed; the registration is rejected with it; event published."""
    reg = submit(world, form())
    with pytest.raises(ValidationError) as e:
        world.tx(registrations.reject, world.writer, world.org_id, reg.id, NOW, reason=" ")
    assert e.value.field == "reason"
    done = world.tx(registrations.reject, world.writer, world.org_id, reg.id, NOW, reason="outside our area")
    assert (done.status, done.reason) == ("rejected", "outside our area")
    assert world.event_payloads("registration.rejected") == [{"registration_id": reg.id,
                                                              "reason": "outside our area"}]


def test_request_info_link_prefills_and_works_once(world: World) -> None:
    """Asking for more information: a token handed to the sender (only its hash kept); the link finds the
    registration until it is answered or expires; answering makes it pending again, once."""
    reg = submit(world, form())
    sent: list[str] = []
    r = world.tx(registrations.request_info, world.org_id, reg.id, "Which house number?", NOW,
                 send=lambda reg_, token: sent.append(token))
    assert (r.status, r.question) == ("info_requested", "Which house number?") and len(sent) == 1
    token = sent[0]
    assert world.read(registrations.by_token, world.org_id, token, NOW).id == reg.id
    assert world.read(registrations.by_token, world.org_id, token, NOW + timedelta(days=15)) is None
    assert world.read(registrations.by_token, world.org_id, "x" + token, NOW) is None
    again, _ = world.tx(registrations.resubmit, world.org_id, token, form(1, address="7 Ring Rd"), NOW)
    assert (again.status, again.address) == ("pending", "7 Ring Rd")
    assert world.read(registrations.by_token, world.org_id, token, NOW) is None
    with pytest.raises(ValidationError):
        world.tx(registrations.resubmit, world.org_id, token, form(1), NOW)
    assert world.event_payloads("registration.info_requested") == [
        {"registration_id": reg.id, "question": "Which house number?"}]


def test_another_orgs_registration_is_not_found(world: World) -> None:
    """Every function scoped by org: another org's id is NotFound, and its list is empty."""
    reg = submit(world, form())
    other = world.tx(orgs.add, "o2", "O2", T0, "UTC", "USD")
    assert world.read(registrations.get, other.id, reg.id) is None
    for fn, kw in ((registrations.reject, {"reason": "x"}), (registrations.approve, {})):
        with pytest.raises(NotFound):
            world.tx(fn, world.writer, other.id, reg.id, NOW, **kw)
    assert world.read(registrations.page, other.id).items == []


def test_page_filters(world: World) -> None:
    """The list filters by status, text and document; newest first by default."""
    a, b = submit(world, form(1)), submit(world, form(2, name="Yaw Boateng"))
    world.tx(registrations.reject, world.writer, world.org_id, a.id, NOW, reason="x")
    assert [r.id for r in world.read(registrations.page, world.org_id).items] == [b.id, a.id]
    assert [r.id for r in world.read(registrations.page, world.org_id, status="pending").items] == [b.id]
    assert [r.id for r in world.read(registrations.page, world.org_id, q="boat").items] == [b.id]
    assert world.read(registrations.page, world.org_id, has_document=True).items == []


def test_sign_up_with_a_product_creates_customer_and_order(world: World) -> None:
    """With a product chosen: a pending customer with the typed password, an order to be invoiced with its
    pending service, linked from a pending registration; approval approves the order from its start date."""
    from billing.orders import orders
    pid = world.internet_product()
    reg, order = world.tx(registrations.register_with_order, world.writer, world.org_id, form(), NOW,
                          product_id=pid, zone=None, ip="10.0.0.2")
    assert (reg.status, reg.customer_id, reg.order_id, reg.service_id) == ("pending", order.customer_id, order.id,
                                                                          order.service_ids[0])
    c = world.read(customers.get, world.org_id, order.customer_id)
    assert c.status == "pending" and world.read(customers.verify_password, world.org_id, c.id, "long enough")
    assert order.method == "invoice" and world.service(order.service_ids[0]).state == "pending"
    with pytest.raises(ValidationError):
        world.tx(registrations.register_with_order, world.writer, world.org_id, form(), NOW, product_id=pid,
                 zone=None)
    done = world.tx(registrations.approve, world.writer, world.org_id, reg.id, NOW, start=date(2026, 12, 2))
    assert done.status == "approved"
    svc = world.service(order.service_ids[0])
    assert (svc.state, svc.start_date) == ("active", date(2026, 12, 2))
    assert world.read(orders.get, world.org_id, order.id).status == "active"


def test_rejecting_a_sign_up_with_an_order_cancels_it(world: World) -> None:
    """Rejected: the order cancelled, its service rejected, the customer closed."""
    from billing.orders import orders
    pid = world.internet_product()
    reg, order = world.tx(registrations.register_with_order, world.writer, world.org_id, form(), NOW,
                          product_id=pid, zone=None)
    world.tx(registrations.reject, world.writer, world.org_id, reg.id, NOW, reason="no line to the house")
    assert world.read(orders.get, world.org_id, order.id).status == "cancelled"
    assert world.service(order.service_ids[0]).state == "rejected"
    assert world.read(customers.get, world.org_id, order.customer_id).status == "closed"


def test_automatic_approval_that_cannot_be_made_leaves_it_pending(world: World) -> None:
    """approval = automatic, but the default product is not sold in the applicant's zone: the registration
    stays pending for an admin (nothing half-made)."""
    from billing import catalogue
    west = world.tx(catalogue.add_product, world.writer, world.org_id, T0, name="West 5M", type="internet",
                    price=0, rate_limit="5M/5M", zones=["West"])
    world.tx(forms.update_settings, world.org_id, NOW, approval="automatic", default_product_id=west.id)
    reg = submit(world, form(), zone="East")
    assert reg.status == "pending" and reg.customer_id is None
    assert world.read(customers.find, world.org_id, "ama1@example.com") is None
