"""The SMS/WhatsApp channels in memory (treq's StubTreq, a fake clock): requests built, answers judged."""
from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
from treq.testing import StubTreq
from twisted.internet import defer, task
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from aaad.errors import ValidationError
from billing.notify.channels import Outgoing, SendError, Sent
from billing.notify.sms import (
    BalanceError,
    Http,
    TwilioSmsChannel,
    TwilioWhatsAppChannel,
    build_channel,
    check_balance,
    parse_generic,
    parse_twilio,
)

SID = "AC" + "0123456789abcdef" * 2
MSG = Outgoing(message_id=7, org_id=3, channel="sms", to="+233540000001", subject="", text="Olá, your bill is €5")


class Script(Resource):
    """Answers requests from a queue of (code, headers, body); code None never answers."""
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.answers: deque[tuple[int | None, dict[str, str], Any]] = deque()
        self.seen: list[dict[str, Any]] = []

    def answer(self, code: int | None, body: Any = None, **headers: str) -> Script:
        self.answers.append((code, headers, body))
        return self

    def render(self, request: Request) -> bytes | int:
        assert request.content is not None
        body = request.content.read()
        self.seen.append({"method": request.method.decode(), "uri": request.uri.decode(),
                          "headers": {k.decode().lower(): v[0].decode()
                                      for k, v in request.requestHeaders.getAllRawHeaders()},
                          "body": body})
        code, headers, doc = self.answers.popleft()
        if code is None:
            return NOT_DONE_YET
        request.setResponseCode(code)
        for k, v in headers.items():
            request.setHeader(k.replace("_", "-"), v)
        if isinstance(doc, bytes):
            return doc
        request.setHeader("Content-Type", "application/json")
        return json.dumps(doc).encode()


def run(script: Script, send: Any) -> Any:
    """Run ``send(http, clock)`` against ``script``; its result, or the exception it failed with."""
    stub = StubTreq(script)
    clock = task.Clock()
    d: defer.Deferred[Any] = send(cast(Http, stub), clock)
    stub.flush()
    box: list[Any] = []
    d.addBoth(box.append)
    if not box:
        clock.advance(30)
        stub.flush()
    assert box, "never fired"
    assert not clock.getDelayedCalls()
    return box[0].value if hasattr(box[0], "value") and isinstance(box[0].value, Exception) else box[0]


def twilio(**over: Any) -> Any:
    return parse_twilio({"account_sid": SID, "from_number": "+15005550006", "whatsapp_from": "+14155238886",
                         "status_callback": "https://isp.example.com/notify/twilio/status", **over},
                        {"auth_token": "tok3n"})


