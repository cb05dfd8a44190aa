"""End to end: the running daemon sends notifications through real protocol peers.

- a customer added by another process (the CLI) gets the welcome email, through a
  real SMTP server on loopback with STARTTLS and AUTH: headers and both parts as rendered;
- a daemon killed after the message was committed and before it was sent sends it
  exactly once after the restart (and not again);
- an SMS through the Twilio fake is sent, and the fake's signed status callback to
  ``/hooks/notify/twilio`` marks it delivered.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Daemon, DaemonFactory
from tests.fake_sms import FakeTwilio
from tests.smtp_server import SmtpServer

# Billing and reminder jobs stay off (the event dispatcher runs on the leader, so jobs stay on).
NO_JOBS = '[jobs]\nskip = ["billing.run", "billing.dunning", "notify.reminders", "notify.sms_balance"]\n'


def until(pred: Callable[[], Any], timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def configure(d: Daemon, channel: str, provider: str, settings: dict[str, Any], secrets: dict[str, str],
              kinds: dict[str, list[str]]) -> None:
    """Set a channel and routes of org demo straight in the database (as the CLI and API do)."""
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing.notify import settings as ns
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    box = app.secret_box(conf)
    now = datetime.now(UTC)
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            ns.set_channel(c, box, org.id, channel, now, provider=provider, settings=settings, secrets=secrets)
            for kind, chans in kinds.items():
                ns.set_route(c, org.id, kind, chans, now)
    finally:
        engine.dispose()


def messages(d: Daemon) -> list[dict[str, Any]]:
    from aaad import app
    from aaad.db import sync_engine
    from billing.notify import outbox
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    try:
        with engine.connect() as c:
            import sqlalchemy as sa

            from billing.notify.schema import messages as msg_t
            return [dict(r._mapping) for r in c.execute(sa.select(*outbox._COLS).order_by(msg_t.c.id))]
    finally:
        engine.dispose()


def test_welcome_email_over_starttls_and_auth(daemon_factory: DaemonFactory) -> None:
    """A customer added with the CLI gets the welcome email with both parts, through STARTTLS + AUTH."""
    with SmtpServer(tls="starttls", users={"isp": "s3cret"}) as smtp:
        d = daemon_factory(extra=NO_JOBS)
        settings, secrets = smtp.settings(username="isp", from_address="billing@demo-isp.example",
                                          reply_to="help@demo-isp.example")
        secrets = {"password": "s3cret"}
        configure(d, "email", "smtp", settings, secrets, {"customer.welcome": ["email"]})
        d.cli("customer", "add", "Ama Mensah", "--email", "ama@example.com", "--org", "demo")
        (got,) = smtp.wait_for(1, timeout=20)
        assert got.tls and got.login == "isp" and got.rcpt_tos == ["ama@example.com"]
        m = got.parsed()
        assert m["To"] == "ama@example.com" and m["Reply-To"] == "help@demo-isp.example"
        assert "billing@demo-isp.example" in m["From"]
        assert m["Subject"].startswith("Welcome to ")
        plain, rich = m.get_body(("plain",)), m.get_body(("html",))
        assert plain is not None and rich is not None
        text, html = plain.get_content(), rich.get_content()
        assert "Hello Ama," in text and "/demo/portal" in text
        assert "Hello Ama," in html and "<html" in html
        row = until(lambda: [r for r in messages(d) if r["kind"] == "customer.welcome" and r["state"] == "sent"])
        assert row[0]["provider_id"] == m["Message-ID"]


def test_killed_before_send_sends_exactly_once_after_restart(daemon_factory: DaemonFactory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL after the welcome was committed and before the send: after a restart it goes once."""
    with SmtpServer(tls="none") as smtp:
        conf, data_dir = daemon_factory.configure(extra=NO_JOBS)
        monkeypatch.setenv("AAAD_FAULT", "notify_before_send")
        d = daemon_factory.start(conf, data_dir)
        monkeypatch.delenv("AAAD_FAULT")
        settings, secrets = smtp.settings(from_address="billing@demo-isp.example")
        configure(d, "email", "smtp", settings, secrets, {"customer.welcome": ["email"]})
        d.cli("customer", "add", "Kofi Boateng", "--email", "kofi@example.com", "--org", "demo")
        until(lambda: d.proc.poll() is not None)            # it killed itself at the fault point
        assert not smtp.messages
        (row,) = [r for r in messages(d) if r["kind"] == "customer.welcome"]
        assert row["state"] == "pending"
        d2 = daemon_factory.start(conf, data_dir)
        smtp.wait_for(1, timeout=20)
        (row,) = until(lambda: [r for r in messages(d2) if r["state"] == "sent"])
        assert row["attempts"] == 1 and len(smtp.messages) == 1
        assert smtp.messages[0].parsed()["Message-ID"] == row["provider_id"]


