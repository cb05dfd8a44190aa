"""Protocol-level fakes of SMS providers over HTTP: Twilio's Messages API and an operator's gateway.

:class:`FakeTwilio` speaks Twilio's documented REST API for messages (no Twilio
code): ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic
auth (account SID and auth token; otherwise 401 and Twilio's error JSON, code
20003) and a form body: ``To`` (E.164, or ``whatsapp:+E.164``; else 400, 21211;
missing, 21604), ``From`` or ``MessagingServiceSid`` (neither: 21603; a
WhatsApp ``To`` with an SMS ``From``: 21910), ``Body`` (missing: 21602; over
1600 characters: 21617), ``StatusCallback``; or, instead of ``Body``, a Content template:
``ContentSid`` (HX + 32 hex and one of ``content``, the account's approved templates; else
21655) with ``ContentVariables`` (a JSON object of non-empty strings covering the template's
``{{n}}`` placeholders; else 21656; without ``ContentSid``: 21654), the message's ``body`` then
being the template filled in. It answers 201 with the Message
resource in the shape of Twilio's documented example (``sid`` "SM" + 32 hex,
``status`` "queued", or "accepted" through a Messaging Service, ``num_segments``,
``date_created`` in RFC 2822, ``uri``, ``subresource_uris``, ``error_code``
null, …), and ``GET …/Messages/{sid}.json`` fetches one. The same
``I-Twilio-Idempotency-Token`` gets the same message back instead of a second.
After accepting a message with a ``StatusCallback``, it posts the statuses in
``callback_statuses`` (default sent, then delivered) to that URL, form-encoded
and signed with ``X-Twilio-Signature`` as Twilio does.

:class:`FakeGateway` is a generic local SMS gateway: any path but the balance
path takes a message by GET (query) or POST (form or JSON), records it and
answers ``reply`` (a JSON object; ``{id}`` in a string value becomes the
message id); the balance path answers ``balance_reply`` (``{"balance":
{"amount": balance, "currency": ...}}``). Optional auth required: basic,
bearer, a header or a query parameter (else 401).

Both record every request (:class:`Seen`) and have failure modes: ``mode`` is
"ok", "500", "503", "429" (with ``Retry-After``), "400" (the gateway's error
JSON or Twilio's), "drop" (reads the request and closes the connection) or
"silent" (never answers), "no-length" (a success without Content-Length, ended
by closing the connection), and for the gateway "refuse" (HTTP 200 with
``{"status": "error", "message": ...}``); ``modes`` is a queue of modes for the next requests,
after which ``mode`` applies; ``delay`` is seconds before each answer.

Threaded (stdlib ``ThreadingHTTPServer``), so in-process tests and a daemon
subprocess can both talk to them. ``with FakeTwilio() as fake:`` listens on
127.0.0.1, port 0 (see ``fake.port`` and ``fake.url``).
"""
from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGES = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
MESSAGE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")


@dataclass
class Seen:
    """One request as it arrived."""
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]          # lower-cased names
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None
    at: float = 0.0

    def one(self, name: str) -> str:
        """A form field's (else a query parameter's) only value."""
        values = self.form.get(name) or self.query.get(name) or []
        assert len(values) == 1, (name, values)
        return values[0]


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature (written here independently of the code under test)."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _segments(body: str) -> int:
    """Twilio's num_segments: GSM 03.38 160/153 septets, else UCS-2 70/67 code units."""
    from billing.notify.segments import segments
    return segments(body).segments


