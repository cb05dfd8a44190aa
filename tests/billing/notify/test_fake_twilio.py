"""FakeTwilio cannot drift from Twilio's API: its answers match the documented example, and the official
``twilio`` library sends through it, reads its answers and raises its errors with Twilio's codes."""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from billing.notify.sms import parse_twilio_status, valid_twilio_signature
from tests.fake_sms import FakeTwilio

# Twilio's documented answer to "create a Message" (the example in its API definition, as carried by the
# generated tests of twilio/twilio-python, tests/integration/api/v2010/account/test_message.py).
DOCUMENTED_CREATE = json.loads(r'''
{
    "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "api_version": "2010-04-01",
    "body": "O Slash: \u00d8, PoP: \ud83d\udca9",
    "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
    "date_sent": "Thu, 30 Jul 2015 20:12:33 +0000",
    "date_updated": "Thu, 30 Jul 2015 20:12:33 +0000",
    "direction": "outbound-api",
    "error_code": null,
    "error_message": null,
    "from": "+14155552345",
    "messaging_service_sid": "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "num_media": "0",
    "num_segments": "1",
    "price": "-0.00750",
    "price_unit": "USD",
    "sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "status": "sent",
    "subresource_uris": {
        "media":
            "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Media.json"
    },
    "to": "+14155552345",
    "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
}''')
# Twilio's documented error document (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions).
DOCUMENTED_ERROR_KEYS = {"code", "message", "more_info", "status"}


class RedirectingClient(TwilioHttpClient):
    """The official HTTP client, with https://api.twilio.com replaced by the fake's address."""

    def __init__(self, base: str):
        super().__init__(timeout=5)
        self.base = base
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.sent.append({"method": method, "url": url, **kwargs})
        return super().request(method, url.replace("https://api.twilio.com", self.base), *args, **kwargs)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as tw:
        tw.callback_statuses = []
        yield tw


def client_for(tw: FakeTwilio, token: str | None = None) -> tuple[Client, RedirectingClient]:
    http = RedirectingClient(tw.url)
    return Client(tw.account_sid, token or tw.auth_token, http_client=http), http


def shape(doc: Any) -> Any:
    """A JSON document's shape: keys, and each value's type (null and string both count as "text")."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    return "text" if doc is None or isinstance(doc, str) else type(doc).__name__


def test_create_answer_has_the_documented_shape(fake: FakeTwilio) -> None:
    """The fake's 201 has exactly the documented example's fields, types and formats."""
    client, http = client_for(fake)
    msg = client.messages.create(to="+14155552345", from_="+15005550006", body="O Slash: Ø, PoP: 💩")
    doc = fake.messages[msg.sid]
    assert shape(doc) == shape(DOCUMENTED_CREATE)
    assert re.fullmatch(r"SM[0-9a-f]{32}", doc["sid"]) and doc["status"] == "queued"
    assert doc["uri"] == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{doc['sid']}.json"
    assert doc["subresource_uris"]["media"] == doc["uri"][:-5] + "/Media.json"
    assert parsedate_to_datetime(doc["date_created"]).utcoffset() is not None
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000", doc["date_created"])
    assert (doc["num_segments"], doc["direction"], doc["error_code"]) == ("1", "outbound-api", None)


def test_official_library_sends_through_the_fake(fake: FakeTwilio) -> None:
    """client.messages.create and fetch work against the fake; the request is the documented one."""
    client, http = client_for(fake)
    msg = client.messages.create(to="+233540000001", from_="+15005550006", body="Olá €5",
                                 status_callback="https://isp.example.com/notify/twilio/status")
    assert (msg.status, msg.to, msg.from_, msg.body, msg.num_segments) == \
        ("queued", "+233540000001", "+15005550006", "Olá €5", "1")
    assert msg.date_created.year >= 2024 and msg.account_sid == fake.account_sid
    fetched = client.messages(msg.sid).fetch()
    assert (fetched.sid, fetched.body) == (msg.sid, "Olá €5")
    # the documented request: POST form to the account's Messages.json, HTTP basic auth (SID, token)
    (create, _) = http.sent
    assert create["method"] == "POST"
    assert create["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert create["data"] == {"To": "+233540000001", "From": "+15005550006", "Body": "Olá €5",
                              "StatusCallback": "https://isp.example.com/notify/twilio/status"}
    assert create["auth"] == (fake.account_sid, fake.auth_token)
    seen = fake.requests()[0]
    assert seen.form["Body"] == ["Olá €5"] and seen.headers["content-type"] == "application/x-www-form-urlencoded"
    wa = client.messages.create(to="whatsapp:+233540000001", from_="whatsapp:+14155238886", body="Hi")
    assert wa.to == "whatsapp:+233540000001"


CONTENT_SID = "HX" + "0a" * 16


def test_official_library_sends_a_content_template_through_the_fake(fake: FakeTwilio) -> None:
    """The library's content_sid and content_variables arrive as ContentSid and ContentVariables (a JSON
    string); no Body is needed, and the message's body is the approved template filled in."""
    fake.content[CONTENT_SID] = "Hi {{1}}, {{2}} is due."
    client, http = client_for(fake)
    msg = client.messages.create(to="whatsapp:+233540000001", from_="whatsapp:+14155238886",
                                 content_sid=CONTENT_SID, content_variables=json.dumps({"1": "Ama", "2": "GH₵120"}))
    assert msg.body == "Hi Ama, GH₵120 is due."
    (create,) = http.sent
    assert create["data"] == {"To": "whatsapp:+233540000001", "From": "whatsapp:+14155238886",
                              "ContentSid": CONTENT_SID, "ContentVariables": '{"1": "Ama", "2": "GH\\u20b5120"}'}


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"content_variables": '{"1": "Ama"}', "body": "x"}, 21654),              # variables without a template
    ({"content_sid": "HX" + "ff" * 16}, 21655),                               # not one of the account's
    ({"content_sid": "HXnot-a-sid"}, 21655),
    ({"content_sid": CONTENT_SID, "content_variables": '{"1": "Ama"}'}, 21656),          # {{2}} missing
    ({"content_sid": CONTENT_SID, "content_variables": '{"1": "Ama", "2": ""}'}, 21656),  # empty value
    ({"content_sid": CONTENT_SID, "content_variables": "not json"}, 21656),
])
def test_content_template_refusals_have_twilios_codes(fake: FakeTwilio, kwargs: dict[str, Any], code: int) -> None:
    fake.content[CONTENT_SID] = "Hi {{1}}, {{2}} is due."
    client, _ = client_for(fake)
    with pytest.raises(TwilioRestException) as e:
        client.messages.create(to="whatsapp:+233540000001", from_="whatsapp:+14155238886", **kwargs)
    assert (e.value.status, e.value.code) == (400, code)
    assert not fake.messages


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"to": "+1", "from_": "+15005550006", "body": "x"}, 400, 21211),
    ({"to": "+233540000001", "from_": "+15005550006"}, 400, 21602),
    ({"to": "+233540000001", "body": "x"}, 400, 21603),
    ({"to": "whatsapp:+233540000001", "from_": "+15005550006", "body": "x"}, 400, 21910),
    ({"to": "+233540000001", "from_": "+15005550006", "body": "x" * 1601}, 400, 21617),
])
def test_errors_reach_the_library_with_twilios_codes(fake: FakeTwilio, kwargs: dict[str, Any], status: int,
                                                     code: int) -> None:
    """Each refusal is a TwilioRestException with Twilio's status and error code, from its documented JSON."""
    client, _ = client_for(fake)
    with pytest.raises(TwilioRestException) as e:
        client.messages.create(**kwargs)
    assert (e.value.status, e.value.code) == (status, code)
    assert not fake.messages


