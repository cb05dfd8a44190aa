"""``aaad notify ...`` in process against a migrated SQLite database; ``notify test`` in a
subprocess (it runs a reactor) against the real SMTP server of tests/smtp_server.py."""
from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aaad import app, cli, wake
from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from billing import customers as cust
from billing.notify import outbox, reminders
from billing.notify import settings as ns
from billing.notify.templates import REDACTED
from tests.billing.fixtures_c import World
from tests.billing.notify import harness  # noqa: F401 - registers the "fake" provider for every channel
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[3]
T = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--name", "Ashanti Wi-Fi", "--timezone", "Africa/Accra",
                     "--currency", "GHS"]) == 0
    return str(p)


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def world(conf: str) -> World:
    """The CLI's database and secret key, as the test's world (org 1)."""
    c = app.load_config(conf)
    box = app.secret_box(c)
    return World(sync_engine(app.database_url(c)), 1, LoginWriter(box), box)


def customer(w: World, username: str, email: str | None = None, phone: str | None = None) -> int:
    cid = w.customer(username, "Ama Mensah")
    w.tx(cust.update, w.org_id, cid, T, email=email, phone=phone)
    return cid


def fake_channels(w: World, *channels: str) -> None:
    for ch in channels:
        w.tx(ns.set_channel, w.box, w.org_id, ch, T, provider="fake", settings={"x": 1}, secrets={"token": "t0p"})


def queue(w: World, *drafts: outbox.Draft) -> list[int]:
    return list(w.tx(outbox.queue, w.box, w.org_id, list(drafts), T))


def fail(w: World, message_id: int, detail: str = "550 5.1.1 no such user", shown: str | None = None) -> None:
    o = outbox.Outcome(message_id, False, False, detail=detail, rendered=shown)
    w.tx(outbox.record, [o], T, max_attempts=3, backoff=30, backoff_max=60)


