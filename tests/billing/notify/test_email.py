"""The email channel: settings, the message it builds, and sending over SMTP to a real server (aiosmtpd) on
loopback with STARTTLS or implicit TLS and AUTH, through Twisted's client on a real reactor in a subprocess
(pytest runs none)."""
from __future__ import annotations

import base64
import email
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.mail import smtp
from twisted.python.failure import Failure

from aaad.errors import ValidationError
from billing.notify.channels import Attachment, Outgoing, SendError
from billing.notify.email import (
    EmailChannel,
    SmtpSettings,
    build_message,
    classify,
    parse_settings,
    public_settings,
)
from tests.smtp_server import SmtpServer, make_certificate

ROOT = Path(__file__).resolve().parents[3]
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n.\r\n..\n%%EOF\n"    # binary, with lines that need dot-stuffing
TEXT = "Dear Ama,\n\nYour invoice INV-0007 of GH₵ 120.00 is due on 3 June.\n.\nA line with a dot alone above.\n"
HTML = ("<html><body><p>Dear Ama,</p><p>Your invoice <b>INV-0007</b> of GH₵ 120.00 is due on 3 June.</p>"
        + "<p>" + "x" * 1200 + "</p></body></html>\n")


def outgoing(**kw: Any) -> Outgoing:
    base: dict[str, Any] = {"message_id": 42, "org_id": 7, "channel": "email", "to": "ama@example.com",
                            "subject": "Invoice INV-0007 — due 3 June", "text": TEXT, "html": HTML,
                            "from_name": "Ashanti Wi-Fi Ltd"}
    base.update(kw)
    return Outgoing(**base)


def wire(msg: Outgoing) -> dict[str, Any]:
    """``msg`` as email_run.py takes it."""
    d = {k: getattr(msg, k) for k in ("message_id", "org_id", "to", "subject", "text", "html", "from_name")}
    d["attachments"] = [{"filename": a.filename, "content_type": a.content_type,
                         "data_b64": base64.b64encode(a.data).decode()} for a in msg.attachments]
    return d


def run_sends(*sends: tuple[tuple[dict[str, Any], dict[str, Any]], Outgoing]) -> list[dict[str, Any]]:
    """Send each (settings and secrets, message) with the real EmailChannel, all at once, in a subprocess."""
    results: list[dict[str, Any]] = run_spec(sends)["results"]
    return results


