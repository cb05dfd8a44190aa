"""The messages orders and tickets decide (the ``notify`` subscriber's handlers for their events).

- ``order.placed``: the customer's confirmation (``order.placed``) and the admins' notice
  (``admin.order_placed``), except for a request the admins get as a ticket (the ticket's
  notice is theirs then);
- ``ticket.opened`` by a customer: ``admin.ticket_opened`` with the first message;
- ``ticket.replied``: an admin's reply goes to the customer (``ticket.reply``), a customer's
  to the admins (``admin.ticket_replied``).

Each runs in the transaction that advances the subscriber's position; the draft key is the
event's id, so a redelivered event writes nothing new.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import NotFound
from aaad.events import Event
from billing import customers
from billing.documents import format_money
from billing.notify import outbox
from billing.notify.outbox import Draft, OrgFacts
from billing.orders import orders, tickets

Handler = Callable[[Connection, Event], None]


class OrderNotices:
    def __init__(self, box: SecretBox, base_url: Callable[[], str] = lambda: ""):
        self.box = box
        self.base_url = base_url

    def handlers(self) -> list[tuple[str, Handler]]:
        return [("order.placed", self.on_order_placed), ("ticket.opened", self.on_ticket_opened),
                ("ticket.replied", self.on_ticket_replied)]

    def _queue(self, conn: Connection, ev: Event, drafts: list[Draft], f: OrgFacts) -> None:
        assert ev.created_at is not None, "events come from the outbox with their time"
        outbox.queue(conn, self.box, ev.org_id, drafts, ev.created_at.astimezone(UTC), facts=f)

    @staticmethod
    def _who(conn: Connection, org_id: int, customer_id: int) -> dict[str, Any]:
        c = customers.get(conn, org_id, customer_id)
        return {"customer_name": c.name if c else "", "customer_username": c.username if c else ""}

    def on_order_placed(self, conn: Connection, ev: Event) -> None:
        o = orders.get(conn, ev.org_id, ev.payload.order_id)
        if o is None:
            return
        f = outbox.org_facts(conn, ev.org_id, self.base_url())
        order = {"number": o.number, "total": format_money(o.total, o.currency, f.locale),
                 "items": ", ".join(i.name for i in o.items), "method": o.method, "note": o.note}
        drafts = [Draft("order.placed", f"ev:{ev.id}", o.customer_id, {"order": order}, event_id=ev.id)]
        as_ticket = o.method == "request" and tickets.page(conn, ev.org_id, order_id=o.id, limit=1).items
        if not as_ticket:
            drafts.append(Draft("admin.order_placed", f"ev:{ev.id}:admin", None,
                                {"order": order, "order_id": o.id, **self._who(conn, ev.org_id, o.customer_id)},
                                event_id=ev.id))
        self._queue(conn, ev, drafts, f)

    def on_ticket_opened(self, conn: Connection, ev: Event) -> None:
        th = self._thread(conn, ev)
        if th is None or not th.messages or th.messages[0].author != "customer":
            return
        f = outbox.org_facts(conn, ev.org_id, self.base_url())
        v = {"ticket": {"id": th.ticket.id, "subject": th.ticket.subject}, "message": th.messages[0].body,
             **self._who(conn, ev.org_id, th.ticket.customer_id)}
        self._queue(conn, ev, [Draft("admin.ticket_opened", f"ev:{ev.id}", None, v, event_id=ev.id)], f)

    def on_ticket_replied(self, conn: Connection, ev: Event) -> None:
        th = self._thread(conn, ev)
        msg = next((m for m in th.messages if m.id == ev.payload.ticket_message_id), None) if th else None
        if th is None or msg is None:
            return
        f = outbox.org_facts(conn, ev.org_id, self.base_url())
        t = th.ticket
        if msg.author == "admin":
            v = {"ticket": {"id": t.id, "subject": t.subject, "url": f"{f.portal_url}/tickets/{t.id}"},
                 "reply": msg.body}
            d = Draft("ticket.reply", f"ev:{ev.id}", t.customer_id, v, event_id=ev.id)
        else:
            v = {"ticket": {"id": t.id, "subject": t.subject}, "message": msg.body,
                 **self._who(conn, ev.org_id, t.customer_id)}
            d = Draft("admin.ticket_replied", f"ev:{ev.id}", None, v, event_id=ev.id)
        self._queue(conn, ev, [d], f)

    @staticmethod
    def _thread(conn: Connection, ev: Event) -> tickets.Thread | None:
        try:
            return tickets.thread(conn, ev.org_id, ev.payload.ticket_id)
        except NotFound:
            return None