@pytest.fixture
def listener(conf: str) -> Iterator[socket.socket]:
    """The wake socket a running daemon would listen on."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(wake.address(app.load_config(conf).server.data_dir))
    s.setblocking(False)
    yield s
    s.close()


# -- messages --------------------------------------------------------------------------------

def test_list_filters_pages_and_json(conf: str, capsys: Any) -> None:
    """The outbox listing filters by state, channel, kind and customer, pages with a cursor, and
    gives every field (but no secret) as JSON."""
    w = world(conf)
    fake_channels(w, "email", "sms")
    ama = customer(w, "ama-1", "ama@example.com", "+233540000001")
    kofi = customer(w, "kofi-2", "kofi@example.com")
    queue(w, outbox.Draft("customer.welcome", "w:1", ama), outbox.Draft("customer.welcome", "w:2", kofi),
          outbox.Draft("password.reset", "r:1", ama, {"minutes": 30}, {"reset_url": "https://x/reset/S3CRET"}))
    rc, out = run(conf, "notify", "list", capsys=capsys)
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "created", "(UTC)", "kind", "channel", "to", "customer", "state", "attempts",
                                "error"]
    assert len(lines) == 6 and "password.reset" in lines[1] and "S3CRET" not in out
    rc, out = run(conf, "notify", "list", "--channel", "sms", "--json", capsys=capsys)
    rows = json.loads(out)
    assert [(r["kind"], r["recipient"], r["customer"]) for r in rows] == [
        ("password.reset", "+233540000001", "ama-1"), ("customer.welcome", "+233540000001", "ama-1")]
    assert rows[0]["has_secrets"] is True and "secrets_enc" not in rows[0] and "S3CRET" not in out
    rc, out = run(conf, "notify", "list", "--customer", "kofi-2", "--kind", "customer.welcome", capsys=capsys)
    assert rc == 0 and "kofi@example.com" in out and "ama" not in out
    rc, out = run(conf, "notify", "list", "--state", "failed", capsys=capsys)
    assert rc == 0 and "(none)" in out
    rc, out = run(conf, "notify", "list", "--limit", "2", "--json", capsys=capsys)
    assert len(json.loads(out.split("more:")[0])) == 2 and "more: add --cursor " in out
    cursor = out.split("--cursor ")[1].split()[0]
    rc, out = run(conf, "notify", "list", "--limit", "2", "--cursor", cursor, "--json", capsys=capsys)
    assert [r["id"] for r in json.loads(out.split("more:")[0])] == [3, 2] and "more:" in out

    rc, out = run(conf, "notify", "list", "--customer", "nobody", capsys=capsys)
    assert rc == 2 and "no customer 'nobody' (see: aaad customer list)" in out
    rc, out = run(conf, "notify", "list", "--cursor", "garbage", capsys=capsys)
    assert rc == 2 and "cursor: not a cursor" in out
    rc, out = run(conf, "notify", "list", "--limit", "0", capsys=capsys)
    assert rc == 2 and "--limit: at least 1" in out
    with pytest.raises(SystemExit):
        run(conf, "notify", "list", "--state", "lost", capsys=capsys)


def test_show_pending_failed_and_secret_messages(conf: str, capsys: Any) -> None:
    """``show`` gives everything about a message: a pending one rendered now, a failed one as it
    was sent with its error, secrets always masked, and what to do next."""
    w = world(conf)
    fake_channels(w, "email")
    ama = customer(w, "ama-1", "ama@example.com")
    welcome, = queue(w, outbox.Draft("customer.welcome", "w:1", ama))
    reset, = queue(w, outbox.Draft("password.reset", "r:1", ama, {"minutes": 30},
                                   {"reset_url": "https://x/reset/S3CRET"}))
    rc, out = run(conf, "notify", "show", str(welcome), capsys=capsys)
    assert rc == 0, out
    assert out.startswith(f"message {welcome}: customer.welcome by email to ama@example.com (customer ama-1)")
    assert "state        pending" in out and "as it will be sent (rendered now" in out
    assert "Subject: Welcome to Ashanti Wi-Fi" in out and "Hello Ama," in out
    assert f"(cancel it: aaad notify cancel {welcome})" in out

    rc, out = run(conf, "notify", "show", str(reset), capsys=capsys)
    assert rc == 0 and "S3CRET" not in out and REDACTED in out
    assert "secrets      reset_url: kept encrypted until it is sent, shown masked" in out
    fail(w, reset, shown=f"Subject: Reset\n\nopen {REDACTED}")
    rc, out = run(conf, "notify", "show", str(reset), capsys=capsys)
    assert "state        failed after 1 attempt(s)" in out and "error        550 5.1.1 no such user" in out
    assert f"--- as rendered for the last attempt (secrets masked) ---\nSubject: Reset\n\nopen {REDACTED}" in out
    assert "no longer kept (cleared once it finished)" in out and "aaad notify retry" not in out
    assert "it cannot be retried; ask for a new one" in out

    fail(w, welcome, detail="535 5.7.8 bad credentials", shown="Subject: Welcome\n\nHello Ama")
    rc, out = run(conf, "notify", "show", str(welcome), "--json", capsys=capsys)
    data = json.loads(out)
    assert (data["state"], data["error"], data["customer"], data["preview"]) == (
        "failed", "535 5.7.8 bad credentials", "ama-1", None)
    assert data["rendered"] == "Subject: Welcome\n\nHello Ama"
    assert "secrets_enc" not in data and data["vars"]["customer"]["username"] == "ama-1"
    rc, out = run(conf, "notify", "show", str(welcome), capsys=capsys)
    assert f"(send it again: aaad notify retry {welcome})" in out

    sent, = queue(w, outbox.Draft("customer.welcome", "w:2", customer(w, "kofi-2", "kofi@example.com")))
    w.tx(outbox.record, [outbox.Outcome(sent, True, provider_id="<aaad.1.3@isp.example>", rendered="Hi Kofi")], T,
         max_attempts=3, backoff=30, backoff_max=60)
    rc, out = run(conf, "notify", "show", str(sent), capsys=capsys)
    assert "state        sent after 1 attempt(s)" in out and "provider id  <aaad.1.3@isp.example>" in out
    assert "--- as sent (secrets masked) ---\nHi Kofi" in out and "aaad notify" not in out

    rc, out = run(conf, "notify", "show", "999", capsys=capsys)
    assert rc == 2 and "no message 999 (see: aaad notify list)" in out


def test_cancel_and_retry_wake_the_daemon(conf: str, capsys: Any, listener: socket.socket) -> None:
    """``cancel`` stops a pending message; ``retry`` queues a failed or cancelled one again and
    wakes the daemon listening on this data directory; other states are refused."""
    w = world(conf)
    fake_channels(w, "email", "sms")
    ama = customer(w, "ama-1", "ama@example.com")
    mid, = queue(w, outbox.Draft("customer.welcome", "w:1", ama))
    code, = queue(w, outbox.Draft("otp.code", "otp:1", None, {"minutes": 10}, {"code": "123456"},
                                  to={"sms": "+233540000009"}))
    rc, out = run(conf, "notify", "cancel", str(mid), capsys=capsys)
    assert rc == 0 and f"message {mid} (customer.welcome by email to ama@example.com) cancelled" in out
    assert w.read(outbox.require, 1, mid).state == "cancelled"
    rc, out = run(conf, "notify", "cancel", str(mid), capsys=capsys)
    assert rc == 2 and f"state: message {mid} is cancelled: only pending messages can be cancelled" in out
    while True:                                  # drain wake-ups so far
        try:
            listener.recv(16)
        except BlockingIOError:
            break
    rc, out = run(conf, "notify", "retry", str(mid), capsys=capsys)
    assert rc == 0 and "is pending again" in out and "the daemon was woken: it sends it now" in out
    assert listener.recv(16) == b"w"
    m = w.read(outbox.require, 1, mid)
    assert (m.state, m.attempts, m.error) == ("pending", 0, None)
    rc, out = run(conf, "notify", "retry", str(mid), capsys=capsys)
    assert rc == 2 and "is pending: only failed or cancelled messages can be retried" in out
    fail(w, code)
    rc, out = run(conf, "notify", "retry", str(code), capsys=capsys)
    assert rc == 2 and "carried a secret that is no longer kept; ask for a new one instead" in out
    rc, out = run(conf, "notify", "retry", "404", capsys=capsys)
    assert rc == 2 and "no message 404" in out


def test_retry_without_a_daemon_says_when_it_goes(conf: str, capsys: Any) -> None:
    """With no daemon listening, ``retry`` says the message waits for the next poll or start."""
    w = world(conf)
    fake_channels(w, "email")
    mid, = queue(w, outbox.Draft("customer.welcome", "w:1", customer(w, "ama-1", "ama@example.com")))
    fail(w, mid)
    rc, out = run(conf, "notify", "retry", str(mid), capsys=capsys)
    assert rc == 0 and "no daemon on this machine answered the wake-up" in out


# -- channels --------------------------------------------------------------------------------

def test_whatsapp_templates_set_as_json_and_refused_naming_the_placeholder(conf: str, capsys: Any) -> None:
    """A kind's WhatsApp Content template is set with --set whatsapp_templates=JSON; an unknown variable in
    a placeholder is refused naming it, and nothing is stored."""
    w = world(conf)
    sid, hx = "AC" + "0" * 32, "HX" + "1" * 32
    good = json.dumps({"invoice.issued": {"content_sid": hx, "variables": {"1": "{{ invoice.total }}"}}})
    rc, out = run(conf, "notify", "channel", "set", "whatsapp", "--provider", "twilio", "--set", f"account_sid={sid}",
                  "--set", "whatsapp_from=+14155238886", "--secret", "auth_token=tok",
                  "--set", f"whatsapp_templates={good}", capsys=capsys)
    assert rc == 0, out
    cfg = w.read(ns.get_channel, w.box, 1, "whatsapp")
    assert cfg.settings["whatsapp_templates"]["invoice.issued"]["content_sid"] == hx
    bad = good.replace("invoice.total", "balance")
    rc, out = run(conf, "notify", "channel", "set", "whatsapp", "--set", f"whatsapp_templates={bad}", capsys=capsys)
    assert rc == 2 and "--set whatsapp_templates: whatsapp_templates.invoice.issued.variables.1: line 1: unknown " \
        "variable 'balance'" in out, out
    cfg = w.read(ns.get_channel, w.box, 1, "whatsapp")
    assert cfg.settings["whatsapp_templates"]["invoice.issued"]["variables"] == {"1": "{{ invoice.total }}"}


def test_channel_set_show_remove_never_print_secrets(conf: str, capsys: Any, monkeypatch: Any) -> None:
    """Channels are set up with --set (JSON or text) and --secret (also from stdin), changed
    piecemeal, shown with has_x flags only, disabled and removed; each mistake names its flag."""
    w = world(conf)
    rc, out = run(conf, "notify", "channel", "set", "email", "--set", "host=smtp.isp.example", capsys=capsys)
    assert rc == 2 and "--provider: required for a new email channel (email: smtp;" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--provider", "smtp", "--set", "host=smtp.isp.example",
                  "--set", "port=2525", "--set", "from_address=billing@isp.example", "--set", "username=bob",
                  "--secret", "password=hunter2", capsys=capsys)
    assert rc == 0, out
    assert "email: smtp, enabled" in out and "has_password  yes" in out and "port          2525" in out
    assert "hunter2" not in out and "(check it: aaad notify test --channel email --to ADDRESS)" in out
    cfg = w.read(ns.get_channel, w.box, 1, "email")
    assert cfg.settings["port"] == 2525 and cfg.secrets == {"password": "hunter2"}

    monkeypatch.setattr(sys, "stdin", io.StringIO("from-stdin\n"))
    rc, out = run(conf, "notify", "channel", "set", "email", "--secret", "password=-", "--set", "verify_tls=false",
                  "--disable", capsys=capsys)
    assert rc == 0 and "email: smtp, disabled" in out and "from-stdin" not in out
    cfg = w.read(ns.get_channel, w.box, 1, "email")
    assert (cfg.secrets, cfg.settings["verify_tls"], cfg.settings["host"], cfg.enabled) == (
        {"password": "from-stdin"}, False, "smtp.isp.example", False)

    rc, out = run(conf, "notify", "channel", "set", "email", "--set", "colour=red", capsys=capsys)
    assert rc == 2 and "--set colour: unknown email setting" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--set", "port=99999", capsys=capsys)
    assert rc == 2 and "--set port: must be" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--secret", "token=x", capsys=capsys)
    assert rc == 2 and "--secret token: not a secret of smtp (those are: password)" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--set", "password=x", capsys=capsys)
    assert rc == 2 and "--set password: a secret: give it under secrets" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--provider", "pigeon", capsys=capsys)
    assert rc == 2 and "--provider: email has no provider 'pigeon'" in out
    rc, out = run(conf, "notify", "channel", "set", "email", "--unset", "nothing", capsys=capsys)
    assert rc == 2 and "--unset nothing: not set" in out
    with pytest.raises(SystemExit):
        run(conf, "notify", "channel", "set", "email", "--set", "novalue", capsys=capsys)
    assert w.read(ns.get_channel, w.box, 1, "email").settings["port"] == 2525      # nothing half-stored

    rc, out = run(conf, "notify", "channel", "set", "email", "--secret", "password=", "--set", "username=",
                  "--enable", capsys=capsys)
    assert rc == 0 and "has_password  no" in out and "email: smtp, enabled" in out
    rc, out = run(conf, "notify", "channel", "show", "email", "--json", capsys=capsys)
    data = json.loads(out)
    assert (data["provider"], data["enabled"], data["settings"]["has_password"], data["settings"]["port"]) == (
        "smtp", True, False, 2525)
    fake_channels(w, "sms")
    rc, out = run(conf, "notify", "channel", "show", capsys=capsys)
    assert rc == 0 and "email: smtp, enabled" in out and "sms: fake, enabled" in out
    assert "has_token  yes" in out and "t0p" not in out and "whatsapp: not set up" in out
    rc, out = run(conf, "notify", "channel", "show", "--json", capsys=capsys)
    assert [c["channel"] for c in json.loads(out)] == ["email", "sms"] and "t0p" not in out

    rc, out = run(conf, "notify", "channel", "remove", "sms", capsys=capsys)
    assert rc == 0 and "sms channel removed" in out and w.read(ns.get_channel, w.box, 1, "sms") is None
    rc, out = run(conf, "notify", "channel", "remove", "sms", capsys=capsys)
    assert rc == 2 and "no channel 'sms' (see: aaad notify channel show)" in out
    rc, out = run(conf, "notify", "channel", "show", "whatsapp", capsys=capsys)
    assert rc == 2 and "no channel 'whatsapp'" in out


# -- templates -------------------------------------------------------------------------------

def test_templates_list_show_set_preview_reset(conf: str, capsys: Any, tmp_path: Path) -> None:
    """Templates are listed with their SMS length, shown with their variables, saved from files
    after the check (a refused one names the part and the line), previewed and reset."""
    rc, out = run(conf, "notify", "template", "list", "--kind", "payment.received", "--json", capsys=capsys)
    rows = json.loads(out)
    assert [(r["channel"], r["template"]) for r in rows] == [("email", "default"), ("sms", "default"),
                                                             ("whatsapp", "default")]
    assert rows[1]["sample length"].startswith("2 SMS (UCS-2")                    # GH₵ is not GSM-7
    rc, out = run(conf, "notify", "template", "show", "payment.received", "sms", capsys=capsys)
    assert rc == 0 and "payment.received by sms: the shipped default" in out
    assert "balance_due  Whether something is still owed (true/false)." in out

    bad = tmp_path / "bad.txt"
    bad.write_text("Hi {{ customer.first_name }},\nyou paid {{ paymnt.amount }}\n")
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", "--body-file", str(bad),
                  capsys=capsys)
    assert rc == 2 and f"template refused: body (--body-file {bad}): line 2: unknown variable 'paymnt'" in out
    bad.write_text("Hi\n\n{% if balance_due %}owed\n")
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", "--body-file", str(bad),
                  capsys=capsys)
    assert rc == 2 and "template refused: body" in out and "line 3:" in out
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", "--subject", "Hi", capsys=capsys)
    assert rc == 2 and "template refused: subject (--subject): a sms message has only a body" in out
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", "--body-file", "/no/such",
                  capsys=capsys)
    assert rc == 2 and "--body-file: cannot read /no/such" in out
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", capsys=capsys)
    assert rc == 2 and "nothing to change" in out

    good = tmp_path / "good.txt"
    good.write_text("{{ org.name }}: got {{ payment.amount }}. Thanks {{ customer.first_name }}!")
    rc, out = run(conf, "notify", "template", "set", "payment.received", "sms", "--body-file", str(good),
                  capsys=capsys)
    assert rc == 0 and "saved the org's own payment.received template for sms" in out
    assert "with the sample data: 1 SMS (UCS-2" in out
    rc, out = run(conf, "notify", "template", "preview", "payment.received", "sms", capsys=capsys)
    assert rc == 0 and out.startswith("Demo ISP: got GH₵120.00. Thanks Ama!") and "-- 1 SMS" in out
    rc, out = run(conf, "notify", "template", "preview", "payment.received", "sms", "--json", capsys=capsys)
    assert json.loads(out)["sms"]["segments"] == 1
    rc, out = run(conf, "notify", "template", "preview", "payment.received", "sms", "--html", capsys=capsys)
    assert rc == 2 and "--html: a sms message has no HTML part" in out

    html = tmp_path / "p.html"
    html.write_text("<p>Paid: <b>{{ payment.amount }}</b></p>\n<p>{{ customer.name }}</p>")
    rc, out = run(conf, "notify", "template", "set", "payment.received", "email", "--subject",
                  "Thanks, {{ customer.first_name }}", "--html-file", str(html), capsys=capsys)
    assert rc == 0, out
    rc, out = run(conf, "notify", "template", "preview", "payment.received", "email", capsys=capsys)
    assert out.startswith("Subject: Thanks, Ama\n\nHello Ama,")                 # the shipped text part kept
    rc, out = run(conf, "notify", "template", "preview", "payment.received", "email", "--html", capsys=capsys)
    assert "<b>GH₵120.00</b>" in out
    rc, out = run(conf, "notify", "template", "list", "--channel", "email", capsys=capsys)
    assert any(line.startswith("payment.received") and " own " in line for line in out.splitlines())

    rc, out = run(conf, "notify", "template", "reset", "payment.received", "sms", capsys=capsys)
    assert rc == 0 and "back to the shipped default" in out
    rc, out = run(conf, "notify", "template", "reset", "payment.received", "sms", capsys=capsys)
    assert "already the shipped default" in out
    rc, out = run(conf, "notify", "template", "show", "no.such", "sms", capsys=capsys)
    assert rc == 2 and "no message kind 'no.such'" in out


# -- rules, routes, settings, opt-outs -------------------------------------------------------

def test_rules_add_list_enable_disable_remove(conf: str, capsys: Any) -> None:
    """Rules take signed offsets without ``--`` (-3d, 0, +2d, -2h); bad or duplicate ones are
    refused; they are listed, switched off and on, and removed."""
    for kind, off in (("invoice.due_reminder", "-3d"), ("invoice.due_reminder", "0"),
                      ("invoice.due_reminder", "+2d"), ("service.expiry_warning", "-2h")):
        rc, out = run(conf, "notify", "rule", "add", kind, off, capsys=capsys)
        assert rc == 0, out
    assert "rule 4: service.expiry_warning 2 hours before expiry" in out
    rc, out = run(conf, "notify", "rule", "add", "invoice.due_reminder", "-3d", capsys=capsys)
    assert rc == 2 and "rule 1 already sends invoice.due_reminder 3 days before the due date" in out
    rc, out = run(conf, "notify", "rule", "add", "invoice.due_reminder", "-2h", capsys=capsys)
    assert rc == 2 and "whole days" in out
    rc, out = run(conf, "notify", "rule", "add", "invoice.due_reminder", "soon", capsys=capsys)
    assert rc == 2 and "offset: 'soon': give a signed duration like -3d" in out
    rc, out = run(conf, "notify", "rule", "add", "service.expiry_warning", "-30m", "--disabled", capsys=capsys)
    assert rc == 0 and "(disabled)" in out
    rc, out = run(conf, "notify", "rule", "list", "--json", capsys=capsys)
    assert [(r["kind"], r["offset"], r["enabled"]) for r in json.loads(out)] == [
        ("invoice.due_reminder", "-3d", True), ("invoice.due_reminder", "0", True),
        ("invoice.due_reminder", "+2d", True), ("service.expiry_warning", "-2h", True),
        ("service.expiry_warning", "-30m", False)]
    rc, out = run(conf, "notify", "rule", "disable", "1", capsys=capsys)
    assert rc == 0 and "rule 1 disabled: invoice.due_reminder 3 days before the due date" in out
    rc, out = run(conf, "notify", "rule", "enable", "5", capsys=capsys)
    assert rc == 0 and "rule 5 enabled" in out
    rc, out = run(conf, "notify", "rule", "list", "--kind", "invoice.due_reminder", capsys=capsys)
    assert "3 days before the due date  no" in out and "expiry" not in out
    rc, out = run(conf, "notify", "rule", "remove", "2", capsys=capsys)
    assert rc == 0 and "rule 2 removed: invoice.due_reminder on the due date" in out
    w = world(conf)
    assert [r.id for r in w.read(reminders.list_rules, 1)] == [1, 3, 4, 5]
    for cmd in ("remove", "enable", "disable"):
        rc, out = run(conf, "notify", "rule", cmd, "99", capsys=capsys)
        assert rc == 2 and "no rule 99 (see: aaad notify rule list)" in out


def test_routes_settings_and_opt_out(conf: str, capsys: Any) -> None:
    """Routes are shown and set per kind (channels, --default, --none) with a note for channels
    not set up; settings are shown and changed with errors naming the flag; customers opt out and
    back in."""
    w = world(conf)
    fake_channels(w, "email")
    rc, out = run(conf, "notify", "route", capsys=capsys)
    assert rc == 0 and re.search(r"^invoice\.issued +email +default ", out, re.M), out
    assert "note: sms is not set up or disabled" in out
    rc, out = run(conf, "notify", "route", "invoice.issued", "sms", "email", capsys=capsys)
    assert rc == 0 and "invoice.issued  email, sms  own" in out
    rc, out = run(conf, "notify", "route", "invoice.issued", "--json", capsys=capsys)
    assert json.loads(out) == [{"kind": "invoice.issued", "channels": ["email", "sms"], "custom": True,
                                "default": ["email"], "not_enabled": ["sms"]}]
    rc, out = run(conf, "notify", "route", "invoice.issued", "--none", capsys=capsys)
    assert "invoice.issued  (not sent)  own" in out
    rc, out = run(conf, "notify", "route", "invoice.issued", "--default", capsys=capsys)
    assert "invoice.issued  email     default" in out
    rc, out = run(conf, "notify", "route", "invoice.issued", "fax", capsys=capsys)
    assert rc == 2 and "unknown channel 'fax'" in out
    rc, out = run(conf, "notify", "route", "invoice.lost", "email", capsys=capsys)
    assert rc == 2 and "no message kind 'invoice.lost' (see: aaad notify route)" in out
    rc, out = run(conf, "notify", "route", "invoice.issued", "email", "--default", capsys=capsys)
    assert rc == 2 and "give one of them" in out

    rc, out = run(conf, "notify", "settings", capsys=capsys)
    assert rc == 0 and "quiet hours            none" in out and "09:00 Africa/Accra" in out
    rc, out = run(conf, "notify", "settings", "--admin-email", "Ops@ISP.example", "--quiet", "21:00-07:00",
                  "--reminders-at", "08:30", "--sms-balance-threshold", "50", capsys=capsys)
    assert rc == 0, out
    assert "ops@isp.example" in out and "21:00-07:00 Africa/Accra" in out and "08:30" in out and "  50" in out
    rc, out = run(conf, "notify", "settings", "--json", capsys=capsys)
    assert json.loads(out) == {"admin_email": "ops@isp.example", "admin_phone": None, "quiet_start": "21:00",
                               "quiet_end": "07:00", "reminders_at": "08:30", "sms_balance_threshold": 50.0,
                               "timezone": "Africa/Accra"}
    rc, out = run(conf, "notify", "settings", "--no-quiet", "--sms-balance-threshold", "off", "--admin-email", "",
                  capsys=capsys)
    assert rc == 0 and "quiet hours            none" in out and "sms_balance_threshold  off" in out
    assert "admin_email            (none" in out
    for args, expected in ((["--quiet", "9pm-7am"], "--quiet: '9pm-7am' is not START-END"),
                           (["--quiet", "07:00-07:00"], "--quiet: must differ from quiet_start"),
                           (["--reminders-at", "25:00"], "--reminders-at: '25:00' is not a local time"),
                           (["--admin-email", "nobody"], "--admin-email: 'nobody' is not an e-mail address"),
                           (["--sms-balance-threshold", "-1"], "--sms-balance-threshold: must be 0 or more")):
        rc, out = run(conf, "notify", "settings", *args, capsys=capsys)
        assert rc == 2 and expected in out, (args, out)

    ama = customer(w, "ama-1", "ama@example.com")
    rc, out = run(conf, "notify", "opt-out", "ama-1", capsys=capsys)
    assert rc == 0 and "ama-1 opted out of optional messages (usage.cap_warning, service.expiry_warning)" in out
    assert w.read(ns.opted_out, 1, [ama]) == {ama}
    rc, out = run(conf, "notify", "opt-out", "ama@example.com", "--undo", capsys=capsys)
    assert rc == 0 and "gets optional messages again" in out and w.read(ns.opted_out, 1, [ama]) == set()
    rc, out = run(conf, "notify", "opt-out", "ghost", capsys=capsys)
    assert rc == 2 and "no customer 'ghost'" in out


def test_several_orgs_need_org(conf: str, capsys: Any) -> None:
    """With several orgs a command needs --org; each org sees only its own messages and settings."""
    assert cli.main(["-c", conf, "org", "add", "other"]) == 0
    rc, out = run(conf, "notify", "list", capsys=capsys)
    assert rc == 2 and "several orgs exist: say which with --org SLUG" in out
    w = world(conf)
    fake_channels(w, "email")
    mid, = queue(w, outbox.Draft("customer.welcome", "w:1", customer(w, "ama-1", "ama@example.com")))
    rc, out = run(conf, "notify", "list", "--org", "other", capsys=capsys)
    assert rc == 0 and "(none)" in out
    rc, out = run(conf, "notify", "show", str(mid), "--org", "other", capsys=capsys)
    assert rc == 2 and f"no message {mid}" in out
    rc, out = run(conf, "notify", "settings", "--org", "other", "--reminders-at", "07:00", capsys=capsys)
    assert rc == 0 and w.read(ns.get, 1).reminders_at == "09:00"


# -- notify test -----------------------------------------------------------------------------

def aaad(conf: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aaad", "-c", conf, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def set_email(conf: str, smtp: SmtpServer, capsys: Any) -> None:
    settings, secrets = smtp.settings()
    flags = [a for k, v in settings.items() for a in ("--set", f"{k}={v if isinstance(v, str) else json.dumps(v)}")]
    flags += [a for k, v in secrets.items() for a in ("--secret", f"{k}={v}")]
    rc, out = run(conf, "notify", "channel", "set", "email", "--provider", "smtp", *flags, capsys=capsys)
    assert rc == 0, out


def test_notify_test_sends_through_smtp_now(conf: str, capsys: Any) -> None:
    """``notify test`` sends one message now over STARTTLS with AUTH to the real server, prints the
    Message-ID and the server's answer, and queues nothing in the outbox."""
    with SmtpServer(users={"bob": "s3cret"}) as smtp:
        set_email(conf, smtp, capsys)
        p = aaad(conf, "notify", "test", "--channel", "email", "--to", "Ama@Example.com")
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"sending a test email message to ama@example.com through smtp at 127.0.0.1:{smtp.port} ..." in p.stdout
        assert "sent: the provider took it" in p.stdout and "provider id: <aaad.1." in p.stdout
        assert "answer:      250" in p.stdout and "s3cret" not in p.stdout + p.stderr
        got, = smtp.messages
        assert (got.rcpt_tos, got.tls, got.login) == (["ama@example.com"], True, "bob")
        m = got.parsed()
        assert m["Subject"] == "Test message from Ashanti Wi-Fi" and m["To"] == "ama@example.com"
        assert "sent with 'aaad notify test' to check the smtp settings" in m.get_content()
    rc, out = run(conf, "notify", "list", capsys=capsys)
    assert "(none)" in out


