"""SMS settings parsing, parameter templates, Twilio signatures and status callbacks (pure functions)."""
from __future__ import annotations

from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from aaad.errors import ValidationError
from billing.notify.channels import Outgoing, SendError
from billing.notify.sms import (
    GenericSettings,
    Receipt,
    TwilioSettings,
    parse_generic,
    parse_sms_settings,
    parse_twilio,
    parse_twilio_status,
    placeholder_values,
    public_settings,
    render_template,
    twilio_receipt,
    twilio_signature,
    valid_twilio_signature,
)

SID = "AC" + "0123456789abcdef" * 2
MG = "MG" + "fedcba9876543210" * 2
GENERIC: dict[str, Any] = {"provider": "generic", "url": "https://sms.example.net/api/send", "method": "POST",
                           "body": "json", "params": {"to": "{to}", "msg": "{text}", "from": "{sender}"},
                           "sender": "AcmeNet", "auth": "bearer", "success_path": "status", "success_value": "ok",
                           "id_path": "data.id", "balance_url": "https://sms.example.net/api/balance",
                           "balance_path": "balance", "balance_threshold": 10}


def bad_field(settings: dict[str, Any], secrets: dict[str, Any], parse: Any = parse_generic) -> str:
    with pytest.raises(ValidationError) as e:
        parse(settings, secrets)
    return e.value.field


def test_generic_parses() -> None:
    """A full generic gateway's settings parse; defaults fill the rest."""
    s = parse_generic(GENERIC, {"token": "t0k"})
    assert (s.url, s.method, s.body, s.auth, s.token, s.balance_threshold) == \
        (GENERIC["url"], "POST", "json", "bearer", "t0k", 10.0)
    m = parse_generic({"url": "http://10.0.0.5:13013/cgi-bin/sendsms", "method": "get",
                       "params": {"to": "{to_local}", "text": "{text}"}}, {})
    assert (m.method, m.body, m.auth, m.balance_threshold) == ("GET", "form", "none", None)
    assert "t0k" not in repr(s)


@pytest.mark.parametrize(("change", "secrets", "field"), [
    ({"url": "ftp://x/y"}, {"token": "t"}, "url"),
    ({"url": "https://user:pw@x/y"}, {"token": "t"}, "url"),
    ({"url": None}, {"token": "t"}, "url"),
    ({"method": "PUT"}, {"token": "t"}, "method"),
    ({"body": "xml"}, {"token": "t"}, "body"),
    ({"params": {}}, {"token": "t"}, "params"),
    ({"params": {"to": "{to}", "msg": "{txt}"}}, {"token": "t"}, "params.msg"),
    ({"params": {"to": "{to", "msg": "{text}"}}, {"token": "t"}, "params.to"),
    ({"params": {"msg": "{text}"}}, {"token": "t"}, "params"),
    ({"params": {"to": "{to}"}}, {"token": "t"}, "params"),
    ({"sender": "A very long sender"}, {"token": "t"}, "sender"),
    ({"auth": "digest"}, {"token": "t"}, "auth"),
    ({}, {}, "token"),
    ({"auth": "basic"}, {"password": "p"}, "auth_username"),
    ({"auth": "basic", "auth_username": "u"}, {}, "password"),
    ({"auth": "header"}, {"api_key": "k"}, "auth_name"),
    ({"auth": "header", "auth_name": "bad header"}, {"api_key": "k"}, "auth_name"),
    ({"auth": "query", "auth_name": "key"}, {}, "api_key"),
    ({"success_value": ""}, {"token": "t"}, "success_value"),
    ({"id_path": "data..id"}, {"token": "t"}, "id_path"),
    ({"balance_path": ""}, {"token": "t"}, "balance_path"),
    ({"balance_threshold": -1}, {"token": "t"}, "balance_threshold"),
    ({"headers": {"Authorization": "x"}}, {"token": "t"}, "headers.Authorization"),
    ({"colour": "blue"}, {"token": "t"}, "colour"),
    ({}, {"token": "t", "pin": "1"}, "pin"),
])
def test_generic_rejects_naming_the_field(change: dict[str, Any], secrets: dict[str, Any], field: str) -> None:
    """Each bad generic setting or secret is refused with its name."""
    settings = {**GENERIC, **change}
    assert bad_field(settings, secrets) == field