def test_bad_credentials_and_server_errors(fake: FakeTwilio) -> None:
    """A wrong token is 401 code 20003; a 503 is a TwilioRestException with status 503; errors are documented JSON."""
    client, _ = client_for(fake, token="0" * 32)
    with pytest.raises(TwilioRestException) as e:
        client.messages.create(to="+233540000001", from_="+15005550006", body="x")
    assert (e.value.status, e.value.code) == (401, 20003)
    fake.modes.append("503")
    client, _ = client_for(fake)
    with pytest.raises(TwilioRestException) as e:
        client.messages.create(to="+233540000001", from_="+15005550006", body="x")
    assert e.value.status == 503
    req = urllib.request.Request(f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
                                 data=b"To=%2B233540000001", method="POST")
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(req, timeout=5)
    doc = json.loads(http_error.value.read())
    assert set(doc) == DOCUMENTED_ERROR_KEYS and (doc["status"], doc["code"]) == (401, 20003)
    assert doc["more_info"] == "https://www.twilio.com/docs/errors/20003"


class Receiver:
    """A webhook endpoint on loopback recording what Twilio posts to it."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], str]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                rec.got.append((self.path, form, self.headers.get("X-Twilio-Signature", "")))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify/twilio/status"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_status_callbacks_are_signed_receipts(fake: FakeTwilio) -> None:
    """After accepting, the fake posts sent then delivered (or undelivered with an error code), signed as Twilio
    signs; the signature validates (ours and the official validator) and parses as receipts."""
    rx = Receiver()
    try:
        fake.callback_statuses = ["sent", "delivered"]
        client, _ = client_for(fake)
        ok = client.messages.create(to="+233540000001", from_="+15005550006", body="x", status_callback=rx.url)
        fake.wait_callbacks(2)
        fake.callback_statuses = ["undelivered"]
        fake.callback_error_code = 30003
        bad = client.messages.create(to="+233540000002", from_="+15005550006", body="y", status_callback=rx.url)
        callbacks = fake.wait_callbacks(3)
    finally:
        rx.close()
    assert [c[3] for c in callbacks] == [204, 204, 204]
    receipts = []
    for path, form, signature in rx.got:
        assert path == "/notify/twilio/status"
        assert valid_twilio_signature(fake.auth_token, rx.url, form, signature)
        assert RequestValidator(fake.auth_token).validate(rx.url, form, signature)
        assert not valid_twilio_signature("0" * 32, rx.url, form, signature)
        receipts.append(parse_twilio_status(form))
    assert [(r.provider_id, r.state, r.error_code) for r in receipts] == \
        [(ok.sid, "sent", None), (ok.sid, "delivered", None), (bad.sid, "undelivered", 30003)]
    assert receipts[2].error_message == "Unreachable destination handset"
    assert client.messages(bad.sid).fetch().status == "undelivered"
