"""Services on SQLite and PostgreSQL: the life of a service and of its login in the AAA
view, the owner rule, events and the service log, the charge hooks, illegal moves."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from aaad import events
from aaad.errors import NotFound, ValidationError
from aaad.view import store
from aaad.view.write import OPERATOR, Actor, OwnedLogin
from billing import charges, customers, services, settings
from billing.schema import services as services_t
from tests.billing.fixtures_a import D0, T0, World, make_world


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine, suspend_mode="walled_garden")


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The charge hooks, recorded (name, service id, service state, extra args)."""
    calls: list[tuple[Any, ...]] = []
    for name in ("on_activate", "on_start_moved", "on_plan_change", "on_cancel"):
        def rec(conn: Any, org_id: int, svc: Any, *rest: Any, _n: str = name) -> None:
            calls.append((_n, svc.id, svc.state, *rest[:-1]))
        monkeypatch.setattr(charges, name, rec)
    return calls


def state(world: World, sid: int) -> services.Service:
    s = world.read(services.get, world.org_id, sid)
    assert s is not None
    return s


def test_pending_service_has_a_disabled_login_owned_by_it(world: World, hooks: list) -> None:
    """add without a start: pending, its login created disabled with the product's profile,
    data cap and the customer's username, owned by the service; service.created."""
    c = world.customer()
    p = world.product(data_cap=10**9)
    s = world.service(c.id, p.id, password="s3cret")
    assert (s.state, s.start_date, s.username) == ("pending", None, c.username)
    lg = world.login(s.login_id)
    assert lg is not None
    assert (lg.username, lg.state, lg.profile_id, lg.data_cap, lg.password) == (
        c.username, "disabled", p.profile_id, 10**9, b"s3cret")
    assert (lg.owner_type, lg.owner_id) == ("service", s.id)
    assert world.event_types("service.") == ["service.created"]
    assert hooks == []


def test_approve_activates_login_and_invoices(world: World, hooks: list) -> None:
    """approve: pending -> active from the date, login active, service.activated, then on_activate."""
    c = world.customer(status="pending")
    s = world.service(c.id, world.product().id)
    a = world.tx(services.approve, world.writer, world.org_id, s.id, D0, T0)
    assert (a.state, a.start_date) == ("active", D0)
    assert world.login(s.login_id).state == "active"
    assert world.event_types("service.") == ["service.created", "service.activated"]
    assert hooks == [("on_activate", s.id, "active")]
    assert world.read(customers.get, world.org_id, c.id).status == "active"
    log = world.read(services.history, world.org_id, service_id=s.id)
    assert [(e.old_state, e.new_state, e.what) for e in log] == [
        (None, "pending", "created"), ("pending", "active", "approved")]


def test_dates_beyond_billing_arithmetic_are_refused(world: World) -> None:
    """A start, change or end in year 9999 (or before 2000) is a ValidationError naming the field, not a crash."""
    c = world.customer(status="pending")
    p = world.product()
    s = world.service(c.id, p.id)
    for fn, args, kw, field in (
            (services.approve, (world.writer, world.org_id, s.id, date(9999, 12, 31), T0), {}, "start"),
            (services.add, (world.writer, world.org_id, c.id, p.id, T0), {"start": date(1999, 12, 31)}, "start"),
            (services.change_plan, (world.writer, world.org_id, s.id, p.id, T0), {"on": date(9999, 1, 1)}, "on"),
            (services.cancel, (world.writer, world.org_id, s.id, T0), {"on": date(9999, 1, 1)}, "on")):
        with pytest.raises(ValidationError) as e:
            world.tx(fn, *args, **kw)
        assert e.value.field == field


def test_add_with_start_is_active_at_once(world: World, hooks: list) -> None:
    """add with a start date approves at once; a given username and password are used."""
    c = world.customer()
    s = world.service(c.id, world.product().id, start=D0, username="ama@home", password="pw")
    assert (s.state, s.username) == ("active", "ama@home")
    lg = world.login(s.login_id)
    assert (lg.username, lg.state, lg.password) == ("ama@home", "active", b"pw")
    assert hooks == [("on_activate", s.id, "active")]


