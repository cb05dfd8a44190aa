"""The message outbox: deciding messages (rows first, exactly once) and recording what
happened to them.

Who writes rows: the event subscribers (:mod:`billing.notify.subscribers`) in the
transaction that advances their delivery position; the reminder jobs in their
period's transaction; functions the web calls (a reset link, a one-time code) in
the transaction of their request.  A :class:`Draft` names the kind, the customer
(or explicit recipients) and the variables; :func:`queue` fans it out to the
channels the org routes the kind to and has enabled, one row per channel, each
with a ``dedupe`` key unique per org (``<draft key>:<channel>``), so deciding
the same thing twice writes nothing new.  It also applies the rules that decide
*whether* and *when*: an optional kind is not queued for a customer who opted
out; a channel with no address for the customer is skipped; a non-urgent
message decided in the org's quiet hours waits for their end (``not_before``).

The sender (:mod:`billing.notify.sender`) takes due rows, renders and sends
them, and writes the outcome back with :func:`record`.  A row is ``pending``
until the provider took it (``sent``), its receipt said so (``delivered``) or it
was given up (``failed``).  Exactly once holds for everything aaad controls; a
crash after the provider accepted a message and before ``sent`` was committed
sends it again after the restart, with the same Message-ID or idempotency key.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from aaad import orgs, paging, urls
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from billing import settings as billing_settings
from billing.notify import kinds
from billing.notify import settings as ns
from billing.notify.channels import EMAIL, SMS, WHATSAPP
from billing.notify.schema import MESSAGE_STATES
from billing.notify.schema import messages as msg_t
from billing.schema import customers as cust_t

_IN = 500


@dataclass(frozen=True)
class Draft:
    """A message decided, before it is fanned out to channels."""
    kind: str
    key: str                                   # unique per org for what it is about: ev:812, otp:77
    customer_id: int | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    attachments: tuple[dict[str, Any], ...] = ()
    event_id: int | None = None
    to: dict[str, str] | None = None           # explicit recipients per channel (a bare number, admins)


@dataclass(frozen=True)
class Message:
    id: int
    org_id: int
    kind: str
    channel: str
    customer_id: int | None
    recipient: str
    dedupe: str
    event_id: int | None
    vars: dict[str, Any]
    has_secrets: bool
    attachments: list[dict[str, Any]]
    urgent: bool
    state: str
    attempts: int
    not_before: datetime
    provider_id: str | None
    error: str | None
    rendered: str | None
    segments: int | None
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    updated_at: datetime


_COLS = [c for c in msg_t.c if c.name != "secrets_enc"] + [msg_t.c.secrets_enc.is_not(None).label("has_secrets")]


def _message(r: Any) -> Message:
    d = {k: v for k, v in r._mapping.items() if not k.startswith("_")}     # not paging's _sort_value, _sort_id
    d["vars"] = json.loads(d["vars"] or "{}")
    d["attachments"] = json.loads(d["attachments"] or "[]")
    d["has_secrets"] = bool(d["has_secrets"])
    d["urgent"] = bool(d["urgent"])
    d.pop("secrets_enc", None)
    return Message(**d)


# -- deciding ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    customer_id: int
    vars: dict[str, Any]        # the template's ``customer``
    email: str | None
    phone: str | None


def contacts(conn: Connection, org_id: int, customer_ids: Iterable[int]) -> dict[int, Contact]:
    ids = sorted(set(customer_ids))
    c = cust_t.c
    out: dict[int, Contact] = {}
    for i in range(0, len(ids), _IN):
        for r in conn.execute(sa.select(c.id, c.name, c.username, c.email, c.phone, c.status)
                              .where(c.org_id == org_id, c.id.in_(ids[i:i + _IN]))):
            first = (r.name or "").split()[0] if (r.name or "").split() else r.name
            out[r.id] = Contact(r.id, {"name": r.name, "first_name": first, "username": r.username,
                                       "email": r.email or "", "phone": r.phone or ""},
                                r.email if r.status != "closed" else None,
                                r.phone if r.status != "closed" else None)
    return out


@dataclass(frozen=True)
class OrgFacts:
    """What every message of an org needs: its name and contacts, locale, zone, routes, channels."""
    org_id: int
    vars: dict[str, Any]
    currency: str
    locale: str
    timezone: str
    settings: ns.NotifySettings
    routes: dict[str, ns.Route]
    enabled: set[str]
    portal_url: str


def org_facts(conn: Connection, org_id: int, base_url: str = "") -> OrgFacts:
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    bs = billing_settings.get(conn, org_id)
    s = ns.get(conn, org_id)
    name = bs.brand_name or org.name
    portal = urls.portal_url(base_url, org.slug).rstrip("/")
    return OrgFacts(org_id, {"name": name, "phone": s.admin_phone or "", "email": s.admin_email or ""},
                    bs.currency, bs.locale, bs.timezone, s, ns.routes(conn, org_id), ns.enabled_channels(conn, org_id),
                    portal)


def _recipient(channel: str, c: Contact) -> str | None:
    return c.email if channel == EMAIL else c.phone if channel in (SMS, WHATSAPP) else None


def queue(conn: Connection, box: SecretBox, org_id: int, drafts: list[Draft], now: datetime, *,
          facts: OrgFacts | None = None) -> list[int]:
    """Fan drafts out to rows (see the module docstring); the ids of the rows written (a
    draft decided before writes none)."""
    if not drafts:
        return []
    f = facts or org_facts(conn, org_id)
    people = contacts(conn, org_id, [d.customer_id for d in drafts if d.customer_id is not None])
    out_ids = ns.opted_out(conn, org_id, list(people)) if any(kinds.get(d.kind).optional for d in drafts) else set()
    quiet = ns.quiet_until(f.settings, f.timezone, now)
    rows: list[dict[str, Any]] = []
    for d in drafts:
        k = kinds.get(d.kind)
        if k.optional and d.customer_id in out_ids:
            continue
        variables: dict[str, Any] = {"org": f.vars, **d.vars}
        contact = people.get(d.customer_id) if d.customer_id is not None else None
        if k.audience == kinds.CUSTOMER:
            if contact is None:
                continue
            variables.setdefault("customer", contact.vars)
            variables.setdefault("portal_url", f.portal_url)
        for channel in f.routes[d.kind].channels:
            if channel not in f.enabled:
                continue
            if d.to is not None:
                to = d.to.get(channel)
            elif k.audience == kinds.ADMIN:
                to = f.settings.admin_email if channel == EMAIL else f.settings.admin_phone
            else:
                to = _recipient(channel, contact) if contact is not None else None
            if not to:
                continue
            rows.append({
                "org_id": org_id, "kind": d.kind, "channel": channel, "customer_id": d.customer_id,
                "recipient": to, "dedupe": f"{d.key}:{channel}"[:120], "event_id": d.event_id,
                "vars": json.dumps(variables, default=str, ensure_ascii=False),
                "secrets_enc": box.encrypt(json.dumps(d.secrets)) if d.secrets else None,
                "attachments": json.dumps(list(d.attachments) if channel == EMAIL else []),
                "urgent": k.urgent, "state": "pending",
                "not_before": quiet if (quiet is not None and not k.urgent) else now,
                "created_at": now, "updated_at": now})
    return _insert_ignore(conn, rows)


def has_kind(conn: Connection, org_id: int, customer_id: int, kind: str) -> bool:
    """Whether a message of ``kind`` was ever queued for the customer."""
    return conn.execute(sa.select(msg_t.c.id).where(msg_t.c.org_id == org_id, msg_t.c.customer_id == customer_id,
                                                    msg_t.c.kind == kind).limit(1)).first() is not None


def _insert_ignore(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # One statement for all rows (compiled once, cached): building a fresh multi-row VALUES
    # statement per chunk cost SQLAlchemy far more than the database's work.
    q = insert(msg_t).on_conflict_do_nothing().returning(msg_t.c.id)
    cols = set().union(*rows)
    rows = [{c: r.get(c) for c in cols} for r in rows]
    return [r[0] for r in conn.execute(q, rows)]


# -- the sender's side ---------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """A row to send, with its secrets (decrypted on the sender's thread, never logged)."""
    message: Message
    secrets: dict[str, str]


def due(conn: Connection, box: SecretBox, now: datetime, limit: int, exclude: Iterable[int] = ()) -> list[Due]:
    """Pending rows whose time has come, urgent ones (codes, receipts) first, then oldest first,
    except those in flight."""
    skip = set(exclude)
    q = (sa.select(*_COLS, msg_t.c.secrets_enc).where(msg_t.c.state == "pending", msg_t.c.not_before <= now)
         .order_by(msg_t.c.urgent.desc(), msg_t.c.not_before, msg_t.c.id).limit(limit + len(skip)))
    out = []
    for r in conn.execute(q):
        if r.id in skip:
            continue
        secrets = json.loads(box.decrypt(r.secrets_enc)) if r.secrets_enc else {}
        out.append(Due(_message(r), secrets))
        if len(out) >= limit:
            break
    return out


def next_due(conn: Connection) -> datetime | None:
    """When the earliest pending row falls due (for the sender's next wake-up)."""
    return conn.execute(sa.select(sa.func.min(msg_t.c.not_before)).where(msg_t.c.state == "pending")).scalar()


@dataclass(frozen=True)
class Outcome:
    message_id: int
    ok: bool                        # the provider took it
    retryable: bool = False
    provider_id: str | None = None
    detail: str = ""
    rendered: str | None = None     # secrets redacted
    segments: int | None = None


_SENT = (msg_t.update().where(msg_t.c.id == sa.bindparam("m_id"), msg_t.c.state == "pending")
         .values(attempts=msg_t.c.attempts + 1, updated_at=sa.bindparam("m_now"), state="sent",
                 provider_id=sa.bindparam("m_provider_id"), error=None, sent_at=sa.bindparam("m_now"),
                 secrets_enc=None, rendered=sa.bindparam("m_rendered"), segments=sa.bindparam("m_segments")))


def record(conn: Connection, outcomes: list[Outcome], now: datetime, *, max_attempts: int,
           backoff: float, backoff_max: float) -> dict[str, int]:
    """Write the sender's outcomes: sent; or pending again after a back-off (a retryable
    failure within the bound); or failed.  Secrets are cleared once a row is finished.
    Only rows still ``pending`` change (an operator may have cancelled one meanwhile)."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    sent = [{"m_id": o.message_id, "m_now": now, "m_provider_id": (o.provider_id or "")[:120],
             "m_rendered": o.rendered, "m_segments": o.segments} for o in outcomes if o.ok]
    if sent:            # one statement for all (the common case, one a message at the sender's pace)
        conn.execute(_SENT, sent)
        counts["sent"] = len(sent)
    for o in outcomes:
        if o.ok:
            continue
        where = sa.and_(msg_t.c.id == o.message_id, msg_t.c.state == "pending")
        attempts = conn.execute(sa.select(msg_t.c.attempts).where(where)).scalar()
        if attempts is None:
            continue
        vals: dict[str, Any]
        if o.retryable and attempts + 1 < max_attempts:
            delay = min(backoff * (2 ** attempts), backoff_max)
            vals = {"error": o.detail[:2000], "not_before": now + timedelta(seconds=delay)}
            counts["retry"] += 1
        else:
            vals = {"state": "failed", "error": o.detail[:2000], "done_at": now, "secrets_enc": None,
                    "rendered": o.rendered}
            counts["failed"] += 1
        conn.execute(msg_t.update().where(where).values(attempts=msg_t.c.attempts + 1, updated_at=now, **vals))
    return counts


#: Provider receipt states → ours.
RECEIPTS = {"delivered": "delivered", "read": "delivered", "failed": "failed", "undelivered": "failed"}


def receipt(conn: Connection, provider_id: str, status: str, now: datetime, error: str = "",
            org_id: int | None = None) -> bool:
    """A provider's delivery receipt: a ``sent`` message becomes ``delivered`` or ``failed``
    (other statuses, e.g. ``queued`` or ``sent``, change nothing).  Whether a row changed."""
    new = RECEIPTS.get(status.lower())
    if new is None or not provider_id:
        return False
    where = [msg_t.c.provider_id == provider_id, msg_t.c.state == "sent"]
    if org_id is not None:
        where.append(msg_t.c.org_id == org_id)
    vals: dict[str, Any] = {"state": new, "done_at": now, "updated_at": now}
    if error:
        vals["error"] = error[:2000]
    return bool(conn.execute(msg_t.update().where(*where).values(**vals)).rowcount)


# -- operators' side -----------------------------------------------------------------------

def get(conn: Connection, org_id: int, message_id: int) -> Message | None:
    r = conn.execute(sa.select(*_COLS).where(msg_t.c.org_id == org_id, msg_t.c.id == message_id)).first()
    return _message(r) if r is not None else None


def require(conn: Connection, org_id: int, message_id: int) -> Message:
    m = get(conn, org_id, message_id)
    if m is None:
        raise NotFound("message", message_id)
    return m


SORTS = {"id": msg_t.c.id, "created_at": msg_t.c.created_at}


def page(conn: Connection, org_id: int, *, state: str | None = None, channel: str | None = None,
         kind: str | None = None, customer_id: int | None = None, sort: str = "-id",
         cursor: str | None = None, limit: int = 50) -> paging.Page[Message]:
    """One page of the org's messages, newest first by default."""
    if state is not None and state not in MESSAGE_STATES:
        raise ValidationError("state", f"one of {', '.join(MESSAGE_STATES)}")
    q = sa.select(*_COLS).where(msg_t.c.org_id == org_id)
    if state:
        q = q.where(msg_t.c.state == state)
    if channel:
        q = q.where(msg_t.c.channel == channel)
    if kind:
        q = q.where(msg_t.c.kind == kind)
    if customer_id is not None:
        q = q.where(msg_t.c.customer_id == customer_id)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=msg_t.c.id, cursor=cursor, limit=limit,
                       row=_message)


