"""Paystack (https://paystack.com): a hosted checkout, verify by reference, HMAC-SHA512-signed webhooks.

Written from Paystack's public API documentation (the pinned examples are in
``tests/billing/gateways/paystack_examples/``):

- ``POST {base}/transaction/initialize`` with ``Authorization: Bearer SECRET_KEY`` and a
  JSON body ``{email, amount, currency, reference, callback_url, metadata}``; ``amount``
  is an integer in the currency's subunit (kobo, pesewas, cents), as our amounts are.
  The answer ``{"status": true, "message": "Authorization URL created", "data":
  {"authorization_url", "access_code", "reference"}}``: the customer is sent to
  ``authorization_url`` and comes back to ``callback_url`` (with ``?reference=``).
- ``GET {base}/transaction/verify/{reference}``: ``{"status": true, "data": {"id",
  "status", "reference", "amount", "currency", ...}}``.  ``data.status``: ``success``
  is paid; ``failed`` and ``reversed`` are not (``reversed``: the money went back); an
  initialised payment the customer has not finished is ``abandoned`` — it can still
  complete, so it stays pending here (the re-check job gives up after a day) — and
  ``ongoing``, ``pending``, ``processing``, ``queued`` — and any other status — are pending.
- Webhooks: a POST whose ``x-paystack-signature`` header is the hex HMAC-SHA512 of the
  raw body under the secret key; ``{"event": "charge.success", "data": {...the
  transaction...}}``.  Other events are acknowledged and change nothing.

Each org uses its own Paystack account: its secret key (``paystack_secret_key`` in the
org's encrypted gateway secrets) signs and checks everything, and the webhook URL
names the org (``/gateway/paystack/{org}/webhook``), so a webhook signed with one
org's key is worthless for another.  Errors — no answer within the timeout, a
connection failure, HTTP 4xx/5xx, a body that is not JSON, ``"status": false`` —
are :class:`GatewayError` with a short reason; the secret key is never in one.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlsplit

from twisted.internet import defer

from aaad.errors import ValidationError
from billing.gateways.base import (
    FAILED,
    PENDING,
    SUCCESS,
    BadSignature,
    GatewayError,
    Started,
    Transaction,
    WebhookEvent,
)
from billing.http_failure import describe as describe_failure

if TYPE_CHECKING:
    from twisted.web.iweb import IResponse

NAME = "paystack"
API_URL = "https://api.paystack.co"
SIGNATURE_HEADER = "x-paystack-signature"
SECRET_KEY = "paystack_secret_key"          # in the org's gateway secrets
BASE_URL = "paystack_base_url"              # likewise (an operator's override: a proxy, the tests' fake)
DEFAULT_TIMEOUT = 15.0
WEBHOOK_EVENT = "charge.success"

#: Paystack's transaction statuses -> ours.
STATUS_MAP = {"success": SUCCESS, "failed": FAILED, "reversed": FAILED, "abandoned": PENDING,
              "ongoing": PENDING, "pending": PENDING, "processing": PENDING, "queued": PENDING}

_KEY = re.compile(r"^sk_(test|live)_[A-Za-z0-9]{8,100}$")


class NotACharge(Exception):
    """An authenticated webhook about something other than a charge (a transfer, a refund...):
    acknowledged, nothing settled."""


def check_secret_key(key: str) -> str:
    """A Paystack secret key (``sk_test_...`` or ``sk_live_...``), else ValidationError."""
    key = key.strip()
    if not _KEY.match(key):
        raise ValidationError("paystack_secret_key", "a Paystack secret key: sk_test_... or sk_live_... "
                                                     "(Settings > API Keys & Webhooks on the Paystack dashboard)")
    return key


def check_base_url(url: str) -> str:
    """An http(s) URL without query or fragment, without its trailing slash."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError("paystack_base_url", "an http(s) URL such as https://api.paystack.co")
    return url


def key_mode(key: str) -> str:
    """``test`` or ``live`` by the key's prefix (for showing; the key itself never is)."""
    return "live" if key.startswith("sk_live_") else "test"