def test_twilio_parses_and_rejects() -> None:
    """Twilio settings parse; a bad SID, sender, URL or missing token is refused with its name."""
    s = parse_twilio({"account_sid": SID, "from_number": "+15005550006", "whatsapp_from": "whatsapp:+14155238886",
                      "status_callback": "https://isp.example.com/notify/twilio/status"}, {"auth_token": "x" * 32})
    assert (s.whatsapp_from, s.base_url, s.messaging_service_sid) == ("+14155238886", "https://api.twilio.com", "")
    assert "x" * 32 not in repr(s)
    ok: dict[str, Any] = {"account_sid": SID, "from_number": "+15005550006"}
    token = {"auth_token": "tok"}
    assert bad_field({**ok, "account_sid": "AC123"}, token, parse_twilio) == "account_sid"
    assert bad_field(ok, {}, parse_twilio) == "auth_token"
    assert bad_field({**ok, "from_number": "0540000000"}, token, parse_twilio) == "from_number"
    assert bad_field({"account_sid": SID}, token, parse_twilio) == "from_number"
    assert bad_field({**ok, "messaging_service_sid": "MG1"}, token, parse_twilio) == "messaging_service_sid"
    assert bad_field({**ok, "whatsapp_from": "+1"}, token, parse_twilio) == "whatsapp_from"
    assert bad_field({**ok, "status_callback": "not a url"}, token, parse_twilio) == "status_callback"
    assert bad_field({**ok, "base_url": "api.twilio.com"}, token, parse_twilio) == "base_url"
    assert bad_field({**ok, "sender": "x"}, token, parse_twilio) == "sender"
    assert parse_twilio({"account_sid": SID, "messaging_service_sid": MG, "from_number": "AcmeNet"}, token)


HX = "HX" + "0123456789abcdef" * 2


