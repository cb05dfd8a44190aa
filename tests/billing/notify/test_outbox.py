"""The outbox end to end in process (both databases): events decide messages exactly once,
opt-outs and quiet hours are honoured, the sender renders, sends, retries and gives up,
secrets never rest in the clear, and a crash between commit and send sends once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aaad.errors import ValidationError
from billing import customers as cust
from billing.notify import outbox, templates
from billing.notify import settings as ns
from billing.notify.channels import SendError
from billing.notify.sender import ChannelCache, MessageSender
from tests.billing import fixtures_c
from tests.billing.notify.harness import Notify, make

T0 = fixtures_c.T0


@pytest.fixture
def n(engine: Any) -> Notify:
    return make(engine)


def _customer(n: Notify, name: str = "Ama Mensah", email: str | None = "ama@example.com",
              phone: str | None = "0540000001") -> int:
    import random
    c = n.w.tx(cust.add, n.org_id, n.now, name=name, email=email, phone=phone, rng=random.Random(len(name)))
    return int(c.id)


def test_customer_created_queues_a_welcome_per_enabled_channel(n: Notify) -> None:
    """customer.created → one welcome row per channel the kind routes to and the org enabled."""
    cid = _customer(n)
    n.deliver()
    rows = n.messages(kind="customer.welcome")
    assert [(m.channel, m.recipient, m.customer_id) for m in rows] == [
        ("email", "ama@example.com", cid), ("sms", "+233540000001", cid)]
    assert rows[0].vars["customer"]["first_name"] == "Ama"
    assert rows[0].vars["portal_url"] == "https://isp.example/isp/portal"


def test_a_redelivered_event_decides_nothing_new(n: Notify) -> None:
    """The same event delivered again (a crash before the position moved) writes no second row."""
    _customer(n)
    n.deliver()
    handlers = dict(n.subs.handlers())
    from aaad.events import list_events
    with n.w.engine.begin() as c:
        (ev,) = [e for e in list_events(c) if e.type == "customer.created"]
        handlers["customer.created"](c, ev)
    assert len(n.messages(kind="customer.welcome")) == 2


def test_no_address_no_row_and_disabled_channel_skipped(engine: Any) -> None:
    """A customer without a phone gets no SMS row; a channel the org has not enabled gets none."""
    n = make(engine, channels=("email",))
    _customer(n, phone=None)
    n.deliver()
    assert [m.channel for m in n.messages()] == ["email"]


def test_route_chooses_channels_per_kind(n: Notify) -> None:
    """An org routing the welcome to SMS only gets no email for it."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["sms"], T0)
    _customer(n)
    n.deliver()
    assert [m.channel for m in n.messages()] == ["sms"]


def test_sender_sends_renders_and_records(n: Notify) -> None:
    """Pending rows go to their channel rendered; the row keeps the provider id and the text."""
    _customer(n)
    n.deliver()
    n.pump()
    email = n.channels["email"].sent[0]
    assert email.to == "ama@example.com" and email.subject == "Welcome to ISP"
    assert "Hello Ama," in email.text and email.html and "Hello Ama," in email.html
    sms = n.channels["sms"].sent[0]
    assert sms.to == "+233540000001" and sms.html is None and "Welcome to ISP!" in sms.text
    rows = n.messages()
    assert {m.state for m in rows} == {"sent"}
    assert rows[0].provider_id == f"email-{rows[0].id}" and rows[0].attempts == 1
    assert rows[1].segments == 1 and "Welcome to ISP!" in (rows[1].rendered or "")