def test_notify_test_failures_say_whether_to_retry(conf: str, capsys: Any) -> None:
    """A refused recipient fails for good, a deferred one is worth retrying; both exit 1."""
    with SmtpServer(users={"bob": "s3cret"}, reject=["gone@example.com"], defer=["later@example.com"]) as smtp:
        set_email(conf, smtp, capsys)
        p = aaad(conf, "notify", "test", "--channel", "email", "--to", "gone@example.com")
        assert p.returncode == 1 and "failed: " in p.stdout and "550" in p.stdout
        assert "retryable: no - the provider refused it" in p.stdout
        p = aaad(conf, "notify", "test", "--channel", "email", "--to", "later@example.com", "--text", "hello")
        assert p.returncode == 1 and "451" in p.stdout and "retryable: yes" in p.stdout
        assert not smtp.messages


def test_notify_test_refuses_before_sending(conf: str, capsys: Any) -> None:
    """Without a channel, with a bad address, or with stored settings that no longer parse,
    ``notify test`` says why and sends nothing (exit 2)."""
    rc, out = run(conf, "notify", "test", "--channel", "email", "--to", "a@example.com", capsys=capsys)
    assert rc == 2 and "the org has no email channel: set one up first with 'aaad notify channel set email" in out
    w = world(conf)
    w.tx(ns.set_channel, w.box, 1, "email", T, provider="smtp",
         settings={"host": "127.0.0.1", "port": 1, "from_address": "b@isp.example", "security": "none"})
    rc, out = run(conf, "notify", "test", "--channel", "email", "--to", "not-an-address", capsys=capsys)
    assert rc == 2 and "to: 'not-an-address' is not an e-mail address" in out
    fake_channels(w, "sms")
    rc, out = run(conf, "notify", "test", "--channel", "sms", "--to", "12", capsys=capsys)
    assert rc == 2 and "to: '12' is not" in out
    from billing.notify.schema import channels as ch_t
    with w.engine.begin() as c:
        c.execute(ch_t.update().where(ch_t.c.channel == "email").values(settings='{"host": "127.0.0.1"}'))
    rc, out = run(conf, "notify", "test", "--channel", "email", "--to", "a@example.com", capsys=capsys)
    assert rc == 2 and "the stored email settings do not parse: from_address:" in out


