"""Support tickets: a customer's question (or an order request) and the conversation about it.

A ticket belongs to one customer of one org and holds messages, oldest first,
each by the ``customer`` or an ``admin``.  Status: ``open`` (the customer
spoke last), ``answered`` (an admin did), ``closed`` (a reply of either side
opens it again).  Customers open, read and reply on the portal; admins
through the API.  ``ticket.opened`` and ``ticket.replied`` are published in
the transaction of the change (notifications follow them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.errors import NotFound, ValidationError
from billing import customers
from billing.events import TicketOpened, TicketReplied
from billing.schema import ticket_messages as msg_t
from billing.schema import tickets as tickets_t

SUBJECT_MAX = 200
BODY_MAX = 5000
AUTHORS = ("customer", "admin")


@dataclass(frozen=True)
class Ticket:
    id: int
    org_id: int
    customer_id: int
    order_id: int | None
    subject: str
    status: str             # open | answered | closed
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Message:
    id: int
    ticket_id: int
    author: str             # customer | admin
    author_name: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Thread:
    ticket: Ticket
    messages: list[Message]


def _ticket(r: Any) -> Ticket:
    return Ticket(r.id, r.org_id, r.customer_id, r.order_id, r.subject, r.status, r.created_at, r.updated_at)


def _message(r: Any) -> Message:
    return Message(r.id, r.ticket_id, r.author, r.author_name, r.body, r.created_at)


def check_subject(subject: str) -> str:
    """The subject trimmed; ValidationError("subject") when empty or too long."""
    s = " ".join(subject.split())
    if not s:
        raise ValidationError("subject", "Say in a few words what it is about.")
    if len(s) > SUBJECT_MAX:
        raise ValidationError("subject", f"Use at most {SUBJECT_MAX} characters.")
    return s


def check_body(body: str) -> str:
    """The message trimmed; ValidationError("body") when empty or too long."""
    b = body.strip().replace("\r\n", "\n")
    if not b:
        raise ValidationError("body", "Write your message.")
    if len(b) > BODY_MAX:
        raise ValidationError("body", f"Use at most {BODY_MAX} characters.")
    return b


def get(conn: Connection, org_id: int, ticket_id: int) -> Ticket | None:
    r = conn.execute(sa.select(tickets_t).where(tickets_t.c.org_id == org_id, tickets_t.c.id == ticket_id)).first()
    return _ticket(r) if r is not None else None


def require(conn: Connection, org_id: int, ticket_id: int) -> Ticket:
    t = get(conn, org_id, ticket_id)
    if t is None:
        raise NotFound("ticket", ticket_id)
    return t


def messages(conn: Connection, org_id: int, ticket_id: int) -> list[Message]:
    """The ticket's messages, oldest first."""
    rows = conn.execute(sa.select(msg_t).where(msg_t.c.org_id == org_id, msg_t.c.ticket_id == ticket_id)
                        .order_by(msg_t.c.id))
    return [_message(r) for r in rows]


def thread(conn: Connection, org_id: int, ticket_id: int, customer_id: int | None = None) -> Thread:
    """The ticket with its messages; NotFound unless it is the org's (and, given ``customer_id``, that
    customer's: another customer's ticket is as missing as one that does not exist)."""
    t = get(conn, org_id, ticket_id)
    if t is None or (customer_id is not None and t.customer_id != customer_id):
        raise NotFound("ticket", ticket_id)
    return Thread(t, messages(conn, org_id, ticket_id))


_OF_CUSTOMER = (sa.select(tickets_t).where(tickets_t.c.org_id == sa.bindparam("org_id"),
                                           tickets_t.c.customer_id == sa.bindparam("customer_id"))
                .order_by(tickets_t.c.updated_at.desc(), tickets_t.c.id.desc()).limit(sa.bindparam("limit")))


def of_customer(conn: Connection, org_id: int, customer_id: int, limit: int = 100) -> list[Ticket]:
    """The customer's tickets, newest activity first."""
    rows = conn.execute(_OF_CUSTOMER, {"org_id": org_id, "customer_id": customer_id, "limit": limit})
    return [_ticket(r) for r in rows]


