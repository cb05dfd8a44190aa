"""Delivery receipts from providers: Twilio's status callbacks (SMS and WhatsApp).

Twilio posts a form (MessageSid, MessageStatus, ErrorCode, ...) signed with
X-Twilio-Signature, an HMAC of the callback URL and the form under the
account's auth token.  The message is found by its SID (our ``provider_id``),
which names the org and channel, whose settings give the token and the URL
the signature was made for; a forged or unknown callback changes nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from billing.notify import outbox, sms
from billing.notify import settings as ns
from billing.notify.schema import messages as msg_t

HOOK_PATH = "/hooks/notify/twilio"


def callback_url(base_url: str) -> str:
    """Where Twilio posts status callbacks when a channel names none of its own."""
    return base_url.rstrip("/") + HOOK_PATH


def twilio_status(conn: Connection, box: SecretBox, form: Mapping[str, str], signature: str, urls: list[str],
                  now: datetime) -> bool:
    """Check and apply one status callback; whether a message changed state.  The signature
    is checked against the channel's own ``status_callback`` when it names one, else against
    ``urls`` (the daemon's public callback URL, and the URL the request came to).  NotFound
    for a SID we never sent; ValidationError for a bad signature or form."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        raise ValidationError("MessageSid", "missing")
    row = conn.execute(sa.select(msg_t.c.org_id, msg_t.c.channel).where(msg_t.c.provider_id == sid)
                       .limit(1)).first()
    if row is None:
        raise NotFound("message", sid)
    cfg = ns.get_channel(conn, box, row.org_id, row.channel)
    if cfg is None or cfg.provider != "twilio":
        raise NotFound("message", sid)
    own = cfg.settings.get("status_callback")
    token = cfg.secrets.get("auth_token", "")
    tried = [own] if own else urls
    good = next((u for u in tried if sms.valid_twilio_signature(token, u, form, signature)), tried[0])
    r = sms.twilio_receipt(token, good, form, signature)
    error = f"{r.error_code}: {r.error_message}" if r.error_code else ""
    return outbox.receipt(conn, r.provider_id, r.state, now, error, org_id=row.org_id)