def run_spec(sends: Any, **options: Any) -> dict[str, Any]:
    """Run email_run.py with ``sends`` and the spec's ``options`` (shared, sequential, linger); its output."""
    spec = {"sends": [{"settings": s, "secrets": sec, "message": wire(m)} for (s, sec), m in sends], **options}
    p = subprocess.run([sys.executable, "-m", "tests.billing.notify.email_run"], input=json.dumps(spec),
                       capture_output=True, text=True, timeout=30, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def parse(raw: bytes) -> EmailMessage:
    m = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(m, EmailMessage)
    return m


def body_of(m: EmailMessage, subtype: str) -> str:
    part = m.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")          # line ends are the wire's (CRLF); the text is ours


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer(users={"alice": "s3cret pässword"}) as s:
        yield s


# -- settings ---------------------------------------------------------------------------------------


def test_settings_defaults_follow_security(tmp_path: Path) -> None:
    """The port defaults to 587 for starttls (the default), 465 for tls, 25 for none; TLS is verified."""
    base = {"host": "smtp.example.com", "from_address": "billing@isp.example"}
    s = parse_settings(base, {})
    assert (s.security, s.port, s.timeout, s.verify_tls, s.ca_file, s.username, s.reply_to) == \
        ("starttls", 587, 30.0, True, None, "", None)
    assert parse_settings({**base, "security": "tls"}, {}).port == 465
    assert parse_settings({**base, "security": "none"}, {}).port == 25
    assert parse_settings({**base, "security": "tls", "port": 2465}, {}).port == 2465


def test_public_settings_hide_the_password() -> None:
    """The API view has every setting but the password, and says whether one is set; repr hides it too."""
    s = parse_settings({"host": "smtp.example.com", "from_address": "billing@isp.example", "username": "u",
                        "reply_to": "help@isp.example"}, {"password": "hunter2"})
    pub = public_settings(s)
    assert pub == {"host": "smtp.example.com", "port": 587, "security": "starttls", "username": "u",
                   "from_address": "billing@isp.example", "reply_to": "help@isp.example", "timeout": 30.0,
                   "verify_tls": True, "ca_file": None, "helo_name": "", "keep_open": 5.0, "has_password": True}
    assert "hunter2" not in repr(s) and "hunter2" not in json.dumps(pub)
    # what the API shows, given back with the secrets, parses to the same settings
    back = {k: v for k, v in pub.items() if k != "has_password"}
    assert parse_settings(back, {"password": "hunter2"}) == s


def _bad_cases(tmp: Path) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    (tmp / "junk.pem").write_text("not a certificate\n")
    return [
        ({"host": ""}, {}, "host"),
        ({"host": "smtp example.com"}, {}, "host"),
        ({"host": "smtp.example.com\r\nX"}, {}, "host"),
        ({"port": 0}, {}, "port"),
        ({"port": 65536}, {}, "port"),
        ({"port": "587"}, {}, "port"),
        ({"port": True}, {}, "port"),
        ({"security": "ssl"}, {}, "security"),
        ({"username": "u"}, {}, "password"),
        ({"username": "u\nv"}, {"password": "p"}, "username"),
        ({"username": "u"}, {"password": "p\r\n"}, "password"),
        ({"username": "u", "security": "none"}, {"password": "p"}, "security"),
        ({"from_address": ""}, {}, "from_address"),
        ({"from_address": "billing"}, {}, "from_address"),
        ({"from_address": "Billing <billing@isp.example>"}, {}, "from_address"),
        ({"from_address": "bïlling@isp.example"}, {}, "from_address"),
        ({"reply_to": "help@"}, {}, "reply_to"),
        ({"timeout": 0}, {}, "timeout"),
        ({"timeout": -1}, {}, "timeout"),
        ({"timeout": "30"}, {}, "timeout"),
        ({"timeout": 3600}, {}, "timeout"),
        ({"timeout": float("nan")}, {}, "timeout"),
        ({"verify_tls": "yes"}, {}, "verify_tls"),
        ({"ca_file": str(tmp / "missing.pem")}, {}, "ca_file"),
        ({"ca_file": str(tmp / "junk.pem")}, {}, "ca_file"),
        ({"helo_name": "not a name"}, {}, "helo_name"),
        ({"hots": "typo.example.com"}, {}, "hots"),
        ({"password": "in the wrong dict"}, {}, "password"),
        ({}, {"api_key": "x"}, "api_key"),
    ]


def test_parse_settings_rejects_each_bad_field(tmp_path: Path) -> None:
    """Every bad value is refused with a ValidationError naming its key."""
    base = {"host": "smtp.example.com", "from_address": "billing@isp.example"}
    for settings, secrets, field in _bad_cases(tmp_path):
        with pytest.raises(ValidationError) as e:
            parse_settings({**base, **settings}, secrets)
        assert e.value.field == field, (settings, secrets, e.value)


def test_parse_settings_accepts_a_ca_bundle_and_an_idn_domain(tmp_path: Path) -> None:
    """ca_file may hold several PEM certificates; an internationalised domain is kept in its ASCII form."""
    a, _ = make_certificate(tmp_path / "a", "a.test")
    b, _ = make_certificate(tmp_path / "b", "b.test")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(a.read_bytes() + b.read_bytes())
    s = parse_settings({"host": "smtp.example.com", "from_address": "billing@bücher.example",
                        "ca_file": str(bundle)}, {})
    assert s.from_address == "billing@xn--bcher-kva.example" and s.domain == "xn--bcher-kva.example"
    EmailChannel(MemoryReactorClock(), s)          # the bundle loads as a trust root


# -- the message ------------------------------------------------------------------------------------

SETTINGS = SmtpSettings(host="smtp.example.com", from_address="billing@isp.example", reply_to="help@isp.example")
NOW = 1780000000.0           # 2026-05-28 20:26:40 UTC


def test_message_headers_and_parts() -> None:
    """Headers as given (non-ASCII encoded), text and HTML as multipart/alternative, every byte 7-bit, CRLF."""
    mid, raw = build_message(SETTINGS, outgoing(from_name="Ashanti Wi-Fi — Kumasi"), domain="isp.example",
                             now=NOW)
    assert mid == "<aaad.7.42@isp.example>"
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    m = parse(raw)
    assert m["From"].addresses[0].display_name == "Ashanti Wi-Fi — Kumasi"
    assert m["From"].addresses[0].addr_spec == "billing@isp.example"
    assert (m["To"], m["Reply-To"], m["Subject"]) == ("ama@example.com", "help@isp.example",
                                                       "Invoice INV-0007 — due 3 June")
    assert m["Message-ID"] == mid and m["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(m["Date"]).timestamp() == NOW
    assert m.get_content_type() == "multipart/alternative"
    assert body_of(m, "plain") == TEXT and body_of(m, "html") == HTML
    assert build_message(SETTINGS, outgoing(subject="again"), domain="isp.example", now=NOW + 60)[0] == mid


def test_message_text_only_and_attachments() -> None:
    """Text alone is one text/plain part; attachments make it multipart/mixed and come back byte for byte."""
    _, raw = build_message(SETTINGS, outgoing(html=None), domain="isp.example", now=NOW)
    m = parse(raw)
    assert m.get_content_type() == "text/plain" and body_of(m, "plain") == TEXT
    receipt = Attachment("receipt R-9.txt", "text/plain", "Paid GH₵ 5\n".encode())
    _, raw = build_message(SETTINGS, outgoing(attachments=(Attachment("INV-0007.pdf", "application/pdf", PDF),
                                                           receipt)), domain="isp.example", now=NOW)
    m = parse(raw)
    assert m.get_content_type() == "multipart/mixed"
    assert body_of(m, "plain") == TEXT and body_of(m, "html") == HTML
    atts = list(m.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in atts] == \
        [("INV-0007.pdf", "application/pdf"), ("receipt R-9.txt", "text/plain")]
    assert atts[0].get_content() == PDF


def test_message_refuses_header_injection() -> None:
    """A subject or recipient carrying a line break cannot add headers: the message is not built."""
    with pytest.raises(ValueError):
        build_message(SETTINGS, outgoing(subject="Hi\r\nBcc: all@example.com"), domain="isp.example", now=NOW)
    with pytest.raises(ValueError):
        build_message(SETTINGS, outgoing(to="ama@example.com\r\nBcc: all@example.com"), domain="isp.example",
                      now=NOW)


def test_send_refuses_a_bad_recipient_without_connecting() -> None:
    """A recipient that is no address (or not ASCII before the @) fails at once, not retryable."""
    reactor = MemoryReactorClock()
    ch = EmailChannel(reactor, SETTINGS)
    for to in ("nobody", "amá@example.com", "a b@example.com"):
        f: list[Failure] = []
        ch.send(outgoing(to=to)).addErrback(f.append)
        assert f and isinstance(f[0].value, SendError) and f[0].value.retryable is False, to
    assert reactor.tcpClients == []


def test_send_connects_as_configured_and_cancel_disconnects() -> None:
    """starttls/none connect TCP, tls connects SSL, each with the timeout; cancelling drops the connection."""
    reactor = MemoryReactorClock()
    EmailChannel(reactor, parse_settings({"host": "smtp.example.com", "from_address": "b@isp.example",
                                          "timeout": 7}, {})).send(outgoing())
    EmailChannel(reactor, parse_settings({"host": "smtp.example.com", "from_address": "b@isp.example",
                                          "security": "tls"}, {})).send(outgoing())
    (host, port, _, timeout, _), = reactor.tcpClients
    assert (host, port, timeout) == ("smtp.example.com", 587, 7.0)
    (host, port, _, _, timeout, _), = reactor.sslClients
    assert (host, port, timeout) == ("smtp.example.com", 465, 30.0)
    d = EmailChannel(reactor, SETTINGS).send(outgoing())
    connector = reactor.connectors[-1]
    d.cancel()
    f: list[Failure] = []
    d.addErrback(f.append)
    assert f and connector._disconnected


def test_classify_codes_and_keeps_credentials_out() -> None:
    """4xx and network trouble are retryable, 5xx not; the detail has the reply, never the session log."""
    log = b">>> AUTH PLAIN AGFsaWNlAHMzY3JldA==\n<<< 535 5.7.8 Authentication credentials invalid"
    cases = [
        (smtp.AUTHDeclinedError(535, b"5.7.8 Authentication credentials invalid", log), False, "535"),
        (smtp.AUTHDeclinedError(454, b"4.7.0 Temporary authentication failure", log), True, "454"),
        (smtp.SMTPDeliveryError(550, b"No recipients accepted", log,
                                [(b"ama@example.com", 550, b"5.1.1 No such user")]), False, "ama@example.com"),
        (smtp.SMTPDeliveryError(451, b"4.3.0 try later", log, []), True, "451"),
        (smtp.SMTPDeliveryError(552, b"5.3.4 Message too big", log, []), False, "552"),
        (smtp.SMTPConnectError(421, b"4.3.2 Too busy", log), True, "421"),
        (smtp.SMTPConnectError(-1, b"Unable to connect to SMTP server: Connection refused", log), True, "refused"),
        (smtp.SMTPTimeoutError(-1, b"Timeout waiting for SMTP server response", log), True, "timeout"),
        (smtp.TLSRequiredError(502, b"Server does not support secure communication", log), False, "STARTTLS"),
        (smtp.AUTHRequiredError(502, b"no schemes", log), False, "AUTH"),
        (smtp.SMTPProtocolError(-1, b"Invalid response", log), True, "Invalid response"),
        (ConnectionResetError("reset"), True, "reset"),
    ]
    for exc, retryable, word in cases:
        e = classify(Failure(exc))
        assert (e.retryable, word in e.detail) == (retryable, True), (exc, e.detail)
        assert "AGFsaWNl" not in e.detail


# -- over the wire ----------------------------------------------------------------------------------


def test_starttls_auth_delivers_headers_parts_and_pdf() -> None:
    """Over STARTTLS with AUTH (PLAIN, and LOGIN where only that is offered) the message arrives as built:
    envelope, headers, both parts and the PDF intact; a resend of the same outbox row has the same Message-ID."""
    msg = outgoing(attachments=(Attachment("INV-0007.pdf", "application/pdf", PDF),))
    with SmtpServer(users={"alice": "s3cret pässword"}) as plain_srv, \
            SmtpServer(users={"bob": "hunter2"}, mechanisms=("LOGIN",)) as login_srv:
        s = plain_srv.settings(reply_to="help@isp.example")
        r1, r2, r3 = run_sends((s, msg), (s, outgoing(subject="second try")), (login_srv.settings(), msg))
        assert r1 == {"provider_id": "<aaad.7.42@isp.example>", "detail": r1["detail"], "elapsed": r1["elapsed"]}
        assert r1["detail"].startswith("250 2.0.0 Ok: queued as Q") and r2["provider_id"] == r1["provider_id"]
        assert r3["provider_id"] == r1["provider_id"]
        assert [a[:3] for a in plain_srv.auth_attempts] == [("PLAIN", "alice", True)] * 2
        assert login_srv.auth_attempts == [("LOGIN", "bob", True)]
        got = sorted(plain_srv.wait_for(2), key=lambda r: b"second try" in r.data)
        assert len(got) == 2 and len(login_srv.messages) == 1
        for rec in (got[0], login_srv.messages[0]):
            assert (rec.mail_from, rec.rcpt_tos, rec.tls) == ("billing@isp.example", ["ama@example.com"], True)
            m = rec.parsed()
            assert m["From"].addresses[0].display_name == "Ashanti Wi-Fi Ltd"
            assert m["From"].addresses[0].addr_spec == "billing@isp.example"
            assert m["To"] == "ama@example.com" and m["Subject"] == "Invoice INV-0007 — due 3 June"
            assert m["Message-ID"] == "<aaad.7.42@isp.example>" and m["Auto-Submitted"] == "auto-generated"
            assert parsedate_to_datetime(m["Date"]).tzinfo is not None
            assert body_of(m, "plain") == TEXT and body_of(m, "html") == HTML
            (pdf,) = m.iter_attachments()
            assert (pdf.get_filename(), pdf.get_content_type(), pdf.get_content()) == \
                ("INV-0007.pdf", "application/pdf", PDF)
        assert got[0].login == "alice" and login_srv.messages[0].login == "bob"
        assert parse(got[0].data)["Reply-To"] == "help@isp.example"
        assert parse(login_srv.messages[0].data)["Reply-To"] is None
        assert parse(got[1].data)["Message-ID"] == "<aaad.7.42@isp.example>"


def test_implicit_tls_and_plain_relay_deliver() -> None:
    """security=tls speaks TLS from the first byte (with AUTH); security=none reaches a LAN relay in clear;
    verify_tls=false accepts a certificate nobody vouches for."""
    with SmtpServer(tls="implicit", users={"alice": "pw"}) as tls_srv, SmtpServer(tls="none") as relay, \
            SmtpServer() as self_signed:
        r1, r2, r3 = run_sends((tls_srv.settings(), outgoing()),
                               (relay.settings(helo_name="aaad.isp.example"), outgoing(html=None)),
                               (self_signed.settings(ca_file=None, verify_tls=False), outgoing()))
        assert "provider_id" in r1 and "provider_id" in r2 and "provider_id" in r3, (r1, r2, r3)
        assert [r.tls for r in self_signed.messages] == [True]
        ((rec1,), (rec2,)) = tls_srv.messages, relay.messages
        assert (rec1.tls, rec1.login, rec2.tls, rec2.login) == (True, "alice", False, None)
        assert rec2.helo == "aaad.isp.example"
        assert body_of(parse(rec1.data), "html") == HTML and body_of(parse(rec2.data), "plain") == TEXT


def test_tls_required_never_sends_in_clear(tmp_path: Path) -> None:
    """starttls against a server without STARTTLS, and tls against a certificate we do not trust: no MAIL
    FROM and no AUTH ever sent; the first is a configuration error (not retryable), the second retryable."""
    other_ca, _ = make_certificate(tmp_path, "localhost")
    with SmtpServer(tls="none", users={"alice": "pw"}) as plain_srv, SmtpServer(users={"alice": "pw"}) as srv:
        s, sec = plain_srv.settings()
        s2, sec2 = srv.settings(ca_file=str(other_ca))
        r1, r2 = run_sends(((dict(s, security="starttls"), sec), outgoing()), ((s2, sec2), outgoing()))
        assert r1["retryable"] is False and "STARTTLS" in r1["error"], r1
        assert r2["retryable"] is True and "TLS handshake failed" in r2["error"], r2
        for srv_ in (plain_srv, srv):
            assert (srv_.mail_from, srv_.auth_attempts, srv_.messages) == ([], [], [])


def test_refusals_map_to_retryable_or_not(server: SmtpServer) -> None:
    """Wrong password (535) and a refused recipient (550) and a rejected message (554) are final;
    a 451 recipient is retryable."""
    srv = server
    srv.reject, srv.defer = {"gone@example.com"}, {"busy@example.com"}
    bad_pw = srv.settings(password="wrong")
    with SmtpServer(users={"alice": "pw"}, data_reply="554 5.7.1 Message rejected as spam") as spam_srv:
        r = run_sends((bad_pw, outgoing()), (srv.settings(), outgoing(to="gone@example.com")),
                      (srv.settings(), outgoing(to="busy@example.com")), (spam_srv.settings(), outgoing()))
    assert [(x.get("retryable"), x.get("error")) for x in r] == [
        (False, "authentication refused: 535 5.7.8 Authentication credentials invalid"),
        (False, "recipient gone@example.com refused: 550 5.1.1 No such user here"),
        (True, "recipient busy@example.com refused: 451 4.3.0 Mailbox busy, try again later"),
        (False, "554 5.7.1 Message rejected as spam")]
    assert "wrong" not in r[0]["error"]
    assert srv.messages == [] and ("PLAIN", "alice", False) in srv.auth_attempts


def test_no_server_no_answer_slow_server_are_retryable() -> None:
    """Connection refused, a server that never answers and one too slow to accept the data are retryable,
    each within the configured timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with SmtpServer(silent=True) as silent, SmtpServer(users={"alice": "pw"}, delay=3) as slow:
        refused = silent.settings(port=closed_port, timeout=0.5)
        r = run_sends((refused, outgoing()), (silent.settings(timeout=0.5), outgoing()),
                      (slow.settings(timeout=0.5), outgoing()))
        assert silent.connections == 1 and slow.mail_from == [("billing@isp.example", True)]
    assert [x.get("retryable") for x in r] == [True, True, True], r
    assert "cannot connect" in r[0]["error"] and "timeout" in r[1]["error"] and "timeout" in r[2]["error"]
    assert 0.5 <= r[1]["elapsed"] < 2.5 and 0.5 <= r[2]["elapsed"] < 2.5


def test_one_connection_carries_a_burst_and_closes_when_idle(server: SmtpServer) -> None:
    """Messages sent one after another through one channel go over one connection (one STARTTLS and AUTH),
    each with its own envelope and Message-ID; a refused recipient fails only its message; the connection
    says QUIT once ``keep_open`` passes without a message."""
    srv = server
    srv.reject = {"gone@example.com"}
    settings = srv.settings(keep_open=0.5)
    out = run_spec([(settings, outgoing(message_id=i, to=to)) for i, to in
                    enumerate(["a@example.com", "gone@example.com", "b@example.com", "c@example.com"], 1)],
                   shared=True, sequential=True, linger=1.5)
    ok1, gone, ok2, ok3 = out["results"]
    assert gone["retryable"] is False and "gone@example.com refused: 550" in gone["error"]
    assert [r["provider_id"].split(".")[2].split("@")[0] for r in (ok1, ok2, ok3)] == ["1", "3", "4"]
    assert out["connections"] == [1] and srv.connections == 1 and srv.quits == 1
    got = srv.wait_for(3)
    assert [m.rcpt_tos for m in got] == [["a@example.com"], ["b@example.com"], ["c@example.com"]]
    assert len({m.peer for m in got}) == 1 and all(m.tls and m.login == "alice" for m in got)
    assert [a for a in srv.auth_attempts if a[1] == "alice"] == [("PLAIN", "alice", True)]


def test_keep_open_zero_and_overlapping_sends_use_connections_of_their_own(server: SmtpServer) -> None:
    """keep_open 0 closes after each message; sends that overlap each get a connection."""
    srv = server
    one_each = run_spec([(srv.settings(keep_open=0), outgoing(message_id=i)) for i in (1, 2)],
                        shared=True, sequential=True, linger=0.5)
    assert one_each["connections"] == [2] and srv.quits == 2
    overlapping = run_spec([(srv.settings(), outgoing(message_id=i)) for i in (3, 4, 5)], shared=True)
    assert overlapping["connections"] == [3]
    assert len(srv.wait_for(5)) == 5