def test_whatsapp_messages_carry_their_kind_and_variables_secrets_filled_in(engine: Any) -> None:
    """A WhatsApp message reaches its channel with its kind and its variables, secrets filled in (for a
    Content template's placeholders); an SMS carries no variables."""
    n = make(engine, channels=("sms", "whatsapp"))
    n.w.tx(ns.set_route, n.org_id, "service.activated", ["sms", "whatsapp"], T0)
    pid = n.w.internet_product()
    cid, _ = n.w.subscriber("kofi", pid)
    n.contact(cid, phone="0540000002")
    n.deliver()
    n.pump()
    [wa] = [s for s in n.channels["whatsapp"].sent if s.kind == "service.activated"]
    [sms] = [s for s in n.channels["sms"].sent if s.kind == "service.activated"]
    assert wa.to == "+233540000002" and wa.variables is not None
    assert "pw" in repr(dict(wa.variables)) and "kofi" in repr(dict(wa.variables))
    assert sms.variables is None
    assert "variables" not in repr(wa)     # kept out of logs


def test_retryable_failure_backs_off_then_fails_at_the_bound(n: Notify) -> None:
    """A retryable error waits 30 s, then 60 s; the third failure (max_attempts 3) is final."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].fail = [SendError("451 try later", retryable=True) for _ in range(3)]
    n.pump()
    (m,) = n.messages()
    assert (m.state, m.attempts, m.error) == ("pending", 1, "451 try later")
    assert m.not_before == n.now + timedelta(seconds=30)
    n.pump()                                    # not due yet: nothing happens
    assert n.messages()[0].attempts == 1
    n.clock.advance(30)
    n.pump()
    assert n.messages()[0].not_before == n.now + timedelta(seconds=60)
    n.clock.advance(60)
    n.pump()
    (m,) = n.messages()
    assert (m.state, m.attempts) == ("failed", 3) and m.done_at == n.now


def test_permanent_failure_fails_at_once(n: Notify) -> None:
    """A non-retryable error (address refused) fails the row on the first attempt."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].fail = [SendError("550 no such user", retryable=False)]
    n.pump()
    (m,) = n.messages()
    assert (m.state, m.attempts, m.error) == ("failed", 1, "550 no such user")


def test_secrets_are_encrypted_until_sent_and_redacted_after(n: Notify) -> None:
    """A service's password travels encrypted in the row, is in the SMS sent, and is gone
    (masked) from the row afterwards."""
    pid = n.w.internet_product()
    cid, sid = n.w.subscriber("kofi", pid)
    n.contact(cid, email="kofi@example.com", phone="0540000002")
    n.deliver()
    (m,) = [m for m in n.messages(kind="service.activated") if m.channel == "sms"]
    raw = n.raw(m.id)
    assert raw.secrets_enc is not None and b"pw" not in raw.secrets_enc and "pw" not in raw.vars
    n.pump()
    sent = [s for s in n.channels["sms"].sent if s.message_id == m.id][0]
    assert "kofi / pw" in sent.text
    raw = n.raw(m.id)
    assert raw.secrets_enc is None and "kofi / " + templates.REDACTED in raw.rendered and "/ pw" not in raw.rendered


def test_opted_out_customer_gets_receipts_not_cap_warnings(n: Notify) -> None:
    """Opt-out stops the optional kinds (data-cap warning) but not a payment receipt."""
    pid = n.w.internet_product()
    cid, sid = n.w.subscriber("kofi", pid)
    n.contact(cid, phone="0540000002")
    n.w.tx(ns.set_opt_out, n.org_id, cid, True, T0)
    login_id = n.w.service(sid).login_id
    assert login_id is not None
    from aaad.events import publish
    from accounting.events import QuotaExceeded
    n.w.tx(publish, n.org_id, QuotaExceeded(login_id, 10, 10, T0.isoformat()), T0)
    n.w.pay(cid, 500, "ref-1")
    n.deliver()
    kinds_ = {m.kind for m in n.messages(customer_id=cid)}
    assert "payment.received" in kinds_ and "usage.cap_warning" not in kinds_
    n.w.tx(ns.set_opt_out, n.org_id, cid, False, T0)
    n.w.tx(publish, n.org_id, QuotaExceeded(login_id, 20, 10, (T0 + timedelta(days=30)).isoformat()),
           T0)
    n.deliver()
    assert "usage.cap_warning" in {m.kind for m in n.messages(customer_id=cid)}