class _Fake:
    """The server, the recording and the failure modes both fakes share."""

    name = "fake-http"

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self.mode = "ok"
        self.modes: deque[str] = deque()
        self.delay = 0.0
        self.retry_after = 7
        self.error_message = "Invalid destination"
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass        # a client that resets its idle keep-alive connection is no news

        self._server = Server((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    # -- recording ---------------------------------------------------------------------------

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Seen]:
        """The requests once there are at least ``n`` (AssertionError after ``timeout``)."""
        with self._arrived:
            ok = self._arrived.wait_for(lambda: len(self._seen) >= n, timeout)
            assert ok, f"{len(self._seen)} requests, wanted {n}"
            return list(self._seen)

    # -- serving -------------------------------------------------------------------------------

    def _next_mode(self) -> str:
        with self._lock:
            return self.modes.popleft() if self.modes else self.mode

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        seen = Seen(h.command, parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    headers, body, at=time.monotonic())
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            seen.form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        elif ctype.startswith("application/json"):
            seen.json = json.loads(body.decode("utf-8") or "null")
        with self._arrived:
            self._seen.append(seen)
            self._arrived.notify_all()
        mode = self._next_mode()
        if self.delay and self._stopping.wait(self.delay):
            return
        if mode == "silent":
            self._stopping.wait(60)
            return
        if mode == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode in ("500", "503"):
            self._reply(h, int(mode), self._server_error(int(mode)))
            return
        if mode == "429":
            self._reply(h, 429, self._rate_limited(), {"Retry-After": str(self.retry_after)})
            return
        if mode == "no-length":          # as an HTTP/1.0 server answers: no length, the end is the close
            code, doc, extra = self._answer(seen, "ok")
            h.close_connection = True
            h.send_response(code)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(json.dumps(doc).encode())
            return
        code, doc, extra = self._answer(seen, mode)
        self._reply(h, code, doc, extra)

    def _reply(self, h: BaseHTTPRequestHandler, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _server_error(self, code: int) -> Any:
        return {"status": "error", "message": "internal error"}

    def _rate_limited(self) -> Any:
        return {"status": "error", "message": "too many requests"}

    def _answer(self, seen: Seen, mode: str) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


# -- Twilio ----------------------------------------------------------------------------------------------


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error document."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class FakeTwilio(_Fake):
    """Twilio's Messages API on loopback (see the module docstring)."""

    name = "fake-twilio"

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None,
                 host: str = "127.0.0.1", clock: Callable[[], float] = time.time):
        super().__init__(host)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.clock = clock
        self.messages: dict[str, dict[str, Any]] = {}
        self.by_token: dict[str, str] = {}
        self.callback_statuses: list[str] = ["sent", "delivered"]
        self.callback_error_code: int | None = None     # e.g. 30003 with "undelivered"
        self.callback_delay = 0.0
        self.callbacks: list[tuple[str, dict[str, str], str, int | str]] = []  # url, params, signature, answer
        self.content: dict[str, str] = {}   # approved Content templates: HX sid -> text with {{1}}, {{2}}...
        self._cb_threads: list[threading.Thread] = []

    def stop(self) -> None:
        super().stop()
        for t in self._cb_threads:
            t.join(5)

    def channel_settings(self, **over: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(settings, secrets) of a ``twilio`` provider pointed at this fake (``over`` replaces settings)."""
        return ({"provider": "twilio", "account_sid": self.account_sid, "from_number": "+15005550006",
                 "whatsapp_from": "+14155238886", "base_url": self.url, **over}, {"auth_token": self.auth_token})

    def wait_callbacks(self, n: int, timeout: float = 5.0) -> list[tuple[str, dict[str, str], str, int | str]]:
        """The status callbacks posted so far, once there are ``n``."""
        with self._arrived:
            ok = self._arrived.wait_for(lambda: len(self.callbacks) >= n, timeout)
            assert ok, f"{len(self.callbacks)} callbacks, wanted {n}"
            return list(self.callbacks)

    def _server_error(self, code: int) -> Any:
        return _error(code, 20500 if code == 500 else 20503,
                      "Internal Server Error" if code == 500 else "Service Unavailable")

    def _rate_limited(self) -> Any:
        return _error(429, 20429, "Too Many Requests")

    def _authorised(self, seen: Seen, account: str) -> bool:
        auth = seen.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return (hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)
                and account == self.account_sid)

    def _answer(self, seen: Seen, mode: str) -> tuple[int, Any, dict[str, str]]:
        m_list, m_one = MESSAGES.match(seen.path), MESSAGE.match(seen.path)
        account = (m_list or m_one).group(1) if (m_list or m_one) else ""  # type: ignore[union-attr]
        if not (m_list or m_one):
            return 404, _error(404, 20404, f"The requested resource {seen.path} was not found"), {}
        if not self._authorised(seen, account):
            return 401, _error(401, 20003, "Authenticate"), {"WWW-Authenticate": 'Basic realm="Twilio API"'}
        if m_one:
            if seen.method != "GET":
                return 405, _error(405, 20004, "Method not allowed"), {}
            msg = self.messages.get(m_one.group(2))
            if msg is None:
                return 404, _error(404, 20404, f"The requested resource {seen.path} was not found"), {}
            return 200, msg, {}
        if seen.method != "POST":
            return 405, _error(405, 20004, "Method not allowed"), {}
        if mode == "400":
            return 400, _error(400, 21211, f"Invalid 'To' Phone Number: {self.error_message}"), {}
        return self._create(seen)

    def _create(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        token = seen.headers.get("i-twilio-idempotency-token")
        with self._lock:
            if token and token in self.by_token:
                return 201, self.messages[self.by_token[token]], {}

        def field_(name: str) -> str:
            vals = seen.form.get(name) or []
            return vals[0] if vals else ""

        to, from_, mg, body = field_("To"), field_("From"), field_("MessagingServiceSid"), field_("Body")
        callback = field_("StatusCallback")
        if not to:
            return 400, _error(400, 21604, "A 'To' phone number is required."), {}
        wa = to.startswith("whatsapp:")
        number = to[len("whatsapp:"):] if wa else to
        if not E164.match(number):
            return 400, _error(400, 21211, f"Invalid 'To' Phone Number: {to}"), {}
        if not from_ and not mg:
            return 400, _error(400, 21603, "A 'From' phone number is required."), {}
        if from_ and wa != from_.startswith("whatsapp:"):
            return 400, _error(400, 21910, "Invalid From and To pair. From and To should be of the same "
                               "channel"), {}
        content_sid, content_vars = field_("ContentSid"), field_("ContentVariables")
        if content_vars and not content_sid:
            return 400, _error(400, 21654, "A ContentSid must be specified if ContentVariables are provided in "
                                           "the request."), {}
        if content_sid:
            if not re.match(r"^HX[0-9a-fA-F]{32}$", content_sid) or content_sid not in self.content:
                return 400, _error(400, 21655, "The ContentSid is Invalid"), {}
            filled = self._fill(self.content[content_sid], content_vars)
            if filled is None:
                return 400, _error(400, 21656, "The ContentVariables Parameter is invalid"), {}
            body = filled
        if not body:
            return 400, _error(400, 21602, "Message body is required."), {}
        if len(body) > 1600:
            return 400, _error(400, 21617, "The concatenated message body exceeds the 1600 character limit."), {}
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(_dt.datetime.fromtimestamp(self.clock(), _dt.UTC))     # RFC 2822, +0000
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        msg = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": from_ or None,
            "messaging_service_sid": mg or None, "num_media": "0",
            "num_segments": "0" if (mg and not from_) else str(_segments(body)),
            "price": None, "price_unit": "USD", "sid": sid,
            "status": "accepted" if (mg and not from_) else "queued",
            "subresource_uris": {"media": base + "/Media.json"}, "to": to, "uri": base + ".json",
        }
        with self._lock:
            self.messages[sid] = msg
            if token:
                self.by_token[token] = sid
        if callback and self.callback_statuses:
            t = threading.Thread(target=self._post_callbacks, args=(callback, msg), daemon=True,
                                 name=f"fake-twilio-callback-{sid}")
            self._cb_threads.append(t)
            t.start()
        return 201, msg, {}

    @staticmethod
    def _fill(template: str, variables: str) -> str | None:
        """The Content template with its placeholders filled from the ContentVariables JSON, or None
        when that is not a JSON object of non-empty strings covering every placeholder."""
        try:
            values = json.loads(variables) if variables else {}
        except ValueError:
            return None
        if not isinstance(values, dict) or not all(isinstance(v, str) and v for v in values.values()):
            return None
        names = re.findall(r"\{\{\s*([^{}\s]+)\s*\}\}", template)
        if any(n not in values for n in names):
            return None
        return re.sub(r"\{\{\s*([^{}\s]+)\s*\}\}", lambda m: str(values[m.group(1)]), template)

    def _post_callbacks(self, url: str, msg: dict[str, Any]) -> None:
        for status in self.callback_statuses:
            if self.callback_delay and self._stopping.wait(self.callback_delay):
                return
            params = {"MessageSid": msg["sid"], "SmsSid": msg["sid"], "AccountSid": self.account_sid,
                      "MessageStatus": status, "SmsStatus": status, "To": msg["to"], "From": msg["from"] or "",
                      "ApiVersion": "2010-04-01"}
            if msg["messaging_service_sid"]:
                params["MessagingServiceSid"] = msg["messaging_service_sid"]
            if status in ("undelivered", "failed") and self.callback_error_code:
                params["ErrorCode"] = str(self.callback_error_code)
            with self._lock:
                msg["status"] = status
                if "ErrorCode" in params:
                    msg["error_code"] = self.callback_error_code
            signature = sign(self.auth_token, url, params)
            req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST",
                                         headers={"X-Twilio-Signature": signature,
                                                  "Content-Type": "application/x-www-form-urlencoded",
                                                  "User-Agent": "TwilioProxy/1.1"})
            answer: int | str
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    answer = resp.status
            except urllib.error.HTTPError as e:
                answer = e.code
            except OSError as e:
                answer = f"{type(e).__name__}: {e}"
            with self._arrived:
                self.callbacks.append((url, params, signature, answer))
                self._arrived.notify_all()


# -- a generic gateway -------------------------------------------------------------------------------------


class FakeGateway(_Fake):
    """An operator's HTTP SMS gateway on loopback (see the module docstring)."""

    name = "fake-gateway"

    def __init__(self, *, host: str = "127.0.0.1", balance_path: str = "/balance",
                 auth: tuple[str, ...] | None = None):
        super().__init__(host)
        self.balance_path = balance_path
        self.auth = auth            # ("basic", user, pw) | ("bearer", token) | ("header", name, v) | ("query", name, v)
        self.reply: dict[str, Any] = {"status": "ok", "id": "{id}"}
        self.reply_code = 200
        self.balance: float | str = 42.5
        self.currency = "GHS"
        self.sent = 0

    def channel_settings(self, **over: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(settings, secrets) of a ``generic`` provider pointed at this fake, with its auth, the success
        rule status == ok, the id at ``id`` and the balance endpoint (``over`` replaces settings)."""
        settings: dict[str, Any] = {
            "provider": "generic", "url": self.url + "/send", "method": "POST", "body": "form",
            "params": {"to": "{to}", "text": "{text}", "sender": "{sender}"}, "sender": "aaad",
            "success_path": "status", "success_value": "ok", "id_path": "id",
            "balance_url": self.url + self.balance_path, "balance_path": "balance.amount"}
        secrets: dict[str, str] = {}
        if self.auth:
            kind = self.auth[0]
            settings["auth"] = kind
            if kind == "basic":
                settings["auth_username"], secrets["password"] = self.auth[1], self.auth[2]
            elif kind == "bearer":
                secrets["token"] = self.auth[1]
            else:
                settings["auth_name"], secrets["api_key"] = self.auth[1], self.auth[2]
        settings.update(over)
        return settings, secrets

    def balance_reply(self) -> dict[str, Any]:
        return {"status": "ok", "balance": {"amount": self.balance, "currency": self.currency}}

    def _authorised(self, seen: Seen) -> bool:
        if not self.auth:
            return True
        kind = self.auth[0]
        if kind == "basic":
            want = "Basic " + base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
            return seen.headers.get("authorization") == want
        if kind == "bearer":
            return seen.headers.get("authorization") == f"Bearer {self.auth[1]}"
        if kind == "header":
            return seen.headers.get(self.auth[1].lower()) == self.auth[2]
        if kind == "query":
            return seen.query.get(self.auth[1]) == [self.auth[2]]
        raise ValueError(kind)

    def _answer(self, seen: Seen, mode: str) -> tuple[int, Any, dict[str, str]]:
        if not self._authorised(seen):
            return 401, {"status": "error", "message": "bad credentials"}, {}
        if seen.path == self.balance_path:
            return 200, self.balance_reply(), {}
        if mode == "400":
            return 400, {"status": "error", "message": self.error_message}, {}
        if mode == "refuse":
            return 200, {"status": "error", "message": self.error_message}, {}
        with self._lock:
            self.sent += 1
            n = self.sent
        ident = f"gw-{n}"
        doc = json.loads(json.dumps(self.reply).replace("{id}", ident))
        return self.reply_code, doc, {}
