"""/tickets: customers' tickets and the admins' side of the conversation.

Customers open, read and reply to tickets on the portal; admins list them,
read the messages, write to a customer (a new ticket), reply and close here.
An order as a request arrives as a ticket about the order (``order_id``).
Each write is one call of :mod:`billing.orders.tickets`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from billing.orders import tickets
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router
from web.api.resources._billing import Text, referring

router = Router("tickets", "Customers' tickets: list, read, open, reply, close")

Status = Literal["open", "answered", "closed"]


class TicketOut(Out):
    id: int
    customer_id: int
    order_id: int | None = Field(description="The order request it is about, if any.")
    subject: str
    status: Status = Field(description="open (the customer wrote last), answered (an admin did), closed.")
    created_at: datetime
    updated_at: datetime


class TicketMessageOut(Out):
    id: int
    author: Literal["customer", "admin"]
    author_name: str
    body: str
    created_at: datetime


class TicketDetailOut(TicketOut):
    messages: list[TicketMessageOut] = Field(description="Oldest first.")


class TicketQuery(ListQuery):
    customer_id: Id | None = None
    order_id: Id | None = None
    status: Status | None = None
    sort: Literal["-id", "id", "-updated_at", "updated_at", "-created_at", "created_at"] = "-id"


class TicketPath(In):
    ticket_id: Id


class TicketIn(In):
    customer_id: Id
    subject: Text = Field(min_length=1, max_length=200)
    body: Text = Field(min_length=1, max_length=5000, description="The first message, to the customer.")
    author_name: Text = Field("", max_length=200, description="Who writes (shown to the customer).")


class TicketReplyIn(In):
    body: Text = Field(min_length=1, max_length=5000)
    author_name: Text = Field("", max_length=200, description="Who writes (shown to the customer).")


def detail(th: tickets.Thread) -> TicketDetailOut:
    return TicketDetailOut.model_validate({**TicketOut.model_validate(th.ticket).model_dump(),
                                           "messages": [TicketMessageOut.model_validate(m) for m in th.messages]})


@router.get("/tickets", summary="List tickets")
async def list_tickets(call: Call, query: TicketQuery) -> Page[TicketOut]:
    """The org's tickets, newest first, filtered by customer, order and status."""
    p = await call.read(tickets.page, call.org_id, customer_id=query.customer_id, order_id=query.order_id,
                        status=query.status, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[TicketOut](items=[TicketOut.model_validate(t) for t in p.items], next_cursor=p.next_cursor)


@router.get("/tickets/{ticket_id}", summary="A ticket with its messages")
async def get_ticket(call: Call, path: TicketPath) -> TicketDetailOut:
    return detail(await call.read(tickets.thread, call.org_id, path.ticket_id))


@router.post("/tickets", summary="Open a ticket to a customer")
async def create_ticket(call: Call, body: TicketIn) -> TicketDetailOut:
    """A new ticket with an admin's first message to the customer (status answered; the customer sees it on
    the portal)."""
    th = await referring(call.write(tickets.open_ticket, call.org_id, body.customer_id, body.subject, body.body,
                                    call.now, author="admin", author_name=body.author_name, target="ticket"),
                         customer="customer_id")
    return detail(th)


@router.post("/tickets/{ticket_id}/replies", summary="Reply on a ticket", status=200)
async def reply_ticket(call: Call, path: TicketPath, body: TicketReplyIn) -> TicketDetailOut:
    """An admin's reply: the ticket is answered (a closed one opens again) and the customer is told
    (``ticket.reply``)."""
    th = await call.write(tickets.reply, call.org_id, path.ticket_id, "admin", body.body, call.now,
                          author_name=body.author_name, target=f"ticket {path.ticket_id}",
                          before=lambda conn: tickets.get(conn, call.org_id, path.ticket_id))
    return detail(th)


@router.post("/tickets/{ticket_id}/close", summary="Close a ticket", status=200)
async def close_ticket(call: Call, path: TicketPath) -> TicketOut:
    """Closed until either side writes again."""
    t = await call.write(tickets.close, call.org_id, path.ticket_id, call.now, target=f"ticket {path.ticket_id}",
                         before=lambda conn: tickets.get(conn, call.org_id, path.ticket_id))
    return TicketOut.model_validate(t)