SORTS = {"id": tickets_t.c.id, "updated_at": tickets_t.c.updated_at, "created_at": tickets_t.c.created_at}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, status: str | None = None,
         order_id: int | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Ticket]:
    """One page of the org's tickets (see :mod:`aaad.paging`), filtered by customer, status and order."""
    q = sa.select(tickets_t).where(tickets_t.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(tickets_t.c.customer_id == customer_id)
    if status is not None:
        q = q.where(tickets_t.c.status == status)
    if order_id is not None:
        q = q.where(tickets_t.c.order_id == order_id)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=tickets_t.c.id, cursor=cursor, limit=limit,
                       row=_ticket)


def _add_message(conn: Connection, org_id: int, ticket_id: int, author: str, author_name: str, body: str,
                 now: datetime) -> int:
    key = conn.execute(msg_t.insert().values(org_id=org_id, ticket_id=ticket_id, author=author,
                                             author_name=author_name[:200], body=body, created_at=now)
                       ).inserted_primary_key
    assert key is not None
    return int(key[0])


def open_ticket(conn: Connection, org_id: int, customer_id: int, subject: str, body: str, now: datetime, *,
                order_id: int | None = None, author: str = "customer", author_name: str = "") -> Thread:
    """A new ticket of the customer with its first message (by the customer, or by an admin writing to
    them); ``ticket.opened``.  ValidationError names ``subject`` or ``body``; NotFound for a customer
    not of the org."""
    subject, body = check_subject(subject), check_body(body)
    if author not in AUTHORS:
        raise ValidationError("author", "customer or admin")
    c = customers.get(conn, org_id, customer_id)
    if c is None:
        raise NotFound("customer", customer_id)
    status = "open" if author == "customer" else "answered"
    key = conn.execute(tickets_t.insert().values(org_id=org_id, customer_id=customer_id, order_id=order_id,
                                                 subject=subject, status=status, created_at=now, updated_at=now)
                       ).inserted_primary_key
    assert key is not None
    tid = int(key[0])
    _add_message(conn, org_id, tid, author, author_name or (c.name if author == "customer" else ""), body, now)
    events.publish(conn, org_id, TicketOpened(tid, customer_id, subject, order_id), now)
    return thread(conn, org_id, tid)


def reply(conn: Connection, org_id: int, ticket_id: int, author: str, body: str, now: datetime, *,
          customer_id: int | None = None, author_name: str = "") -> Thread:
    """Add a message to the ticket: ``answered`` after an admin's, ``open`` after the customer's (a closed
    ticket opens again); ``ticket.replied``.  Given ``customer_id``, only that customer's ticket is found."""
    body = check_body(body)
    if author not in AUTHORS:
        raise ValidationError("author", "customer or admin")
    t = thread(conn, org_id, ticket_id, customer_id).ticket
    if not author_name and author == "customer":
        c = customers.get(conn, org_id, t.customer_id)
        author_name = c.name if c is not None else ""
    mid = _add_message(conn, org_id, t.id, author, author_name, body, now)
    conn.execute(tickets_t.update().where(tickets_t.c.org_id == org_id, tickets_t.c.id == t.id)
                 .values(status="answered" if author == "admin" else "open", updated_at=now))
    events.publish(conn, org_id, TicketReplied(t.id, t.customer_id, mid, author), now)
    return thread(conn, org_id, t.id)


def close(conn: Connection, org_id: int, ticket_id: int, now: datetime, *,
          customer_id: int | None = None) -> Ticket:
    """Close the ticket (closing a closed one changes nothing)."""
    t = thread(conn, org_id, ticket_id, customer_id).ticket
    if t.status != "closed":
        conn.execute(tickets_t.update().where(tickets_t.c.org_id == org_id, tickets_t.c.id == t.id)
                     .values(status="closed", updated_at=now))
    return require(conn, org_id, t.id)
