"""A protocol-level fake of Paystack over HTTP: initialize, verify, a hosted checkout, signed webhooks.

:class:`FakePaystack` speaks Paystack's documented API (no Paystack code, no
code of ours): every answer is one of Paystack's own example payloads pinned in
``tests/billing/gateways/paystack_examples/`` with only the payment's
reference, amount, currency, status, ids and e-mail substituted, so a client
that misreads the API fails against Paystack's examples, not our guess.

- ``POST /transaction/initialize`` (``Authorization: Bearer <secret key>``, else
  401 "Invalid key"; JSON or form body with ``email``, ``amount`` (an integer in
  the subunit; a string of digits is taken too, as Paystack does), ``currency``
  (GHS, KES, NGN, ZAR, USD; default NGN), ``reference``, ``callback_url``,
  ``metadata``): 400 with Paystack's error document for a missing or bad field or
  a reference used before; else the documented 200 with an ``authorization_url``
  on this fake (``/checkout/{access_code}``).
- ``GET /transaction/verify/{reference}``: the documented verify answer for the
  payment (``abandoned`` until paid, as at Paystack); 404 for an unknown one.
- ``GET /checkout/{access_code}``: the hosted checkout page (amount, e-mail, a
  "Pay" button and a "Cancel" button); ``POST /checkout/{access_code}`` with
  ``action=pay`` decides the payment as ``pay_outcome`` says (``success``,
  ``failed``, or ``ongoing``: left pending, as a mobile-money payment awaiting the
  customer's approval), sends the signed ``charge.success`` webhook to
  ``webhook_url`` on a success unless ``send_webhooks`` is False (withheld), and
  redirects the browser to ``callback_url?trxref=REF&reference=REF``.
- :meth:`complete` decides a payment later (the approval arriving), with or
  without its webhook; :meth:`webhook` builds a signed webhook (optionally edited:
  the tests forge, replay and reorder them); :meth:`deliver` posts one.

Failure modes for the API paths (not the checkout page): ``mode`` is "ok",
"500", "503", "badjson" (200 with a body that is not JSON) or "silent" (never
answers); ``modes`` is a queue for the next requests; ``delay`` is seconds before
each API answer (slowness).

Threaded (stdlib ``ThreadingHTTPServer``) like ``tests/fake_sms.py``, so a daemon
subprocess and a browser can use it; :meth:`resource` is the same fake as a
Twisted resource for ``treq.testing.StubTreq`` in process (no modes but the
error ones: nothing sleeps there).
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent / "billing" / "gateways" / "paystack_examples"
CURRENCIES = ("GHS", "KES", "NGN", "ZAR", "USD")


def example(name: str) -> Any:
    """A pinned example payload (a fresh copy)."""
    return json.loads((EXAMPLES / name).read_text())


def sign(secret_key: str, body: bytes) -> str:
    """Paystack's x-paystack-signature (written here independently of the code under test)."""
    return hmac.new(secret_key.encode(), body, hashlib.sha512).hexdigest()


@dataclass
class Payment:
    """The fake's record of one initialised transaction."""
    id: int
    reference: str
    access_code: str
    amount: int
    currency: str
    email: str
    callback_url: str
    metadata: Any
    status: str = "abandoned"            # Paystack's status of an initialised, unfinished payment
    created_at: str = ""
    paid_at: str | None = None