def test_second_service_gets_a_free_login_name(world: World) -> None:
    """A customer's second internet service is named after them with -2."""
    c = world.customer()
    p = world.product()
    s1 = world.service(c.id, p.id)
    s2 = world.service(c.id, p.id)
    assert (s1.username, s2.username) == (c.username, f"{c.username}-2")
    with pytest.raises(ValidationError) as e:
        world.service(c.id, p.id, username=c.username)
    assert e.value.field == "username"


def test_later_start_of_an_active_service_is_credited(world: World, hooks: list) -> None:
    """Paid upfront on 01/01, approved as started on 14/01: the start moves and
    on_start_moved gets the old start; an earlier date is refused."""
    c = world.customer()
    s = world.service(c.id, world.product().id, start=date(2027, 1, 1))
    moved = world.tx(services.approve, world.writer, world.org_id, s.id, date(2027, 1, 14), T0)
    assert (moved.state, moved.start_date) == ("active", date(2027, 1, 14))
    assert hooks == [("on_activate", s.id, "active"), ("on_start_moved", s.id, "active", date(2027, 1, 1))]
    same = world.tx(services.approve, world.writer, world.org_id, s.id, date(2027, 1, 14), T0)
    assert same == moved and len(hooks) == 2
    with pytest.raises(ValidationError) as e:
        world.tx(services.approve, world.writer, world.org_id, s.id, date(2027, 1, 2), T0)
    assert e.value.field == "start"
    assert [e.what for e in world.read(services.history, world.org_id, service_id=s.id)] == [
        "created", "approved", "start_moved"]


def test_reject_removes_the_login(world: World, hooks: list) -> None:
    """reject: pending -> rejected, login removed, the name kept on the service."""
    c = world.customer()
    s = world.service(c.id, world.product().id)
    r = world.tx(services.reject, world.writer, world.org_id, s.id, T0, reason="no coverage")
    assert (r.state, r.username) == ("rejected", c.username)
    assert world.login(s.login_id) is None
    assert world.read(store.login_by_name, world.box, world.org_id, c.username) is None
    (p,) = world.event_payloads("service.cancelled")
    assert (p["state"], p["reason"]) == ("rejected", "no coverage")
    assert hooks == []


def test_suspend_and_resume_follow_the_login_and_the_customer(world: World, hooks: list) -> None:
    """suspend: login suspended in the org's mode with the reason, customer suspended when
    all live services are; resume: login and customer active again."""
    c = world.customer()
    s = world.service(c.id, world.product().id, start=D0)
    sus = world.tx(services.suspend, world.writer, world.org_id, s.id, T0, reason="unpaid INV-1", invoice_id=None)
    assert sus.state == "suspended"
    lg = world.login(s.login_id)
    assert (lg.state, lg.suspend_mode) == ("suspended", "walled_garden")
    assert world.read(customers.get, world.org_id, c.id).status == "suspended"
    with world.engine.connect() as conn:
        (ev,) = events.list_events(conn, types=["login.state_changed"], org_id=world.org_id)[-1:]
        assert (ev.payload.new, ev.payload.suspend_mode, ev.payload.reason) == (
            "suspended", "walled_garden", "unpaid INV-1")
    res = world.tx(services.resume, world.writer, world.org_id, s.id, T0, reason="paid")
    assert res.state == "active" and world.login(s.login_id).state == "active"
    assert world.read(customers.get, world.org_id, c.id).status == "active"
    assert world.event_types("service.") == ["service.created", "service.activated", "service.suspended",
                                             "service.resumed"]
    sp = world.event_payloads("service.suspended")[0]
    assert (sp["reason"], sp["invoice_id"], sp["state"]) == ("unpaid INV-1", None, "suspended")