def test_notify_test_sms_and_whatsapp_through_the_fakes(conf: str) -> None:
    """``notify test`` sends an SMS through the org's generic gateway and a WhatsApp message through
    Twilio now (the fakes see them), and reports a gateway's 503 as retryable."""
    from tests.fake_sms import FakeGateway, FakeTwilio
    w = world(conf)
    with FakeGateway(auth=("bearer", "gw-t0ken")) as gw, FakeTwilio() as tw:
        settings, secrets = gw.channel_settings()
        settings.pop("provider")
        w.tx(ns.set_channel, w.box, 1, "sms", T, provider="generic", settings=settings, secrets=secrets)
        settings, secrets = tw.channel_settings()
        settings.pop("provider")
        w.tx(ns.set_channel, w.box, 1, "whatsapp", T, provider="twilio", settings=settings, secrets=secrets)
        p = aaad(conf, "notify", "test", "--channel", "sms", "--to", "+233540000001", "--text", "ping")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "through generic at 127.0.0.1:" in p.stdout and "sent: the provider took it" in p.stdout
        seen, = gw.requests()
        assert (seen.one("to"), seen.one("text")) == ("+233540000001", "ping") and "gw-t0ken" not in p.stdout
        p = aaad(conf, "notify", "test", "--channel", "whatsapp", "--to", "+233540000001")
        assert p.returncode == 0, p.stdout + p.stderr
        (sid, msg), = tw.messages.items()
        assert f"provider id: {sid}" in p.stdout and msg["to"] == "whatsapp:+233540000001"
        gw.mode = "503"
        p = aaad(conf, "notify", "test", "--channel", "sms", "--to", "+233540000001")
        assert p.returncode == 1 and "503" in p.stdout and "retryable: yes" in p.stdout