def test_quiet_hours_hold_non_urgent_until_morning(engine: Any) -> None:
    """At 23:00 in quiet hours 21:00-07:00 a welcome waits for 07:00; an urgent receipt does not."""
    night = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)       # Accra = UTC
    n = make(engine, start=night)
    n.w.tx(ns.update, n.org_id, night, quiet_start="21:00", quiet_end="07:00")
    cid = _customer(n)
    n.w.pay(cid, 500, "ref-1", now=night)
    n.deliver()
    welcome = n.messages(kind="customer.welcome")
    receipt = n.messages(kind="payment.received")
    assert {m.not_before for m in welcome} == {datetime(2026, 11, 2, 7, 0, tzinfo=UTC)}
    assert {m.not_before for m in receipt} == {night}
    n.pump()
    assert {m.state for m in n.messages(kind="customer.welcome")} == {"pending"}
    n.set_time(datetime(2026, 11, 2, 7, 0, tzinfo=UTC))
    n.pump()
    assert {m.state for m in n.messages(kind="customer.welcome")} == {"sent"}


def test_quiet_until_spans_midnight_and_same_day_windows() -> None:
    """quiet_until: inside 21:00-07:00 before and after midnight, outside it, and a daytime window."""
    s = ns.NotifySettings(1, quiet_start="21:00", quiet_end="07:00")
    d = datetime(2026, 11, 1, tzinfo=UTC)
    assert ns.quiet_until(s, "UTC", d.replace(hour=22)) == datetime(2026, 11, 2, 7, tzinfo=UTC)
    assert ns.quiet_until(s, "UTC", d.replace(hour=3)) == datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert ns.quiet_until(s, "UTC", d.replace(hour=12)) is None
    day = ns.NotifySettings(1, quiet_start="12:00", quiet_end="14:00")
    assert ns.quiet_until(day, "UTC", d.replace(hour=13)) == d.replace(hour=14)
    # Lagos is UTC+1: 06:30 UTC is 07:30 local, outside
    assert ns.quiet_until(s, "Africa/Lagos", d.replace(hour=6, minute=30)) is None


def test_crash_between_commit_and_send_sends_exactly_once(n: Notify) -> None:
    """Rows committed by the subscriber and never sent (the daemon died) are sent by the next
    sender, once; a third sender finds nothing to send."""
    _customer(n)
    n.deliver()                                  # committed; no sender ran: the "crash"
    assert {m.state for m in n.messages()} == {"pending"}
    n.pump()
    again = MessageSender(n.db, n.w.box, n.clock, ChannelCache(n.db, n.w.box, n.clock))
    again.enabled = True
    again.pump()
    n.clock.advance(0)
    assert len(n.channels["email"].sent) == 1 and len(n.channels["sms"].sent) == 1


def test_in_flight_rows_are_not_taken_twice(n: Notify) -> None:
    """A message whose send has not answered yet is not taken again by the next pump."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].hold = True
    n.pump()
    n.pump()
    assert len(n.channels["email"].sent) == 1
    from billing.notify.channels import Sent
    n.channels["email"].pending[0].callback(Sent("x-1"))
    n.clock.advance(0)
    n.sender.flush()
    assert n.messages()[0].state == "sent"


def test_retry_and_cancel(n: Notify) -> None:
    """A failed message can be retried (pending again, attempts reset); only pending ones cancel;
    a message that carried a secret cannot be retried."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].fail = [SendError("550", retryable=False)]
    n.pump()
    (m,) = n.messages()
    with pytest.raises(ValidationError):
        n.w.tx(outbox.cancel, n.org_id, m.id, n.now)
    m = n.w.tx(outbox.retry, n.org_id, m.id, n.now)
    assert (m.state, m.attempts, m.error) == ("pending", 0, None)
    n.pump()
    assert n.messages()[0].state == "sent"
    with pytest.raises(ValidationError):
        n.w.tx(outbox.retry, n.org_id, m.id, n.now)