def test_customer_stays_active_while_one_service_is(world: World) -> None:
    """Suspending one of two active services leaves the customer active."""
    c = world.customer()
    p = world.product()
    s1 = world.service(c.id, p.id, start=D0)
    world.service(c.id, p.id, start=D0)
    world.tx(services.suspend, world.writer, world.org_id, s1.id, T0, reason="x")
    assert world.read(customers.get, world.org_id, c.id).status == "active"


def test_suspend_in_reject_mode(engine: Any) -> None:
    """With the org's suspend_mode reject the login is suspended in reject mode."""
    w = make_world(engine)
    s = w.service(w.customer().id, w.product().id, start=D0)
    w.tx(services.suspend, w.writer, w.org_id, s.id, T0, reason="unpaid", invoice_id=None)
    assert (w.login(s.login_id).state, w.login(s.login_id).suspend_mode) == ("suspended", "reject")


def test_operator_without_force_cannot_touch_the_service_login(world: World) -> None:
    """The owner rule: an operator without force is refused (OwnedLogin); with force allowed."""
    s = world.service(world.customer().id, world.product().id, start=D0)
    with pytest.raises(OwnedLogin):
        world.tx(world.writer.set_state, world.org_id, s.login_id, "suspended", T0, actor=OPERATOR)
    with pytest.raises(OwnedLogin):
        world.tx(world.writer.set_state, world.org_id, s.login_id, "suspended", T0,
                 actor=Actor.owner("service", s.id + 1))
    world.tx(world.writer.set_state, world.org_id, s.login_id, "disabled", T0, actor=Actor.operator(force=True))
    assert world.login(s.login_id).state == "disabled"


def test_change_plan_moves_the_login_profile(world: World, hooks: list) -> None:
    """change_plan: new product of the same type, the login's profile and data cap follow
    (as the owner), service.plan_changed, then on_plan_change with the old product."""
    c = world.customer()
    basic = world.product("Basic", data_cap=10**9)
    pro = world.product("Pro", price=50_00, rate_limit="50M/50M", data_cap=None)
    s = world.service(c.id, basic.id, start=D0)
    on = D0 + timedelta(days=10)
    ch = world.tx(services.change_plan, world.writer, world.org_id, s.id, pro.id, T0, on=on)
    assert ch.product_id == pro.id
    lg = world.login(s.login_id)
    assert (lg.profile_id, lg.data_cap) == (pro.profile_id, None)
    assert hooks[-1] == ("on_plan_change", s.id, "active", basic.id, on)
    (p,) = world.event_payloads("service.plan_changed")
    assert (p["old_product_id"], p["product_id"]) == (basic.id, pro.id)
    voice = world.product("Voice", type="voice", price=1)
    for pid, field in ((voice.id, "product"), (pro.id, "product")):
        with pytest.raises(ValidationError) as e:
            world.tx(services.change_plan, world.writer, world.org_id, s.id, pid, T0)
        assert e.value.field == field
    with pytest.raises(ValidationError) as e:
        world.tx(services.change_plan, world.writer, world.org_id, s.id, basic.id, T0, on=D0 - timedelta(days=1))
    assert e.value.field == "on"


def test_change_plan_of_pending_service_charges_nothing(world: World, hooks: list) -> None:
    """A pending service changes plan (and login profile) without a charge."""
    basic, pro = world.product("Basic"), world.product("Pro")
    s = world.service(world.customer().id, basic.id)
    world.tx(services.change_plan, world.writer, world.org_id, s.id, pro.id, T0)
    assert world.login(s.login_id).profile_id == pro.profile_id and hooks == []