def test_channel_set_says_how_to_give_what_is_missing(conf: str, capsys: Any) -> None:
    """A setting or secret the provider needs and was not given is named with the flag that
    gives it; JSON values (a dict of parameters) are stored as such and shown compactly."""
    base = ["notify", "channel", "set", "sms", "--provider", "generic", "--set", "url=http://127.0.0.1:9/send"]
    rc, out = run(conf, *base, "--set", "auth=bearer", "--set", 'params={"to": "{to}", "text": "{text}"}',
                  capsys=capsys)
    assert rc == 2 and "token: required for bearer auth (give it with --secret token=- to type it)" in out
    rc, out = run(conf, *base, capsys=capsys)
    assert rc == 2 and "(give it with --set params=VALUE)" in out
    rc, out = run(conf, *base, "--set", 'params={"to": "{to}", "text": "{text}"}', "--set", "auth=bearer",
                  "--secret", "token=gw-s3cret", capsys=capsys)
    assert rc == 0, out
    assert '  params        {"text": "{text}", "to": "{to}"}' in out and "has_token     yes" in out
    assert "gw-s3cret" not in out and "(not set: auth_name, " in out
    w = world(conf)
    assert w.read(ns.get_channel, w.box, 1, "sms").settings["params"] == {"to": "{to}", "text": "{text}"}


def test_notify_test_through_the_file_provider(conf: str, capsys: Any, tmp_path: Path) -> None:
    """A channel of the ``file`` provider is tested like any other: the message lands in its folder."""
    folder = tmp_path / "outbox"
    rc, out = run(conf, "notify", "channel", "set", "sms", "--provider", "file", "--set", f"directory={folder}",
                  capsys=capsys)
    assert rc == 0, out
    p = aaad(conf, "notify", "test", "--channel", "sms", "--to", "+233540000001", "--text", "hello from the CLI")
    assert p.returncode == 0 and "sent: the provider took it" in p.stdout, p.stdout + p.stderr
    written, = folder.iterdir()
    assert written.read_text().splitlines()[0] == "To: +233540000001" and "hello from the CLI" in written.read_text()
