"""The built-in test gateway: a hosted page on the daemon, so a payment works with no account anywhere.

It plays both sides.  The *provider* side (``gateway_test_payments``) is what a
real gateway keeps at its end: ``start`` opens a payment there and sends the
customer to the hosted page (``gateway/test/{org}/{reference}`` under the web
root, :mod:`web.gateway_pages`), whose Succeed / Stay pending / Fail buttons
decide it (:func:`press`) and emit a webhook signed with HMAC-SHA256.  The
*merchant* side is the :class:`~billing.gateways.base.Gateway` interface:
``verify`` reads the provider's record, ``parse_webhook`` authenticates a
webhook.

Webhook wire format: a JSON body ``{"event": "payment.updated", "org":
SLUG, "reference", "status", "amount", "currency", "provider_ref"}`` with
the header ``X-Aaad-Test-Signature``: the hex HMAC-SHA256 of the body under
the org's test key.  The key is per org, random, generated on first use and
stored encrypted with the secret box in ``gateway_settings`` (so every
instance sharing the database agrees on it, and a webhook signed for org A
is worthless for org B).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as pysecrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from aaad.clock import utcnow
from aaad.errors import NotFound
from billing.gateways.base import PENDING, STATUSES, BadSignature, GatewayError, Started, Transaction, WebhookEvent
from billing.gateways.schema import gateway_test_payments

NAME = "test"
SIGNATURE_HEADER = "x-aaad-test-signature"
HOSTED_PREFIX = "gateway/test/"
WEBHOOK_PATH = "gateway/test/webhook"


@dataclass(frozen=True)
class ProviderPayment:
    """The test gateway's own record of a payment."""
    org_id: int
    reference: str
    provider_ref: str
    amount: int
    currency: str
    status: str
    return_url: str
    created_at: datetime
    updated_at: datetime


def hosted_path(org_slug: str, reference: str) -> str:
    """The hosted page, relative to the web root."""
    return f"{HOSTED_PREFIX}{urllib.parse.quote(org_slug, safe='')}/{urllib.parse.quote(reference, safe='')}"


def _row(r: Any) -> ProviderPayment:
    return ProviderPayment(r.org_id, r.reference, r.provider_ref, int(r.amount), r.currency, r.status,
                           r.return_url, r.created_at, r.updated_at)


def provider_get(conn: Connection, org_id: int, reference: str) -> ProviderPayment | None:
    r = conn.execute(sa.select(gateway_test_payments).where(gateway_test_payments.c.org_id == org_id,
                                                            gateway_test_payments.c.reference == reference)).first()
    return None if r is None else _row(r)


def provider_open(conn: Connection, org_id: int, reference: str, amount: int, currency: str, return_url: str,
                  now: datetime) -> ProviderPayment:
    """Open a payment at the test gateway (idempotent per reference, like a provider's initialize)."""
    found = provider_get(conn, org_id, reference)
    if found is not None:
        return found
    conn.execute(gateway_test_payments.insert().values(
        org_id=org_id, reference=reference, provider_ref="tgw_" + pysecrets.token_hex(8), amount=amount,
        currency=currency, status=PENDING, return_url=return_url, created_at=now, updated_at=now))
    got = provider_get(conn, org_id, reference)
    assert got is not None
    return got


def press(conn: Connection, org_id: int, reference: str, status: str, now: datetime) -> ProviderPayment:
    """A button of the hosted page: decide a pending payment (a decided one stays as it is,
    as at a real gateway)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    t = gateway_test_payments.c
    if status != PENDING:
        conn.execute(gateway_test_payments.update().where(t.org_id == org_id, t.reference == reference,
                                                          t.status == PENDING).values(status=status, updated_at=now))
    got = provider_get(conn, org_id, reference)
    if got is None:
        raise NotFound("payment", reference)
    return got


class TestGateway:
    """The test gateway for one org (``key``: the org's test key)."""

    name = NAME
    __test__ = False     # not a pytest class, whatever its name

    def __init__(self, db: Any, org_id: int, org_slug: str, key: bytes, clock: Any):
        self.db = db
        self.org_id = org_id
        self.org_slug = org_slug
        self.key = key
        self.clock = clock

    # -- the Gateway interface -------------------------------------------------------------

    def start(self, tx: Transaction, return_url: str) -> defer.Deferred[Started]:
        d: defer.Deferred[ProviderPayment] = self.db.write(provider_open, self.org_id, tx.reference, tx.amount,
                                                           tx.currency, return_url, utcnow(self.clock))
        return d.addCallback(lambda p: Started(hosted_path(self.org_slug, tx.reference), p.provider_ref))

    def verify(self, tx: Transaction) -> defer.Deferred[WebhookEvent]:
        def known(p: ProviderPayment | None) -> WebhookEvent:
            if p is None:
                raise GatewayError(f"the test gateway knows no payment {tx.reference}")
            return WebhookEvent(p.reference, p.status, p.amount, p.currency, p.provider_ref)
        d: defer.Deferred[ProviderPayment | None] = self.db.read(provider_get, self.org_id, tx.reference)
        return d.addCallback(known)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        sig = headers.get(SIGNATURE_HEADER, "")
        if not sig or not hmac.compare_digest(sig.encode("ascii", "replace"), self.sign(body).encode("ascii")):
            raise BadSignature("the test gateway's signature does not verify")
        try:
            doc = json.loads(body)
            if doc.get("org") != self.org_slug:
                raise BadSignature("signed for another org")
            status = doc["status"]
            if status not in STATUSES:
                raise BadSignature(f"unknown status {status!r}")
            amount = doc["amount"]
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise BadSignature("amount is not an integer")
            return WebhookEvent(str(doc["reference"]), status, amount, str(doc["currency"]),
                                None if doc.get("provider_ref") is None else str(doc["provider_ref"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BadSignature(f"unreadable webhook: {e}") from None

    # -- the provider's side ---------------------------------------------------------------

    def sign(self, body: bytes) -> str:
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def webhook(self, p: ProviderPayment) -> tuple[dict[str, str], bytes]:
        """The signed webhook the gateway sends about ``p``: headers and body."""
        body = json.dumps({"event": "payment.updated", "org": self.org_slug, "reference": p.reference,
                           "status": p.status, "amount": p.amount, "currency": p.currency,
                           "provider_ref": p.provider_ref}, sort_keys=True).encode("utf-8")
        return {SIGNATURE_HEADER: self.sign(body), "content-type": "application/json"}, body

    def page_token(self, reference: str) -> str:
        """The signed field of the hosted page's forms (only a page we served can press a button)."""
        return hmac.new(self.key, b"page:" + reference.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_page_token(self, reference: str, token: str) -> bool:
        return hmac.compare_digest(token.encode("ascii", "replace"), self.page_token(reference).encode("ascii"))


def org_of(body: bytes) -> str | None:
    """The org slug a test webhook names (unauthenticated: only to find the key that checks it)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    org = doc.get("org") if isinstance(doc, dict) else None
    return org if isinstance(org, str) else None


def key_of(secrets: Mapping[str, str]) -> bytes:
    """The test key from an org's gateway secrets."""
    return base64.b64decode(secrets["test_key"])

