"""The gateway interface: what every payment gateway (the test gateway, Paystack, ...) offers.

A gateway is built for one org with that org's settings and secrets.  Its calls
return Deferreds (a real gateway talks HTTP); ``parse_webhook`` is synchronous
and raises :class:`BadSignature` for anything it cannot authenticate, so a
forged webhook never reaches :func:`billing.gateways.store.settle`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from twisted.internet import defer

PENDING, SUCCESS, FAILED = "pending", "success", "failed"
STATUSES = (PENDING, SUCCESS, FAILED)
PURPOSES = ("balance", "order", "voucher")


class GatewayError(Exception):
    """A gateway call failed (unreachable, refused, answered nonsense); the message says why."""


class BadSignature(GatewayError):
    """A webhook whose signature does not verify (or that cannot be read): it changes nothing."""


@dataclass(frozen=True)
class Transaction:
    """A gateway transaction (a row of ``gateway_transactions``)."""
    id: int
    org_id: int
    customer_id: int
    reference: str                 # ours: random, unique per org, sent to the gateway
    gateway: str
    purpose: str                   # balance | order | voucher
    amount: int                    # minor units
    currency: str
    status: str                    # pending | success | failed
    provider_ref: str | None       # the gateway's own id of the payment
    payment_id: int | None         # the billing payment once credited
    error: str | None
    created_at: datetime
    updated_at: datetime
    last_checked_at: datetime | None
    order_id: int | None = None    # purpose order: the order it pays (billing.orders)
    package_id: int | None = None  # purpose voucher: the voucher package bought (billing.voucher_sales)
    voucher_id: int | None = None  # ... and the voucher sold once paid


@dataclass(frozen=True)
class Started:
    """Where to send the customer to pay: an absolute URL, or a path relative to the web root
    (the built-in test gateway's hosted page); and the gateway's id of the payment."""
    redirect_url: str
    provider_ref: str


@dataclass(frozen=True)
class WebhookEvent:
    """What a gateway says of a payment (a webhook, or the answer of ``verify``)."""
    reference: str
    status: str                    # pending | success | failed
    amount: int                    # minor units
    currency: str
    provider_ref: str | None = None


class Gateway(Protocol):
    """One org's payment gateway."""

    @property
    def name(self) -> str:
        """The gateway's name (``test``, ``paystack``): also the billing payment's method."""

    def start(self, tx: Transaction, return_url: str) -> defer.Deferred[Started]:
        """Open the payment at the gateway; the customer comes back to ``return_url`` (absolute)."""

    def verify(self, tx: Transaction) -> defer.Deferred[WebhookEvent]:
        """Ask the gateway what became of the payment."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Authenticate and read a webhook (``headers`` by lower-case name); BadSignature otherwise."""