def test_delivery_receipt_updates_state(n: Notify) -> None:
    """A provider receipt turns sent into delivered (or failed with the error); unknown ids change nothing."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["sms"], T0)
    _customer(n)
    n.deliver()
    n.pump()
    (m,) = n.messages()
    assert n.w.tx(outbox.receipt, m.provider_id, "delivered", n.now) is True
    assert n.messages()[0].state == "delivered"
    assert n.w.tx(outbox.receipt, "nope", "delivered", n.now) is False


def test_messages_are_scoped_by_org(engine: Any) -> None:
    """Another org's message id does not exist for this org."""
    n = make(engine)
    _customer(n)
    n.deliver()
    (m, _) = n.messages()
    from aaad import orgs
    other = n.w.tx(orgs.add, "other", "Other", T0, "UTC", "USD")
    assert n.w.read(outbox.get, other.id, m.id) is None
    assert n.w.read(outbox.page, other.id).items == []


def test_channel_secrets_are_write_only_and_encrypted(n: Notify) -> None:
    """A channel's secret is stored encrypted, kept when left out of an update, removed by ""."""
    import sqlalchemy as sa

    from billing.notify.schema import channels as ch_t
    with n.w.engine.connect() as c:
        blob = c.execute(sa.select(ch_t.c.secrets_enc).where(ch_t.c.org_id == n.org_id,
                                                              ch_t.c.channel == "email")).scalar()
    assert blob and b"t0p" not in blob
    cfg = n.w.tx(ns.set_channel, n.w.box, n.org_id, "email", T0, provider="fake", settings={"x": 2})
    assert cfg.secrets == {"token": "t0p"} and cfg.public() == {"x": 2, "has_token": True}
    cfg = n.w.tx(ns.set_channel, n.w.box, n.org_id, "email", T0, provider="fake", settings={"x": 2},
                 secrets={"token": ""})
    assert cfg.public() == {"x": 2, "has_token": False}
    with pytest.raises(ValidationError) as e:
        n.w.tx(ns.set_channel, n.w.box, n.org_id, "email", T0, provider="fake", settings={},
               secrets={"nope": "x"})
    assert e.value.field == "secrets.nope"


