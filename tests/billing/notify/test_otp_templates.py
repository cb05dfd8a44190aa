"""One-time codes (attempt limit, expiry, throttling, the same answer for unknown numbers, the
code never stored in the clear) and the template check (syntax errors and unknown variables
refused with their line; the sandbox)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import ValidationError
from billing.notify import kinds, otp, templates
from billing.notify.schema import otp_codes
from tests.billing import fixtures_c
from tests.billing.notify.harness import Notify, make

T0 = fixtures_c.T0
P = otp.OtpPolicy(minutes=10, attempts=5, resend_seconds=60, per_hour=5)


@pytest.fixture
def n(engine: Any) -> Notify:
    return make(engine, channels=("sms",))


def _request(n: Notify, phone: str, purpose: str = "login", code: str | None = None) -> otp.Requested:
    return n.w.tx(otp.request, n.w.box, n.org_id, phone, purpose, n.now, P, code=code)


def _verify(n: Notify, phone: str, code: str, purpose: str = "login") -> bool:
    return bool(n.w.tx(otp.verify, n.org_id, phone, purpose, code, n.now, P))


def _known(n: Notify) -> None:
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, phone="0540000001")


def test_code_sent_verified_once_and_stored_hashed(n: Notify) -> None:
    """A known number gets an SMS with the code; the table holds no code; the code works once."""
    _known(n)
    r = _request(n, "0540000001", code="123456")
    assert (r.accepted, r.expires_in) == (True, 600)
    n.pump()
    (sms,) = n.channels["sms"].sent
    assert sms.to == "+233540000001" and "123456" in sms.text
    with n.w.engine.connect() as c:
        row = c.execute(sa.select(otp_codes)).one()
    assert "123456" not in row.code_hash
    assert "123456" not in (n.messages()[0].rendered or "")
    assert _verify(n, "+233540000001", "123456") is True
    assert _verify(n, "0540000001", "123456") is False          # used up


def test_unknown_number_same_answer_no_message(n: Notify) -> None:
    """For login, an unknown number gets the very same answer and no SMS is sent."""
    _known(n)
    known = _request(n, "0540000001")
    unknown = _request(n, "0540000009")
    assert known == unknown
    assert [m.recipient for m in n.messages()] == ["+233540000001"]
    # sign-up verification does go to a number nobody owns yet
    n.clock.advance(61)
    _request(n, "0540000008", purpose="signup")
    assert "+233540000008" in [m.recipient for m in n.messages()]


def test_brute_force_stopped_by_attempt_limit(n: Notify) -> None:
    """After 5 wrong tries even the right code is refused."""
    _known(n)
    _request(n, "0540000001", code="222222")
    for guess in ("000000", "111111", "333333", "444444", "555555"):
        assert _verify(n, "0540000001", guess) is False
    assert _verify(n, "0540000001", "222222") is False


def test_expired_code_fails(n: Notify) -> None:
    _known(n)
    _request(n, "0540000001", code="222222")
    n.clock.advance(timedelta(minutes=10).total_seconds())
    assert _verify(n, "0540000001", "222222") is False


def test_resend_throttled_and_hourly_cap(n: Notify) -> None:
    """A second request within 60 s is refused with the wait; at most 5 an hour."""
    _known(n)
    assert _request(n, "0540000001").accepted
    r = _request(n, "0540000001")
    assert (r.accepted, r.retry_after) == (False, 60)
    for _ in range(4):
        n.clock.advance(61)
        assert _request(n, "0540000001").accepted
    n.clock.advance(61)
    r = _request(n, "0540000001")
    assert not r.accepted and r.retry_after > 60


def test_a_new_code_replaces_the_old(n: Notify) -> None:
    _known(n)
    _request(n, "0540000001", code="111111")
    n.clock.advance(61)
    _request(n, "0540000001", code="222222")
    assert _verify(n, "0540000001", "111111") is False
    assert _verify(n, "0540000001", "222222") is True


def test_bad_phone_and_purpose_refused(n: Notify) -> None:
    with pytest.raises(ValidationError) as e:
        _request(n, "not a number")
    assert e.value.field == "phone"
    with pytest.raises(ValidationError) as e:
        _request(n, "0540000001", purpose="bogus")
    assert e.value.field == "purpose"


@pytest.mark.parametrize("source,line,what", [
    ("Hello\n{{ customer.nmae }}", 2, "nmae"),
    ("a\nb\n{% if %}", 3, "Expected an expression"),
    ("{{ amount }}", 1, "unknown variable 'amount'"),
    ("{{ customer.__class__.__mro__ }}", 1, "unsafe"),
    ("{% for x in customer %}{{ x.y }}{% endfor %}", 1, ""),
])
def test_template_check_names_the_line(source: str, line: int, what: str) -> None:
    """A template with a syntax error, an unknown variable or attribute, or a sandbox escape is
    refused naming the field and the line."""
    with pytest.raises(ValidationError) as e:
        templates.check("customer.welcome", "body", source)
    assert e.value.field == "body"
    assert f"line {line}" in str(e.value) and what in str(e.value)


def test_every_shipped_template_checks_and_renders() -> None:
    """Each kind's shipped email and SMS templates pass the check and render with the samples."""
    brand = templates.Branding("Demo ISP")
    for k in kinds.KINDS.values():
        for ch in ("email", "sms", "whatsapp"):
            t = templates.default(k.name, ch)
            templates.check(k.name, "body", t.body)
            r = templates.render(t, k.sample_vars(), brand)
            assert r.text and "{{" not in r.text
            if ch == "email":
                assert r.subject and r.html and "Demo ISP" in r.html