def sign(key: str, body: bytes) -> str:
    """Paystack's ``x-paystack-signature`` of ``body``: hex HMAC-SHA512 under the secret key."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha512).hexdigest()


@dataclass(frozen=True)
class _Reply:
    code: int
    body: bytes


class PaystackGateway:
    """One org's Paystack account (see the module docstring).

    ``email_of(tx)``: a Deferred of the payer's e-mail address (Paystack requires one);
    ``http``: treq or a StubTreq; ``reactor``: for the timeout over each whole exchange."""

    name = NAME

    def __init__(self, secret_key: str, *, org_slug: str, email_of: Callable[[Transaction], Any], http: Any,
                 reactor: Any, base_url: str = API_URL, timeout: float = DEFAULT_TIMEOUT):
        self._key = secret_key
        self.org_slug = org_slug
        self.email_of = email_of
        self.http = http
        self.reactor = reactor
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:        # never the key
        return f"PaystackGateway(org={self.org_slug!r}, base_url={self.base_url!r})"

    # -- HTTP --------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, doc: Any = None) -> Any:
        """One exchange within the timeout; the answer's ``data`` (GatewayError otherwise)."""
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json", "User-Agent": "aaad"}
        kwargs: dict[str, Any] = {}
        if doc is not None:
            headers["Content-Type"] = "application/json"
            kwargs["data"] = json.dumps(doc).encode("utf-8")

        def body(resp: IResponse) -> defer.Deferred[_Reply]:
            return cast("defer.Deferred[bytes]", self.http.content(resp)).addCallback(
                lambda data: _Reply(resp.code, data))

        d: defer.Deferred[_Reply] = self.http.request(method, url, headers=headers, timeout=self.timeout,
                                                      reactor=self.reactor, allow_redirects=False,
                                                      **kwargs).addCallback(body)
        d.addTimeout(self.timeout, self.reactor)
        try:
            reply = await d
        except Exception as e:
            raise GatewayError(f"Paystack {path.split('/')[2]}: {describe_failure(e, self.timeout)}") from None
        what = f"Paystack {path.split('/')[2]}"
        try:
            answer = json.loads(reply.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise GatewayError(f"{what}: HTTP {reply.code}, an answer that is not JSON") from None
        message = answer.get("message") if isinstance(answer, dict) else None
        message = message if isinstance(message, str) else ""
        if reply.code >= 300:
            raise GatewayError(f"{what}: HTTP {reply.code}" + (f": {message[:200]}" if message else ""))
        if not isinstance(answer, dict) or answer.get("status") is not True or not isinstance(answer.get("data"),
                                                                                             dict):
            raise GatewayError(f"{what}: refused" + (f": {message[:200]}" if message else ""))
        return answer["data"]

    # -- the Gateway interface -------------------------------------------------------------

    def start(self, tx: Transaction, return_url: str) -> defer.Deferred[Started]:
        async def go() -> Started:
            email = await defer.maybeDeferred(self.email_of, tx)
            data = await self._call("POST", "/transaction/initialize", {
                "email": email, "amount": tx.amount, "currency": tx.currency, "reference": tx.reference,
                "callback_url": return_url,
                "metadata": {"org": self.org_slug, "purpose": tx.purpose, "customer_id": tx.customer_id}})
            url, code, ref = data.get("authorization_url"), data.get("access_code"), data.get("reference")
            if ref != tx.reference:
                raise GatewayError(f"Paystack initialize: answered for reference {ref!r}")
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise GatewayError("Paystack initialize: no authorization_url in the answer")
            return Started(url, str(code) if code else "")
        return defer.ensureDeferred(go())

    def verify(self, tx: Transaction) -> defer.Deferred[WebhookEvent]:
        async def go() -> WebhookEvent:
            data = await self._call("GET", "/transaction/verify/" + quote(tx.reference, safe=""))
            return self._event(data, "Paystack verify")
        return defer.ensureDeferred(go())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        sig = headers.get(SIGNATURE_HEADER, "")
        if not sig or not hmac.compare_digest(sig.strip().lower().encode("ascii", "replace"),
                                              sign(self._key, body).encode("ascii")):
            raise BadSignature("the Paystack signature does not verify")
        try:
            doc = json.loads(body)
        except ValueError:
            raise BadSignature("unreadable webhook: not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise BadSignature("unreadable webhook: no data")
        if doc.get("event") != WEBHOOK_EVENT:
            raise NotACharge(f"event {str(doc.get('event'))[:40]!r}")
        try:
            return self._event(doc["data"], "Paystack webhook")
        except GatewayError as e:
            raise BadSignature(str(e)) from None

    @staticmethod
    def _event(data: Mapping[str, Any], what: str) -> WebhookEvent:
        status, ref, amount, currency = data.get("status"), data.get("reference"), data.get("amount"), \
            data.get("currency")
        if not isinstance(status, str):
            raise GatewayError(f"{what}: no status")
        if not isinstance(ref, str) or not ref:
            raise GatewayError(f"{what}: no reference")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise GatewayError(f"{what}: amount {str(amount)[:40]!r} is not an integer")
        if not isinstance(currency, str):
            raise GatewayError(f"{what}: no currency")
        pid = data.get("id")
        # Any other status (a charge step such as send_otp, or one Paystack adds) is not a decision:
        # pending, so the re-check job asks again and gives up after a day like for any pending payment.
        return WebhookEvent(ref, STATUS_MAP.get(status, PENDING), amount, currency.upper(),
                            None if pid is None else str(pid))


def settings_of(secrets: Mapping[str, str]) -> tuple[str, str]:
    """(secret key, base URL) from an org's gateway secrets; GatewayError without a key."""
    key = secrets.get(SECRET_KEY)
    if not key:
        raise GatewayError("no Paystack secret key is set (aaad billing gateway --paystack-secret-key-file)")
    return key, secrets.get(BASE_URL) or API_URL