def test_stop_waits_for_sends_in_flight_and_records_them(n: Notify) -> None:
    """Stopping while a provider has not answered waits for the answer and records it, so the
    message is not sent again after a restart; rows not yet handed over stay pending."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].hold = True
    n.pump()
    stopped = n.sender.stop()
    assert not stopped.called                   # waiting for the provider
    from billing.notify.channels import Sent
    n.channels["email"].pending[0].callback(Sent("late-1"))
    n.clock.advance(0)
    assert stopped.called
    assert n.messages()[0].state == "sent" and n.messages()[0].provider_id == "late-1"


def test_a_stuck_provider_does_not_hold_stop_forever(n: Notify) -> None:
    """A send never answered: stop gives up after stop_timeout; the row stays pending (sent again later)."""
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["email"], T0)
    _customer(n)
    n.deliver()
    n.channels["email"].hold = True
    n.pump()
    stopped = n.sender.stop()
    n.clock.advance(n.sender.stop_timeout)
    assert stopped.called and n.messages()[0].state == "pending"


def test_a_full_batch_takes_the_next_without_waiting_for_the_poll(engine: Any) -> None:
    """With batch 2 and 5 messages due, all are sent at once, not one batch per poll interval."""
    n = make(engine, channels=("email",), batch=2)
    for i in range(5):
        _customer(n, name=f"Person {i}", email=f"p{i}@example.com", phone=None)
    n.deliver()
    n.pump()
    for _ in range(5):
        n.clock.advance(0)
    assert len(n.channels["email"].sent) == 5


def test_pacing_spreads_sends_and_urgent_messages_go_first(engine: Any) -> None:
    """max_rate 10/s: 6 welcomes queued, then a receipt: the receipt is sent first; the rest go
    out at 10 a second on the clock, not at once."""
    n = make(engine, channels=("email",), max_rate=10.0)
    n.w.tx(ns.set_route, n.org_id, "payment.received", ["email"], T0)
    ids = [_customer(n, name=f"Person {i}", email=f"p{i}@example.com", phone=None) for i in range(6)]
    n.w.pay(ids[0], 500, "ref-1")
    n.deliver()
    n.pump()
    sent = n.channels["email"].sent
    assert len(sent) == 1 and "payment" in sent[0].subject.lower()
    n.clock.advance(0.1)
    assert len(sent) == 2
    for _ in range(10):
        n.clock.advance(0.1)
    assert len(sent) == 7


def test_templates_and_branding_are_read_once_per_ttl_and_a_local_edit_at_once(n: Notify, monkeypatch: Any
                                                                               ) -> None:
    """The sender reads an org's template and branding once per ``Looks.ttl`` (four queries a message
    otherwise); a template saved in this process is used by the very next message, and one changed
    elsewhere (the row written directly, as another process would) once the ttl has passed."""
    import time

    from billing.notify import sender as sender_mod
    now = [time.monotonic()]        # a local edit stamps the real monotonic time
    n.sender.looks = sender_mod.Looks(now=lambda: now[0])
    monkeypatch.setattr(templates, "edited_at", -1e9)
    reads = {"template": 0, "brand": 0}
    real_get, real_brand = templates.get, sender_mod.brand

    def counted_get(*a: Any) -> Any:
        reads["template"] += 1
        return real_get(*a)

    def counted_brand(*a: Any) -> Any:
        reads["brand"] += 1
        return real_brand(*a)
    monkeypatch.setattr(templates, "get", counted_get)
    monkeypatch.setattr(sender_mod, "brand", counted_brand)
    n.w.tx(ns.set_route, n.org_id, "customer.welcome", ["sms"], T0)
    for i in range(3):
        _customer(n, f"Ama Mensah {i}", email=None, phone=f"05400000{10 + i}")
    n.deliver()
    n.pump()
    sent = n.channels["sms"].sent
    assert len(sent) == 3 and reads == {"template": 1, "brand": 1}

    n.w.tx(templates.put, n.org_id, "customer.welcome", "sms", T0, body="Hi {{ customer.first_name }}, edited.")
    _customer(n, "Kofi Boateng", email=None, phone="0540000020")
    n.deliver()
    n.pump()
    assert sent[-1].text.startswith("Hi Kofi, edited.")    # at once, within the ttl

    now[0] = templates.edited_at + sender_mod.Looks.GRACE + 0.1    # the edit is past: what is read is kept
    from billing.notify.schema import templates as tpl_t
    with n.w.engine.begin() as c:                # "another process" changes the template
        c.execute(tpl_t.update().where(tpl_t.c.org_id == n.org_id).values(body="Elsewhere {{ customer.first_name }}."))
    _customer(n, "Yaw Owusu", email=None, phone="0540000021")
    n.deliver()
    n.pump()                                     # read (and kept): the grace had passed
    _customer(n, "Esi Asante", email=None, phone="0540000022")
    n.deliver()
    n.pump()
    assert sent[-1].text.startswith("Elsewhere Esi.")
    reads_before = reads["template"]
    with n.w.engine.begin() as c:
        c.execute(tpl_t.update().where(tpl_t.c.org_id == n.org_id).values(body="Later {{ customer.first_name }}."))
    _customer(n, "Akua Addo", email=None, phone="0540000023")
    n.deliver()
    n.pump()
    assert sent[-1].text.startswith("Elsewhere Akua.") and reads["template"] == reads_before   # cached
    now[0] += sender_mod.Looks().ttl
    _customer(n, "Kwame Mensah", email=None, phone="0540000024")
    n.deliver()
    n.pump()
    assert sent[-1].text.startswith("Later Kwame.")
