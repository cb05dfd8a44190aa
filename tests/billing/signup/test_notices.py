"""The messages registrations decide (through the notify subscriber): the applicant hears of receipt,
rejection (with the reason) and approval, the admins of each new registration; a redelivered event
writes nothing new."""
from __future__ import annotations

from typing import Any

import pytest

from billing.notify import settings as ns
from billing.signup import forms, registrations
from tests.billing.fixtures_c import T0
from tests.billing.notify.harness import Notify, make


@pytest.fixture
def n(engine: Any) -> Notify:
    n = make(engine)
    n.w.tx(forms.update_settings, n.org_id, T0, enabled=True)
    n.w.tx(ns.update, n.org_id, T0, admin_email="noc@isp.example")
    return n


def _submit(n: Notify, phone: str | None = "+233540000009") -> registrations.Registration:
    f = forms.Clean("Kwesi Appiah", "kwesi@example.com", phone, None, "long enough")
    return n.w.tx(registrations.submit, n.w.writer, n.org_id, f, T0)


def test_received_goes_to_the_applicant_and_the_admins(n: Notify) -> None:
    """registration.created: the applicant gets 'received' by e-mail and SMS at the numbers they gave;
    the admins get 'new registration' naming them; delivering again adds nothing."""
    reg = _submit(n)
    n.deliver()
    mine = n.messages(kind="registration.received")
    assert sorted((m.channel, m.recipient) for m in mine) == [("email", "kwesi@example.com"),
                                                              ("sms", "+233540000009")]
    (admin,) = n.messages(kind="admin.registration_new")
    assert admin.recipient == "noc@isp.example" and admin.vars["registration"]["id"] == reg.id
    n.deliver()
    assert len(n.messages(kind="registration.received")) == 2


def test_rejection_tells_the_reason(n: Notify) -> None:
    """registration.rejected: the applicant is told the reason."""
    reg = _submit(n, phone=None)
    n.w.tx(registrations.reject, n.w.writer, n.org_id, reg.id, T0, reason="Not in our area yet")
    n.deliver()
    (m,) = n.messages(kind="registration.rejected")
    assert m.recipient == "kwesi@example.com" and m.vars["reason"] == "Not in our area yet"


def test_approval_tells_the_new_customer(n: Notify) -> None:
    """registration.approved: the new customer hears their account is ready, with the product."""
    reg = _submit(n, phone=None)
    pid = n.w.internet_product("Home 20M")
    n.w.tx(registrations.approve, n.w.writer, n.org_id, reg.id, T0, product_id=pid)
    n.deliver()
    (m,) = [m for m in n.messages(kind="registration.approved") if m.channel == "email"]
    assert m.recipient == "kwesi@example.com" and m.vars["service"]["product"] == "Home 20M"