def test_cancel_at_once(world: World, hooks: list) -> None:
    """cancel: cancelled, end_date the day before, login removed, service.cancelled,
    then on_cancel with the (exclusive) end; the customer is kept."""
    c = world.customer()
    s = world.service(c.id, world.product().id, start=D0)
    on = D0 + timedelta(days=15)
    x = world.tx(services.cancel, world.writer, world.org_id, s.id, T0, on=on)
    assert (x.state, x.end_date, x.cancel_at) == ("cancelled", on - timedelta(days=1), None)
    assert world.login(s.login_id) is None
    assert hooks[-1] == ("on_cancel", s.id, "cancelled", on)
    assert world.event_types("service.")[-1] == "service.cancelled"
    assert world.read(customers.get, world.org_id, c.id).status == "active"


def test_cancel_defaults_to_the_org_today(world: World, hooks: list) -> None:
    """Without a date a cancellation ends today in the org's time zone."""
    s = world.service(world.customer().id, world.product().id, start=D0)
    x = world.tx(services.cancel, world.writer, world.org_id, s.id, T0)
    today = world.read(settings.get, world.org_id).today(T0)
    assert x.end_date == today - timedelta(days=1) and hooks[-1][-1] == today


def test_cancel_at_period_end_then_completed_by_the_run(world: World, hooks: list) -> None:
    """at_period_end: cancel_at = billed_through and still active; complete_due_cancellations
    cancels it once due (ending on cancel_at), and not before."""
    s = world.service(world.customer().id, world.product().id, start=D0)
    end = date(2026, 12, 1)
    with world.engine.begin() as conn:
        conn.execute(services_t.update().where(services_t.c.id == s.id).values(billed_through=end))
    x = world.tx(services.cancel, world.writer, world.org_id, s.id, T0, at_period_end=True)
    assert (x.state, x.cancel_at) == ("active", end)
    assert world.login(s.login_id).state == "active"
    assert world.tx(services.complete_due_cancellations, world.writer, world.org_id, end - timedelta(days=1), T0) == 0
    assert world.tx(services.complete_due_cancellations, world.writer, world.org_id, end, T0) == 1
    done = state(world, s.id)
    assert (done.state, done.end_date) == ("cancelled", end - timedelta(days=1))
    assert world.login(s.login_id) is None
    assert hooks[-1] == ("on_cancel", s.id, "cancelled", end)
    assert world.tx(services.complete_due_cancellations, world.writer, world.org_id, end, T0) == 0


def test_cancel_at_period_end_never_billed_is_today(world: World, hooks: list) -> None:
    """A service never billed (the charge hooks recorded, not run) is scheduled to cancel today."""
    s = world.service(world.customer().id, world.product().id, start=D0)
    x = world.tx(services.cancel, world.writer, world.org_id, s.id, T0, at_period_end=True)
    assert x.cancel_at == world.read(settings.get, world.org_id).today(T0)


@pytest.mark.parametrize("setup,action", [
    ("pending", "suspend"), ("pending", "resume"), ("pending", "cancel"),
    ("active", "reject"), ("active", "resume"),
    ("suspended", "suspend"), ("suspended", "approve"),
    ("cancelled", "approve"), ("cancelled", "suspend"), ("cancelled", "resume"), ("cancelled", "cancel"),
    ("cancelled", "change"), ("rejected", "approve"), ("rejected", "reject"),
])
def test_illegal_transitions_are_refused(world: World, setup: str, action: str) -> None:
    """A move the state machine does not allow raises ValidationError('state') and changes nothing."""
    p = world.product()
    other = world.product("Other")
    s = world.service(world.customer().id, p.id, start=None if setup in ("pending", "rejected") else D0)
    if setup == "suspended":
        world.tx(services.suspend, world.writer, world.org_id, s.id, T0, reason="x")
    elif setup == "cancelled":
        world.tx(services.cancel, world.writer, world.org_id, s.id, T0)
    elif setup == "rejected":
        world.tx(services.reject, world.writer, world.org_id, s.id, T0)
    before = state(world, s.id)
    fn = {"suspend": lambda c: services.suspend(c, world.writer, world.org_id, s.id, T0, reason="r"),
          "resume": lambda c: services.resume(c, world.writer, world.org_id, s.id, T0, reason="r"),
          "cancel": lambda c: services.cancel(c, world.writer, world.org_id, s.id, T0),
          "reject": lambda c: services.reject(c, world.writer, world.org_id, s.id, T0),
          "approve": lambda c: services.approve(c, world.writer, world.org_id, s.id, D0, T0),
          "change": lambda c: services.change_plan(c, world.writer, world.org_id, s.id, other.id, T0)}[action]
    with pytest.raises(ValidationError) as e:
        world.tx(fn)
    assert e.value.field == "state"
    assert state(world, s.id) == before