def retry(conn: Connection, org_id: int, message_id: int, now: datetime) -> Message:
    """Send a failed or cancelled message again (a new round of attempts).  Its secrets
    are gone once it finished, so a message that carried one (a code, a password, a
    link) cannot be retried: ask for a new one instead."""
    m = require(conn, org_id, message_id)
    if m.state not in ("failed", "cancelled"):
        raise ValidationError("state", f"message {message_id} is {m.state}: only failed or cancelled "
                                       "messages can be retried")
    if kinds.get(m.kind).secrets:
        raise ValidationError("kind", f"a {m.kind} message carried a secret that is no longer kept; "
                                      "ask for a new one instead")
    conn.execute(msg_t.update().where(msg_t.c.id == m.id, msg_t.c.state == m.state).values(
        state="pending", attempts=0, not_before=now, error=None, done_at=None, updated_at=now))
    return require(conn, org_id, message_id)


def cancel(conn: Connection, org_id: int, message_id: int, now: datetime) -> Message:
    m = require(conn, org_id, message_id)
    if m.state != "pending":
        raise ValidationError("state", f"message {message_id} is {m.state}: only pending messages can be "
                                       "cancelled")
    conn.execute(msg_t.update().where(msg_t.c.id == m.id, msg_t.c.state == "pending").values(
        state="cancelled", done_at=now, updated_at=now, secrets_enc=None))
    return require(conn, org_id, message_id)


def prune(conn: Connection, before: datetime) -> int:
    """Drop finished messages older than ``before``."""
    return conn.execute(msg_t.delete().where(msg_t.c.state.in_(("sent", "delivered", "failed", "cancelled")),
                                             msg_t.c.created_at < before)).rowcount
