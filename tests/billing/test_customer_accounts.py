"""Customer accounts, on SQLite and PostgreSQL: an operator's customer with a voucher assigned (free or
invoiced) and the login details e-mailed; a visitor's own account in the sign-up's hotspot mode."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import events
from aaad.errors import NotFound, ValidationError
from billing import customer_accounts, customers, invoices
from billing.notify import settings as ns
from billing.notify.schema import messages as msg_t
from billing.notify.subscribers import Subscribers
from billing.schema import customers as customers_t
from billing.signup import forms, registrations
from billing.vouchers import packages, vouchers
from tests.billing.fixtures_c import T0, World, make_world

BASE = "https://wifi.example"



def _world(engine: Any, tmp_path: Path) -> World:
    w = make_world(engine)
    w.tx(ns.set_channel, w.box, w.org_id, "email", T0, provider="file",
         settings={"directory": str(tmp_path), "from_address": "hello@isp.example"})
    return w


def _messages(w: World, kind: str) -> list[Any]:
    with w.engine.connect() as c:
        return list(c.execute(sa.select(msg_t).where(msg_t.c.org_id == w.org_id, msg_t.c.kind == kind)))


def _package(w: World, price: int = 5_00, **kw: Any) -> Any:
    return w.tx(packages.add, w.writer, w.org_id, T0, name="1 day 2 GB", price=price, time_limit=86_400, **kw)


def test_send_credentials_sets_a_password_and_queues_the_email(engine: Any, tmp_path: Path) -> None:
    """With send_credentials the customer gets a random portal password that works, and one
    customer.credentials e-mail carries the username, the sign-in link and (encrypted) the password."""
    w = _world(engine, tmp_path)
    done = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, base_url=BASE, send_credentials=True,
                name="Ama Mensah", email="Ama@Example.com")
    assert done.credentials_sent and done.voucher is None and done.customer.username.startswith("ama-mensah-")
    (m,) = _messages(w, "customer.credentials")
    assert m.channel == "email" and m.recipient == "ama@example.com" and m.customer_id == done.customer.id
    v = json.loads(m.vars)
    assert v["login_url"] == f"{BASE}/isp/portal/login" and v["login_name"] == "ama@example.com"
    assert v["customer"]["username"] == done.customer.username and "password" not in v
    secret = json.loads(w.box.decrypt(m.secrets_enc))["password"]
    assert len(secret) == customer_accounts.PASSWORD_CHARS
    assert w.read(customers.verify_password, w.org_id, done.customer.id, secret)


def test_the_credentials_email_replaces_the_plain_welcome(engine: Any, tmp_path: Path) -> None:
    """customer.created queues the usual welcome, except for a customer whose login details were e-mailed."""
    w = _world(engine, tmp_path)
    sent = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, send_credentials=True, name="Ama Mensah",
                email="ama@example.com").customer
    plain = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, name="Yaw Boateng",
                 email="yaw@example.com").customer
    subs = Subscribers(w.box)
    with w.engine.begin() as c:
        for ev in events.list_events(c, types=["customer.created"]):
            subs.on_customer_created(c, ev)
    assert [m.customer_id for m in _messages(w, "customer.welcome")] == [plain.id]
    assert [m.customer_id for m in _messages(w, "customer.credentials")] == [sent.id]


def test_send_credentials_needs_an_email_and_writes_nothing_without(engine: Any, tmp_path: Path) -> None:
    """Without an e-mail address send_credentials is refused naming the field; no customer is made."""
    w = _world(engine, tmp_path)
    with pytest.raises(ValidationError) as e:
        w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, send_credentials=True, name="Kofi",
             phone="0540000000")
    assert e.value.field == "send_credentials"
    with w.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(customers_t)).scalar_one() == 0


def test_a_package_assigns_a_voucher_free_or_invoiced(engine: Any, tmp_path: Path) -> None:
    """A package assigns one voucher at once: free (no invoice), or with charge an invoice of its price;
    an unknown package is refused naming package_id."""
    w = _world(engine, tmp_path)
    p = _package(w)
    free = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, package_id=p.id, name="Efua")
    assert free.voucher is not None and not free.charged and free.voucher.price == 0
    assert [v.id for v in w.read(vouchers.of_customer, w.org_id, free.customer.id)] == [free.voucher.id]
    assert w.read(invoices.list_invoices, w.org_id, customer_id=free.customer.id) == []
    paid = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, package_id=p.id, charge=True,
                name="Esi")
    assert paid.charged
    (inv,) = w.read(invoices.list_invoices, w.org_id, customer_id=paid.customer.id)
    assert inv.total == 5_75 and inv.customer_id == paid.customer.id       # 5.00 + 15 % VAT
    with pytest.raises(ValidationError) as e:
        w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, package_id=99_999, name="Abena")
    assert e.value.field == "package_id"


def _form(email: str = "abena@example.com", phone: str | None = None) -> forms.Clean:
    return forms.Clean("Abena Owusu", email, phone, None, "a long password")


def test_hotspot_mode_makes_an_active_account_at_once(engine: Any, tmp_path: Path) -> None:
    """In hotspot mode a registration is an active customer with the typed password (customer.created
    published: the welcome e-mail); in isp mode, or closed, it is refused; a duplicate gets one message."""
    w = _world(engine, tmp_path)
    w.tx(forms.update_settings, w.org_id, T0, enabled=True, mode="isp")
    with pytest.raises(ValidationError):
        w.tx(customer_accounts.self_register, w.org_id, _form(), T0)
    w.tx(forms.update_settings, w.org_id, T0, mode="hotspot")
    assert w.read(forms.get_settings, w.org_id).mode == "hotspot"
    c = w.tx(customer_accounts.self_register, w.org_id, _form(), T0)
    assert c.status == "active" and w.read(customers.verify_password, w.org_id, c.id, "a long password")
    assert [p["customer_id"] for p in w.event_payloads("customer.created")] == [c.id]
    with pytest.raises(ValidationError) as e:
        w.tx(customer_accounts.self_register, w.org_id, _form(), T0)
    assert e.value.message == registrations.DUPLICATE
    with pytest.raises(ValidationError) as e:
        w.tx(forms.update_settings, w.org_id, T0, mode="cafe")
    assert e.value.field == "mode"


def test_closing_keeps_vouchers(engine: Any, tmp_path: Path) -> None:
    """Closing a customer with a voucher closes the account and keeps the voucher and its login."""
    w = _world(engine, tmp_path)
    p = _package(w)
    done = w.tx(customer_accounts.create, w.writer, w.box, w.org_id, T0, package_id=p.id, name="Efua")
    w.tx(customers.close, w.writer, w.org_id, done.customer.id, T0)
    (v,) = w.read(vouchers.of_customer, w.org_id, done.customer.id)
    assert v.id == done.voucher.id
    from aaad.view import store
    assert w.read(store.get_login, w.box, w.org_id, v.login_id) is not None


def test_reset_password_gives_a_new_one_that_works(engine: Any, tmp_path: Path) -> None:
    """An operator's reset: a new random portal password, returned once; the old one stops working;
    another org's customer is not found."""
    w = _world(engine, tmp_path)
    c = w.tx(customers.add, w.org_id, T0, name="Ama Mensah")
    w.tx(customers.set_password, w.org_id, c.id, "old password", T0)
    pw = w.tx(customer_accounts.reset_password, w.org_id, c.id, T0)
    assert len(pw) == customer_accounts.PASSWORD_CHARS
    assert w.read(customers.verify_password, w.org_id, c.id, pw)
    assert not w.read(customers.verify_password, w.org_id, c.id, "old password")
    with pytest.raises(NotFound):
        w.tx(customer_accounts.reset_password, w.org_id + 1000, c.id, T0)


def test_resend_credentials_needs_an_email(engine: Any, tmp_path: Path) -> None:
    """Resending queues one customer.credentials e-mail with a new password; without an e-mail address it is
    refused naming the field and nothing is queued."""
    w = _world(engine, tmp_path)
    with_mail = w.tx(customers.add, w.org_id, T0, name="Ama Mensah", email="ama@example.com")
    without = w.tx(customers.add, w.org_id, T0, name="Kofi", phone="0540000000")
    done = w.tx(customer_accounts.resend_credentials, w.box, w.org_id, with_mail.id, T0, base_url=BASE)
    assert done.has_password
    (m,) = _messages(w, "customer.credentials")
    assert m.customer_id == with_mail.id
    with pytest.raises(ValidationError) as e:
        w.tx(customer_accounts.resend_credentials, w.box, w.org_id, without.id, T0, base_url=BASE)
    assert e.value.field == "email" and len(_messages(w, "customer.credentials")) == 1
    with pytest.raises(NotFound):
        w.tx(customer_accounts.resend_credentials, w.box, w.org_id, 10**6, T0, base_url=BASE)