def test_a_stale_writer_loses_the_race(world: World) -> None:
    """State changes are conditional on the state read: a stale copy cannot apply."""
    s = world.service(world.customer().id, world.product().id, start=D0)
    world.tx(services.suspend, world.writer, world.org_id, s.id, T0, reason="first")
    with pytest.raises(ValidationError) as e:
        world.tx(services._transition, s, "suspended", T0)
    assert e.value.field == "state"


def test_non_internet_service_has_no_login(world: World, hooks: list) -> None:
    """A voice service has no login; its life still logs and publishes."""
    v = world.product("Voice", type="voice", price=5_00)
    s = world.service(world.customer().id, v.id, start=D0)
    assert (s.login_id, s.username, s.state) == (None, None, "active")
    world.tx(services.suspend, world.writer, world.org_id, s.id, T0, reason="x")
    world.tx(services.cancel, world.writer, world.org_id, s.id, T0)
    assert world.event_types("service.") == ["service.created", "service.activated", "service.suspended",
                                             "service.cancelled"]
    with pytest.raises(ValidationError) as e:
        world.service(world.customer("B").id, v.id, username="x")
    assert e.value.field == "username"


def test_lookups_and_org_scoping(world: World) -> None:
    """list_services filters by customer and state; services_of_login finds the owner;
    another org sees nothing and cannot act on it."""
    c1, c2 = world.customer(), world.customer("B")
    p = world.product()
    s1 = world.service(c1.id, p.id, start=D0)
    s2 = world.service(c2.id, p.id)
    ids = lambda **kw: [s.id for s in world.read(services.list_services, world.org_id, **kw)]  # noqa: E731
    assert ids() == [s1.id, s2.id]
    assert ids(customer_id=c2.id) == [s2.id] and ids(state="active") == [s1.id]
    assert world.read(services.services_of_login, world.org_id, s1.login_id) == [state(world, s1.id)]
    other = make_world(world.engine, "other")
    assert other.read(services.get, other.org_id, s1.id) is None
    with pytest.raises(NotFound):
        other.tx(services.suspend, other.writer, other.org_id, s1.id, T0, reason="x")
    with pytest.raises(NotFound):
        other.service(c1.id, p.id)
    assert world.read(store.get_login, world.box, other.org_id, s1.login_id) is None


def test_inactive_product_is_not_sold(world: World) -> None:
    """A product no longer sold cannot get new services."""
    p = world.product(active=False)
    with pytest.raises(ValidationError) as e:
        world.service(world.customer().id, p.id)
    assert e.value.field == "product"


def test_two_racing_suspensions_suspend_once(world: World) -> None:
    """Two transactions suspending one service at once: one wins; the other's conditional
    UPDATE finds the state changed (ValidationError('state')); one log row, one event."""
    from tests.billing.fixtures_a import race
    s = world.service(world.customer().id, world.product().id, start=D0)
    out = race(world.engine, services, "_transition",
               *(lambda c, r=r: services.suspend(c, world.writer, world.org_id, s.id, T0, reason=r)
                 for r in ("a", "b")))
    errors = [r for r in out if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ValidationError) and errors[0].field == "state", out
    assert world.event_types("service.").count("service.suspended") == 1
    assert [e.what for e in world.read(services.history, world.org_id, service_id=s.id)].count("suspended") == 1
    assert world.login(s.login_id).state == "suspended"