def bad(settings: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as e:
        parse_twilio(settings, {"auth_token": "tok"})
    return e.value.field, e.value.message


def test_whatsapp_templates_parse_and_are_refused_naming_where() -> None:
    """``whatsapp_templates`` maps message kinds to a Content SID and placeholder expressions, each checked as a
    template of its kind would be: a bad kind, SID, shape or expression is refused with where it is."""
    ok: dict[str, Any] = {"account_sid": SID, "whatsapp_from": "+14155238886"}
    s = parse_twilio({**ok, "whatsapp_templates": {"invoice.issued": {
        "content_sid": HX, "variables": {"1": "{{ customer.first_name }}", "2": "{{ invoice.total }}"}}}},
        {"auth_token": "tok"})
    t = s.whatsapp_templates["invoice.issued"]
    assert (t.content_sid, t.variables) == (HX, (("1", "{{ customer.first_name }}"), ("2", "{{ invoice.total }}")))
    assert public_settings(s)["whatsapp_templates"] == {"invoice.issued": {
        "content_sid": HX, "variables": {"1": "{{ customer.first_name }}", "2": "{{ invoice.total }}"}}}
    assert parse_twilio({**ok, "whatsapp_templates": {"otp.code": {"content_sid": HX}}},
                        {"auth_token": "t"}).whatsapp_templates["otp.code"].variables == ()
    wt = "whatsapp_templates"
    assert bad({**ok, wt: ["x"]})[0] == wt
    assert bad({**ok, wt: {"no.such.kind": {"content_sid": HX}}})[0] == wt
    assert bad({**ok, wt: {"invoice.issued": {"content_sid": "HX12"}}})[0] == f"{wt}.invoice.issued.content_sid"
    assert bad({**ok, wt: {"invoice.issued": {"content_sid": HX, "body": "x"}}})[0] == f"{wt}.invoice.issued"
    assert bad({**ok, wt: {"invoice.issued": {"content_sid": HX, "variables": ["a"]}}})[0] == \
        f"{wt}.invoice.issued.variables"
    field, message = bad({**ok, wt: {"invoice.issued": {"content_sid": HX, "variables": {"1": "{{ balance }}"}}}})
    assert field == f"{wt}.invoice.issued.variables.1" and "unknown variable 'balance'" in message
    field, message = bad({**ok, wt: {"invoice.issued": {"content_sid": HX, "variables": {"1": "{{ invoice.total"}}}})
    assert field == f"{wt}.invoice.issued.variables.1" and "line 1" in message
    many = {str(i): "{{ org.name }}" for i in range(101)}
    assert bad({**ok, wt: {"invoice.issued": {"content_sid": HX, "variables": many}}})[0] == \
        f"{wt}.invoice.issued.variables"


def test_parse_sms_settings_dispatches() -> None:
    """``provider`` picks the parser; anything else is refused on ``provider``."""
    assert isinstance(parse_sms_settings(GENERIC, {"token": "t"}), GenericSettings)
    assert isinstance(parse_sms_settings({"provider": "twilio", "account_sid": SID, "from_number": "+15005550006"},
                                         {"auth_token": "t"}), TwilioSettings)
    assert bad_field({"provider": "nexmo"}, {}, parse_sms_settings) == "provider"


def test_public_settings_hide_secrets() -> None:
    """The public view has every setting, no secret, and has_<secret> flags."""
    pub = public_settings(parse_generic(GENERIC, {"token": "t0k"}))
    assert (pub["has_token"], pub["has_password"], pub["has_api_key"]) == (True, False, False)
    assert "t0k" not in repr(pub) and pub["params"] == GENERIC["params"] and pub["balance_threshold"] == 10
    tw = public_settings(parse_twilio({"account_sid": SID, "from_number": "+15005550006"}, {"auth_token": "s3cr3t"}))
    assert tw["has_auth_token"] is True and "s3cr3t" not in repr(tw) and tw["account_sid"] == SID


def test_templates_and_placeholders() -> None:
    """Placeholders fill from the message; {{ and }} are literal braces; {to_local} is the national number."""
    msg = Outgoing(message_id=42, org_id=1, channel="sms", to="+233540000001", subject="", text="Hi {you}")
    values = placeholder_values(msg, "AcmeNet")
    assert values == {"to": "+233540000001", "to_local": "0540000001", "to_digits": "233540000001",
                      "text": "Hi {you}", "sender": "AcmeNet", "message_id": "42"}
    assert render_template('{{"to":"{to_digits}","id":{message_id}}}', values) == '{"to":"233540000001","id":42}'
    assert render_template("{text}", values) == "Hi {you}"
    with pytest.raises(SendError) as e:
        placeholder_values(Outgoing(1, 1, "sms", "0540000001", "", "x"), "")
    assert not e.value.retryable


def test_signature_matches_twilios_documented_example() -> None:
    """Twilio's webhook-security example (token 12345, its URL, five params) signs to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert RequestValidator("12345").compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_twilio_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert valid_twilio_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", params,
                                  "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_twilio_signature("12345", url, {**params, "Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_twilio_signature("54321", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_twilio_signature("12345", url, params, "")


def test_signature_agrees_with_twilio_library_on_unicode_and_repeats() -> None:
    """Non-ASCII values and repeated names sign as the official library signs them."""
    url = "https://isp.example.com/notify/twilio/status"
    params = {"Body": ["Olá €5", "Ω"], "MessageSid": ["SM" + "a" * 32]}

    class MultiDict(dict[str, list[str]]):      # what the library reads repeated names from (Django's QueryDict)
        def getlist(self, name: str) -> list[str]:
            return self[name]
    want = RequestValidator("tok").compute_signature(url, MultiDict(params))
    assert twilio_signature("tok", url, params) == want


def test_parse_twilio_status() -> None:
    """A status callback's form becomes a Receipt; error codes get their documented meaning."""
    sid = "SM" + "b" * 32
    assert parse_twilio_status({"MessageSid": sid, "MessageStatus": "delivered"}) == Receipt(sid, "delivered")
    r = parse_twilio_status({"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert (r.state, r.error_code, r.error_message) == ("undelivered", 30003, "Unreachable destination handset")
    assert parse_twilio_status({"SmsSid": sid, "SmsStatus": "failed", "ErrorCode": "12345"}).error_message == \
        "Twilio error 12345"
    with pytest.raises(ValidationError) as e:
        parse_twilio_status({"MessageSid": sid, "MessageStatus": "exploded"})
    assert e.value.field == "MessageStatus"
    with pytest.raises(ValidationError) as e:
        parse_twilio_status({"MessageStatus": "sent"})
    assert e.value.field == "MessageSid"


def test_twilio_receipt_checks_the_signature() -> None:
    """twilio_receipt reads a correctly signed callback and refuses a forged one, naming the header."""
    url = "https://isp.example.com/hooks/notify/twilio"
    form = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered", "AccountSid": SID}
    good = twilio_signature("tok", url, form)
    assert twilio_receipt("tok", url, form, good) == Receipt("SM" + "c" * 32, "delivered")
    with pytest.raises(ValidationError) as e:
        twilio_receipt("tok", url, {**form, "MessageStatus": "failed"}, good)
    assert e.value.field == "X-Twilio-Signature"


def test_sample_vars_are_a_copy_each_time() -> None:
    """Changing one caller's sample data (a test, a preview's overrides) changes no one else's."""
    from billing.notify import kinds
    a = kinds.get("invoice.issued").sample_vars()
    a["customer"]["first_name"] = ""
    assert kinds.get("invoice.issued").sample_vars()["customer"]["first_name"] == "Ama"
    assert kinds.get("payment.received").sample_vars()["customer"]["first_name"] == "Ama"