@dataclass
class Delivered:
    """One webhook the fake posted and what it got back (a status code, or the error)."""
    url: str
    body: bytes
    signature: str
    answer: int | str


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakePaystack:
    """Paystack on loopback (see the module docstring)."""

    def __init__(self, secret_key: str | None = None, *, host: str = "127.0.0.1"):
        self.secret_key = secret_key or "sk_test_" + secrets.token_hex(20)
        self.host = host
        self.port = 0
        self.mode = "ok"
        self.modes: deque[str] = deque()
        self.delay = 0.0
        self.webhook_url: str | None = None
        self.send_webhooks = True
        self.pay_outcome = "success"           # success | failed | ongoing
        self.payments: dict[str, Payment] = {}
        self.delivered: list[Delivered] = []
        self._seen: list[Seen] = []
        self._next_id = 4099260516              # the documented example's id, then onwards
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FakePaystack:
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
                fake._serve(self)

            def do_POST(self) -> None:
                fake._serve(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-paystack-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    # -- the decisions a test makes ------------------------------------------------------------

    def payment(self, reference: str) -> Payment:
        with self._lock:
            return self.payments[reference]

    def complete(self, reference: str, status: str = "success", *, webhook: bool | None = None) -> Payment:
        """Decide a payment at Paystack (``success``, ``failed``, ``ongoing``, ``reversed``...); its
        webhook is sent on a success when ``webhook`` (default: ``send_webhooks``)."""
        with self._lock:
            p = self.payments[reference]
            p.status = status
            if status == "success" and p.paid_at is None:
                p.paid_at = _iso(time.time())
        if status == "success" and (self.send_webhooks if webhook is None else webhook):
            self.deliver(*self.webhook(reference))
        return p

    def webhook(self, reference: str, /, *, key: str | None = None, **data: Any) -> tuple[dict[str, str], bytes]:
        """The signed ``charge.success`` webhook of a payment: Paystack's documented event with the
        payment's fields (``data`` overrides any of them: a wrong amount, another currency); signed with
        ``key`` (default: this account's secret key)."""
        doc = example("webhook_charge_success.json")
        with self._lock:
            p = self.payments[reference]
            d = doc["data"]
            d.update({"id": p.id, "domain": "test" if self.secret_key.startswith("sk_test_") else "live",
                      "status": "success", "reference": p.reference, "amount": p.amount, "currency": p.currency,
                      "paid_at": p.paid_at or _iso(time.time()), "created_at": p.created_at,
                      "metadata": p.metadata if p.metadata is not None else 0})
            d["customer"]["email"] = p.email
        doc["data"].update(data)
        body = json.dumps(doc).encode()
        return {"x-paystack-signature": sign(key or self.secret_key, body), "content-type": "application/json"}, body

    def deliver(self, headers: dict[str, str], body: bytes, url: str | None = None) -> int | str:
        """POST a webhook to ``url`` (default ``webhook_url``); the answer's status (or the error)."""
        target = url or self.webhook_url
        assert target, "no webhook_url"
        req = urllib.request.Request(target, data=body, method="POST",
                                     headers={**headers, "User-Agent": "Paystack-Fake"})
        answer: int | str
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                answer = resp.status
        except urllib.error.HTTPError as e:
            answer = e.code
        except OSError as e:
            answer = f"{type(e).__name__}: {e}"
        with self._arrived:
            self.delivered.append(Delivered(target, body, headers.get("x-paystack-signature", ""), answer))
            self._arrived.notify_all()
        return answer

    # -- the protocol ----------------------------------------------------------------------------

    def _next_mode(self) -> str:
        with self._lock:
            return self.modes.popleft() if self.modes else self.mode

    def respond(self, method: str, target: str, headers: dict[str, str], body: bytes,
                *, mode: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request (lower-case header names): status, headers, body."""
        parts = urllib.parse.urlsplit(target)
        path = parts.path
        seen = Seen(method, path, headers, body)
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/json"):
            try:
                seen.json = json.loads(body or b"null")
            except ValueError:
                seen.json = None
        elif ctype.startswith("application/x-www-form-urlencoded"):
            seen.form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        with self._arrived:
            self._seen.append(seen)
            self._arrived.notify_all()
        if path.startswith("/checkout/"):
            return self._checkout(seen)
        mode = self._next_mode() if mode is None else mode
        if mode in ("500", "503"):
            return self._json(int(mode), {"status": False, "message": "An error occurred"})
        if mode == "badjson":
            return 200, {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>"
        if headers.get("authorization") != f"Bearer {self.secret_key}":
            return self._json(401, example("errors_openapi.json")["401"])
        if method == "POST" and path == "/transaction/initialize":
            return self._initialize(seen)
        if method == "GET" and path.startswith("/transaction/verify/"):
            return self._verify(urllib.parse.unquote(path[len("/transaction/verify/"):]))
        return self._json(404, example("errors_openapi.json")["404"])

    @staticmethod
    def _json(code: int, doc: Any) -> tuple[int, dict[str, str], bytes]:
        return code, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(doc).encode()

    @staticmethod
    def _error(message: str, code: str = "invalid_params") -> tuple[int, dict[str, str], bytes]:
        doc = example("error_validation.json")
        doc.update({"message": message, "code": code})
        doc["meta"]["nextStep"] = "Ensure that you provide the correct value"
        return FakePaystack._json(400, doc)

    def _initialize(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        doc: dict[str, Any] = seen.json if isinstance(seen.json, dict) else \
            {k: v[-1] for k, v in seen.form.items()}
        email, amount, currency = doc.get("email"), doc.get("amount"), doc.get("currency") or "NGN"
        if not isinstance(email, str) or "@" not in email:
            return self._error("Invalid Email Address Passed", "invalid_email_address")
        if isinstance(amount, str) and amount.isdigit():
            amount = int(amount)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return self._error("Invalid Amount Sent", "invalid_amount")
        if currency not in CURRENCIES:
            return self._error("Currency not supported by merchant", "unsupported_currency")
        reference = doc.get("reference") or secrets.token_hex(5)
        if not isinstance(reference, str) or not all(c.isalnum() or c in "-.=" for c in reference):
            return self._error("Invalid transaction reference", "invalid_reference")
        with self._lock:
            if reference in self.payments:
                return self._error("Duplicate Transaction Reference", "duplicate_reference")
            self._next_id += 1
            p = Payment(self._next_id, reference, secrets.token_hex(8)[:15], amount, currency, email,
                        str(doc.get("callback_url") or ""), doc.get("metadata"), created_at=_iso(time.time()))
            self.payments[reference] = p
        answer = example("transaction_initialize.json")["200"]["data"]
        answer["data"].update({"authorization_url": f"{self.url}/checkout/{p.access_code}",
                               "access_code": p.access_code, "reference": p.reference})
        return self._json(200, answer)

    def _verify(self, reference: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            p = self.payments.get(reference)
            if p is None:
                return self._json(404, {"status": False, "message": "Transaction reference not found"})
            p = copy.copy(p)
        answer = example("transaction_verify.json")["200"]["data"]
        d = answer["data"]
        paid = p.status in ("success", "reversed")
        d.update({"id": p.id, "domain": "test" if self.secret_key.startswith("sk_test_") else "live",
                  "status": p.status, "reference": p.reference, "amount": p.amount, "requested_amount": p.amount,
                  "currency": p.currency, "metadata": p.metadata if p.metadata is not None else "",
                  "gateway_response": {"success": "Successful", "failed": "Declined",
                                       "reversed": "Successful"}.get(p.status, "The transaction was not completed"),
                  "paid_at": p.paid_at if paid else None, "paidAt": p.paid_at if paid else None,
                  "created_at": p.created_at, "createdAt": p.created_at, "transaction_date": p.created_at})
        d["customer"]["email"] = p.email
        return self._json(200, answer)

    # -- the hosted checkout ---------------------------------------------------------------------

    def _by_code(self, code: str) -> Payment | None:
        with self._lock:
            return next((p for p in self.payments.values() if p.access_code == code), None)

    def _checkout(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        code = seen.path[len("/checkout/"):].strip("/")
        p = self._by_code(code)
        if p is None:
            return 404, {"Content-Type": "text/plain"}, b"No such checkout"
        if seen.method == "POST":
            action = (seen.form.get("action") or [""])[-1]
            status = {"pay": self.pay_outcome, "cancel": "abandoned"}.get(action)
            if status is None:
                return 400, {"Content-Type": "text/plain"}, b"Unknown action"
            if status != "abandoned":
                self.complete(p.reference, status)
            back = p.callback_url
            q = urllib.parse.urlencode({"trxref": p.reference, "reference": p.reference})
            back += ("&" if "?" in back else "?") + q
            return 302, {"Location": back, "Content-Type": "text/plain"}, b""
        amount = f"{p.currency} {p.amount // 100}.{p.amount % 100:02d}"
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paystack checkout (fake)</title></head>
<body><main><h1>Pay {html.escape(amount)}</h1>
<p id="email">{html.escape(p.email)}</p><p id="reference">{html.escape(p.reference)}</p>
<p id="status">{html.escape(p.status)}</p>
<form method="post" action="/checkout/{html.escape(p.access_code)}">
<button type="submit" name="action" value="pay" id="pay">Pay {html.escape(amount)}</button>
<button type="submit" name="action" value="cancel" id="cancel">Cancel payment</button>
</form></main></body></html>"""
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        mode = None
        if not h.path.startswith("/checkout/"):
            mode = self._next_mode()
            if self.delay and self._stopping.wait(self.delay):
                return
            if mode == "silent":
                self._stopping.wait(60)
                return
        code, out_headers, data = self.respond(h.command, h.path, headers, body, mode=mode)
        h.send_response(code)
        for k, v in out_headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def resource(self) -> Any:
        """This fake as a Twisted resource (for ``treq.testing.StubTreq``)."""
        from twisted.web.resource import Resource

        fake = self

        class _R(Resource):
            isLeaf = True

            def render(self, request: Any) -> bytes:
                headers = {k.decode().lower(): v[-1].decode() for k, v in request.requestHeaders.getAllRawHeaders()}
                code, out, data = fake.respond(request.method.decode(), request.uri.decode(), headers,
                                               request.content.read())
                request.setResponseCode(code)
                for k, v in out.items():
                    request.setHeader(k.encode(), v.encode())
                return data

        return _R()