def test_sms_via_twilio_fake_and_signed_delivery_receipt(daemon_factory: DaemonFactory) -> None:
    """A payment receipt SMS goes to the Twilio fake; its signed status callback marks it delivered."""
    with FakeTwilio() as tw:
        d = daemon_factory(extra=NO_JOBS)
        settings, secrets = tw.channel_settings()
        settings.pop("provider", None)
        configure(d, "sms", "twilio", settings, secrets,
                  {"customer.welcome": ["sms"], "payment.received": []})
        d.cli("customer", "add", "Esi Owusu", "--phone", "+233540000007", "--org", "demo")
        calls = tw.wait_callbacks(2, timeout=20)
        assert all("/hooks/notify/twilio" in url for url, *_ in calls)
        assert {answer for *_, answer in calls} <= {200, 204}
        row = until(lambda: [r for r in messages(d) if r["kind"] == "customer.welcome" and r["state"] == "delivered"])
        assert row[0]["recipient"] == "+233540000007" and row[0]["provider_id"].startswith("SM")


def test_forged_callback_refused(daemon: Daemon) -> None:
    """A status callback without a valid signature changes nothing and is refused."""
    import urllib.error
    import urllib.request
    body = "MessageSid=SM" + "0" * 32 + "&MessageStatus=delivered"
    req = urllib.request.Request(daemon.url("/hooks/notify/twilio"), data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Twilio-Signature": "bogus"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code in (403, 404)


def test_low_sms_balance_alerts_the_admins_once(daemon_factory: DaemonFactory) -> None:
    """`aaad jobs run notify.sms_balance`: the generic gateway's balance (42.5) below its threshold
    (100) queues one admin email; running it again the same day queues none."""
    from tests.fake_sms import FakeGateway
    with FakeGateway() as gw, SmtpServer(tls="none") as smtp:
        d = daemon_factory(extra=NO_JOBS)
        settings, secrets = gw.channel_settings(balance_threshold=100)
        settings.pop("provider", None)
        configure(d, "sms", "generic", settings, secrets, {})
        es, esec = smtp.settings(from_address="alerts@demo-isp.example")
        configure(d, "email", "smtp", es, esec, {})
        _admin_email(d, "noc@demo-isp.example")
        d.cli("jobs", "run", "notify.sms_balance", "--org", "demo")
        (got,) = smtp.wait_for(1, timeout=20)
        assert got.rcpt_tos == ["noc@demo-isp.example"] and "42.5" in got.parsed()["Subject"]
        d.cli("jobs", "run", "notify.sms_balance", "--org", "demo", check=False)
        assert len([r for r in messages(d) if r["kind"] == "admin.sms_balance_low"]) == 1


def _admin_email(d: Daemon, address: str) -> None:
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing.notify import settings as ns
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            ns.update(c, org.id, datetime.now(UTC), admin_email=address)
    finally:
        engine.dispose()


def test_a_slow_sms_gateway_does_not_stall_radius(daemon_factory: DaemonFactory) -> None:
    """20 SMS to a gateway that takes 2 s per request: RADIUS keeps answering at once meanwhile,
    and every message is sent in the end (8 at a time: [notify] per_channel)."""
    import random
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing import customers
    from tests.e2e.test_auth_e2e import radclient
    from tests.e2e.test_write_path_e2e import pap
    from tests.fake_sms import FakeGateway
    with FakeGateway() as gw:
        gw.delay = 2.0
        d = daemon_factory(extra=NO_JOBS)
        settings, secrets = gw.channel_settings()
        settings.pop("provider", None)
        configure(d, "sms", "generic", settings, secrets, {"customer.welcome": ["sms"]})
        conf = app.load_config(str(d.config_path))
        engine = sync_engine(app.database_url(conf))
        try:
            with engine.begin() as c:
                org = orgs.get_by_slug(c, "demo")
                assert org is not None
                for i in range(20):
                    customers.add(c, org.id, datetime.now(UTC), name=f"Slow {i}", phone=f"+23354100{i:04d}",
                                  rng=random.Random(i))
        finally:
            engine.dispose()
        gw.wait_for(8, timeout=20)                # the gateway is busy with the first 8
        worst = 0.0
        for _ in range(10):
            t0 = time.monotonic()
            out = radclient(d, pap("alice", "alice-pass")).stdout
            worst = max(worst, time.monotonic() - t0)
            assert "Access-Accept" in out
        assert worst < 1.0, f"an Access-Request took {worst:.2f} s while the gateway was slow"
        until(lambda: len([r for r in messages(d) if r["state"] == "sent"]) == 20, timeout=30)
