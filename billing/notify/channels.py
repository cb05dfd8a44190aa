"""What every channel (email, SMS, WhatsApp) takes and gives back.

The sender (:mod:`billing.notify.sender`) renders an outbox row into an
:class:`Outgoing` at send time (secrets filled in then) and hands it to the
org's channel; the channel answers :class:`Sent` (the provider accepted it)
or fails with :class:`SendError`, which says whether trying again later can
help (a timeout, a 4xx SMTP reply, an HTTP 5xx or 429) or not (an address
refused, bad credentials, a 4xx HTTP error).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet import defer

EMAIL = "email"
SMS = "sms"
WHATSAPP = "whatsapp"
CHANNELS = (EMAIL, SMS, WHATSAPP)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str          # e.g. application/pdf
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """One message, rendered, ready for its channel."""
    message_id: int            # the outbox row's id: the base of Message-ID and of providers' idempotency keys
    org_id: int
    channel: str               # email | sms | whatsapp
    to: str                    # an email address, or an E.164 number (+233540000000)
    subject: str               # email only ("" otherwise)
    text: str                  # the plain-text part (email), or the whole message (SMS, WhatsApp)
    html: str | None = None    # email only
    attachments: tuple[Attachment, ...] = ()
    from_name: str = ""        # the org's display name (email From: "Name <address>")
    kind: str = ""             # the message kind (customer.welcome, ...): WhatsApp's Content template
    variables: Mapping[str, Any] | None = field(default=None, repr=False)  # WhatsApp: its ContentVariables


@dataclass(frozen=True)
class Sent:
    provider_id: str           # the SMTP Message-ID, Twilio's message SID, the gateway's id
    detail: str = ""           # e.g. the server's reply, for the message's record


class SendError(Exception):
    """The channel did not take the message."""

    def __init__(self, detail: str, *, retryable: bool):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


class Channel(Protocol):
    """A configured channel of one org (built from its settings and secrets)."""

    name: str                  # email | sms | whatsapp

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        """Hand ``msg`` to the provider; fails with :class:`SendError` (anything else counts as retryable)."""