def test_twilio_request_shape() -> None:
    """POST to the account's Messages.json, basic auth SID:token, form To/From/Body/StatusCallback, idempotency."""
    script = Script().answer(201, {"sid": "SM" + "1" * 32, "status": "queued"})
    out = run(script, lambda http, clock: TwilioSmsChannel(twilio(), http=http, reactor=clock).send(MSG))
    assert out == Sent("SM" + "1" * 32, "HTTP 201 queued")
    (req,) = script.seen
    assert req["method"] == "POST" and req["uri"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert req["headers"]["authorization"] == "Basic " + base64.b64encode(f"{SID}:tok3n".encode()).decode()
    assert req["headers"]["i-twilio-idempotency-token"] == "aaad-sms-3-7"
    assert req["headers"]["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(req["body"].decode("ascii"), strict_parsing=True)
    assert form == {"To": ["+233540000001"], "From": ["+15005550006"], "Body": ["Olá, your bill is €5"],
                    "StatusCallback": ["https://isp.example.com/notify/twilio/status"]}


def test_whatsapp_prefixes_both_numbers() -> None:
    """WhatsApp sends To and From as whatsapp:+E.164; a messaging service stands in for a missing sender."""
    script = Script().answer(201, {"sid": "SM" + "2" * 32, "status": "queued"}).answer(201, {"sid": "SM" + "3" * 32})
    wa = Outgoing(8, 3, "whatsapp", "+233540000001", "", "Hi")
    run(script, lambda http, clock: TwilioWhatsAppChannel(twilio(), http=http, reactor=clock).send(wa))
    mg = "MG" + "a" * 32
    run(script, lambda http, clock: build_channel("whatsapp", twilio(whatsapp_from="", messaging_service_sid=mg),
                                                  http=http, reactor=clock).send(wa))
    first, second = (parse_qs(s["body"].decode()) for s in script.seen)
    assert (first["To"], first["From"]) == (["whatsapp:+233540000001"], ["whatsapp:+14155238886"])
    assert (second["To"], second["MessagingServiceSid"], "From" in second) == (["whatsapp:+233540000001"], [mg], False)
    assert script.seen[0]["headers"]["i-twilio-idempotency-token"] == "aaad-whatsapp-3-8"


@pytest.mark.parametrize(("code", "doc", "retryable", "words"), [
    (400, {"code": 21211, "message": "Invalid 'To' Phone Number: +1", "more_info":
           "https://www.twilio.com/docs/errors/21211", "status": 400}, False, ["21211", "Invalid 'To'"]),
    (401, {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
           "status": 401}, False, ["20003", "Authenticate"]),
    (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, True, ["429", "retry after 9 s"]),
    (500, {"code": 20500, "message": "Internal Server Error", "status": 500}, True, ["500"]),
    (503, b"<html>down</html>", True, ["503", "down"]),
])
def test_twilio_errors(code: int, doc: Any, retryable: bool, words: list[str]) -> None:
    """Twilio's 4xx are final with its code and message; 429 and 5xx are retryable."""
    script = Script().answer(code, doc, Retry_After="9")
    err = run(script, lambda http, clock: TwilioSmsChannel(twilio(), http=http, reactor=clock).send(MSG))
    assert isinstance(err, SendError) and err.retryable is retryable
    assert all(w in err.detail for w in words), err.detail


def test_timeout_is_retryable_and_leaves_no_timer() -> None:
    """A gateway that never answers times out on the clock given; retryable; no delayed call left."""
    script = Script().answer(None)
    err = run(script, lambda http, clock: TwilioSmsChannel(twilio(), http=http, reactor=clock, timeout=4).send(MSG))
    assert isinstance(err, SendError) and err.retryable and "no answer within 4 s" in err.detail


def generic(**over: Any) -> Any:
    settings = {"url": "https://gw.example.net/api/send?route=2", "params": {"to": "{to_digits}", "msg": "{text}",
                "from": "{sender}", "ref": "aaad-{message_id}"}, "sender": "AcmeNet", **over}
    secrets: dict[str, Any] = {k: over.pop(k) for k in ("password", "token", "api_key") if k in over}
    settings = {k: v for k, v in settings.items() if k not in secrets}
    return parse_generic(settings, secrets)


def test_generic_post_form_with_basic_auth() -> None:
    """POST form: the rendered parameters, UTF-8 encoded, with basic auth; the URL's query kept."""
    script = Script().answer(200, b"OK")
    s = generic(auth="basic", auth_username="isp", password="pw")
    out = run(script, lambda http, clock: build_channel("sms", s, http=http, reactor=clock).send(MSG))
    assert out == Sent("", "HTTP 200")
    (req,) = script.seen
    assert req["uri"] == "/api/send?route=2"
    assert req["headers"]["authorization"] == "Basic " + base64.b64encode(b"isp:pw").decode()
    assert parse_qs(req["body"].decode("ascii")) == {"to": ["233540000001"], "msg": ["Olá, your bill is €5"],
                                                     "from": ["AcmeNet"], "ref": ["aaad-7"]}


def test_generic_get_and_json_bodies_and_auth_kinds() -> None:
    """GET puts the parameters in the query; JSON posts a JSON object; header, bearer and query auth."""
    script = Script().answer(200, {"ok": True}).answer(200, {"ok": True}).answer(200, {"ok": True})
    s_get = generic(method="GET", auth="query", auth_name="key", api_key="k1")
    s_json = generic(body="json", auth="header", auth_name="X-Api-Key", api_key="k2")
    s_bearer = generic(body="json", auth="bearer", token="t3")
    for s in (s_get, s_json, s_bearer):
        run(script, lambda http, clock, s=s: build_channel("sms", s, http=http, reactor=clock).send(MSG))
    get, js, bearer = script.seen
    assert get["method"] == "GET" and get["body"] == b""
    q = parse_qs(get["uri"].split("?", 1)[1])
    assert (q["route"], q["to"], q["msg"], q["key"]) == (["2"], ["233540000001"], ["Olá, your bill is €5"], ["k1"])
    assert js["headers"]["x-api-key"] == "k2" and js["headers"]["content-type"].startswith("application/json")
    assert json.loads(js["body"]) == {"to": "233540000001", "msg": "Olá, your bill is €5", "from": "AcmeNet",
                                      "ref": "aaad-7"}
    assert bearer["headers"]["authorization"] == "Bearer t3"


@pytest.mark.parametrize(("code", "doc", "outcome"), [
    (200, {"status": "ok", "data": {"id": 991}}, Sent("991", "HTTP 200")),
    (200, {"status": "ok"}, Sent("", "HTTP 200; no message id at data.id")),
    (200, {"status": "error", "message": "insufficient credit"}, "refused: status is error, not ok"),
    (200, b"OK queued", "not JSON"),
    (400, {"status": "error", "message": "bad number"}, "HTTP 400"),
    (302, b"", "redirected"),
])
def test_generic_success_rule_and_id_path(code: int, doc: Any, outcome: Sent | str) -> None:
    """2xx and status == ok is success with the id at data.id; a refusal, non-JSON or 4xx are final."""
    script = Script().answer(code, doc, Location="https://elsewhere/")
    s = generic(success_path="status", success_value="ok", id_path="data.id")
    out = run(script, lambda http, clock: build_channel("sms", s, http=http, reactor=clock).send(MSG))
    if isinstance(outcome, Sent):
        assert out == outcome
    else:
        assert isinstance(out, SendError) and not out.retryable and outcome in out.detail, out


def test_generic_numeric_success_value() -> None:
    """A success value of 0 matches a JSON number 0 (and not the string "0.0")."""
    script = Script().answer(200, {"code": 0, "msgid": "x1"}).answer(200, {"code": "0.0"})
    s = generic(success_path="code", success_value=0, id_path="msgid")
    assert run(script, lambda http, clock: build_channel("sms", s, http=http, reactor=clock).send(MSG)).provider_id \
        == "x1"
    assert isinstance(run(script, lambda http, clock: build_channel("sms", s, http=http, reactor=clock).send(MSG)),
                      SendError)


def test_balance() -> None:
    """The balance is the number at balance_path (a numeric string too); else BalanceError."""
    s = generic(balance_url="https://gw.example.net/api/balance", balance_path="data.credit", balance_threshold=5,
                auth="query", auth_name="key", api_key="k")
    script = (Script().answer(200, {"data": {"credit": 3.5}}).answer(200, {"data": {"credit": "1,200.50"}})
              .answer(200, {"data": {}}).answer(503, b"busy"))
    assert run(script, lambda http, clock: check_balance(s, http, reactor=clock)) == 3.5
    assert script.seen[0]["uri"] == "/api/balance?key=k" and script.seen[0]["method"] == "GET"
    assert run(script, lambda http, clock: check_balance(s, http, reactor=clock)) == 1200.5
    for _ in range(2):
        assert isinstance(run(script, lambda http, clock: check_balance(s, http, reactor=clock)), BalanceError)


def test_channel_refuses_a_missing_sender() -> None:
    """A Twilio account without an SMS sender cannot make an SMS channel (and WhatsApp needs Twilio)."""
    only_wa = parse_twilio({"account_sid": SID, "whatsapp_from": "+14155238886"}, {"auth_token": "t"})
    with pytest.raises(ValidationError):
        build_channel("sms", only_wa, http=cast(Http, None), reactor=task.Clock())
    with pytest.raises(ValidationError):
        build_channel("whatsapp", generic(), http=cast(Http, None), reactor=task.Clock())


def test_providers_round_trip_and_build() -> None:
    """The registered sms/whatsapp providers: stored settings parse back; built channels send; balance()."""
    from billing.notify import providers
    from billing.notify.sms import GenericSmsChannel, public_settings

    gen = {"url": "https://gw.example.net/api/send", "params": {"to": "{to}", "text": "{text}"},
           "balance_url": "https://gw.example.net/api/balance", "balance_path": "credit"}
    stored = providers.spec("sms", "generic").check(gen, {})
    assert not any(k.startswith("has_") for k in stored)
    assert public_settings(parse_generic(stored, {})) == public_settings(parse_generic(gen, {}))
    tw = {"account_sid": SID, "from_number": "+15005550006", "whatsapp_from": "+14155238886"}
    for channel in ("sms", "whatsapp"):
        spec = providers.spec(channel, "twilio")
        stored = spec.check(tw, {"auth_token": "t"})
        assert parse_twilio(stored, {"auth_token": "t"}) == parse_twilio(tw, {"auth_token": "t"})
    with pytest.raises(ValidationError) as e:
        providers.spec("sms", "generic").check({**gen, "url": "gopher://x"}, {})
    assert e.value.field == "url"

    script = Script().answer(200, {"credit": 12}).answer(201, {"sid": "SM" + "4" * 32})
    spec = providers.spec("sms", "generic")

    def balance(http: Http, clock: task.Clock) -> defer.Deferred[float]:
        ch = spec.build(clock, spec.parse(gen, {}), http, 10.0)
        assert isinstance(ch, GenericSmsChannel) and ch.name == "sms"
        return ch.balance()
    assert run(script, balance) == 12.0
    wa = providers.spec("whatsapp", "twilio")
    out = run(script, lambda http, clock: wa.build(clock, wa.parse(tw, {"auth_token": "t"}), http, 10.0).send(MSG))
    assert out.provider_id == "SM" + "4" * 32
    assert parse_qs(script.seen[-1]["body"].decode())["To"] == ["whatsapp:+233540000001"]