def test_stored_template_used_and_reset(n: Notify) -> None:
    """An org's own template replaces the default for its kind and channel until reset."""
    t = n.w.tx(templates.put, n.org_id, "customer.welcome", "sms", T0, body="Hi {{ customer.first_name }}!")
    assert t.custom
    r = n.w.read(templates.preview, n.org_id, "customer.welcome", "sms", templates.Branding("X"))
    assert r.text == "Hi Ama!"
    with pytest.raises(ValidationError) as e:
        n.w.tx(templates.put, n.org_id, "customer.welcome", "sms", T0, body="x", subject="no")
    assert e.value.field == "subject"
    assert not n.w.tx(templates.reset, n.org_id, "customer.welcome", "sms").custom


def test_html_is_escaped_text_is_not() -> None:
    """A customer named <b>x</b> is escaped in the HTML part and left alone in the text."""
    k = kinds.get("customer.welcome")
    v = k.sample_vars() | {"customer": {**k.sample_vars()["customer"], "first_name": "<b>x</b>"}}
    r = templates.render(templates.default(k.name, "email"), v, templates.Branding("ISP"))
    assert "Hello <b>x</b>," in r.text and r.html and "&lt;b&gt;x&lt;/b&gt;" in r.html


def test_reset_link_sent_once_and_kept_only_encrypted(engine: Any) -> None:
    """send_reset_link: the email carries the link; the row never holds it in the clear; asking
    twice with the same link queues it once."""
    n = make(engine, channels=("email",))
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    url = "https://isp.example/isp/portal/reset/tok123"
    ids = n.w.tx(otp.send_reset_link, n.w.box, n.org_id, cid, url, 30, n.now)
    assert len(ids) == 1 and n.w.tx(otp.send_reset_link, n.w.box, n.org_id, cid, url, 30, n.now) == []
    raw = n.raw(ids[0])
    assert url not in raw.vars and b"tok123" not in raw.secrets_enc
    n.pump()
    (mail,) = n.channels["email"].sent
    assert url in mail.text and mail.html and url in mail.html
    raw = n.raw(ids[0])
    assert raw.secrets_enc is None and "tok123" not in raw.rendered and templates.REDACTED in raw.rendered


@pytest.mark.parametrize("source", [
    '{{ "x" * 10**9 }}', '{{ 10 ** 100000 }}', '{% for i in range(100000) %}{% endfor %}',
    '{{ "%99999999s" % "a" }}', '{{ "a"|center(1000000000) }}', '{{ [1] * 100000 }}',
])
def test_templates_cannot_build_something_huge(source: str) -> None:
    """Repetition, powers, field widths, range and the width filters are refused when saved."""
    with pytest.raises(ValidationError):
        templates.check("customer.welcome", "body", source)
