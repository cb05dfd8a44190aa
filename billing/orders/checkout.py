"""Checkout: the signed-in customer's cart becomes an order, the way the org sells.

One transaction: the order is placed (:func:`billing.orders.orders.place`: one
pending service per item, ``order.placed``), the cart emptied and, for an order
as a request when the org wants its requests as tickets, a ticket about the
order opened in the customer's name (``ticket.opened``: the admins are told
and answer in it).  When the org wants requests by e-mail, the admins' order
notification is the e-mail.  Paying through the gateway is the web's next
step (``Gateways.start_order``); the order stays ``placed`` until then.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from aaad.errors import ValidationError
from aaad.view.write import LoginWriter
from billing import credit_notes, invoices, settings
from billing.documents import format_money
from billing.orders import cart, orders, tickets

NOTE_MAX = 1000


@dataclass(frozen=True)
class Placed:
    order: orders.Order
    ticket_id: int | None       # the ticket about the request, when the org takes requests as tickets


def check_note(note: str) -> str:
    n = note.strip().replace("\r\n", "\n")
    if len(n) > NOTE_MAX:
        raise ValidationError("note", f"Use at most {NOTE_MAX} characters.")
    return n


def request_text(o: orders.Order, locale: str) -> str:
    """The first message of an order request's ticket: what was ordered, the total and the customer's note."""
    lines = [f"I would like to order ({o.number}):"]
    lines += [f"- {i.name}: {format_money(i.gross, o.currency, locale)}" for i in o.items]
    lines.append(f"Total: {format_money(o.total, o.currency, locale)}")
    if o.note:
        lines += ["", o.note]
    return "\n".join(lines)


def place_cart(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int, now: datetime, *,
               method: str, note: str = "") -> Placed:
    """Order what is in the customer's cart, paid by ``method`` (``gateway`` or ``request``, as the org's
    checkout setting allows); ValidationError naming ``method``, ``note`` or ``cart`` (empty)."""
    shop = cart.shop_settings(conn, org_id)
    if method not in shop.methods():
        raise ValidationError("method", "Choose how to order: " + " or ".join(
            {"gateway": "pay now", "request": "send a request"}[m] for m in shop.methods()) + ".")
    note = check_note(note)
    items = cart.items(conn, org_id, customer_id)
    if not items:
        raise ValidationError("cart", "Your cart is empty.")
    o = orders.place(conn, writer, org_id, customer_id, [i.product.id for i in items], now, method=method,
                     note=note)
    cart.clear(conn, org_id, customer_id)
    ticket_id = None
    if method == "request" and shop.request_via == "ticket":
        text = request_text(o, settings.get(conn, org_id).locale)
        ticket_id = tickets.open_ticket(conn, org_id, customer_id, f"Order {o.number}", text, now,
                                        order_id=o.id).ticket.id
    return Placed(o, ticket_id)


def order_of_customer(conn: Connection, org_id: int, customer_id: int, order_id: int) -> orders.Order | None:
    """The order if it is this customer's (None for anyone else's, as for one that does not exist)."""
    o = orders.get(conn, org_id, order_id)
    return o if o is not None and o.customer_id == customer_id else None


@dataclass(frozen=True)
class Documents:
    invoices: list[invoices.Invoice]
    credit_notes: list[credit_notes.CreditNote]


def order_documents(conn: Connection, org_id: int, o: orders.Order, recent: int = 100) -> Documents:
    """The invoices (issued) and credit notes with a line of the order's services, newest first, among the
    customer's ``recent`` latest of each: a paid order approved later shows its unused-days credit here."""
    sids = set(o.service_ids)
    invs = [i for i in (invoices.get(conn, org_id, x.id) for x in
                        invoices.list_invoices(conn, org_id, customer_id=o.customer_id, limit=recent))
            if i is not None and i.state != "draft" and any(ln.service_id in sids for ln in i.lines)]
    notes = [n for n in (credit_notes.get(conn, org_id, x.id) for x in
                         credit_notes.list_credit_notes(conn, org_id, customer_id=o.customer_id, limit=recent))
             if n is not None and any(ln.service_id in sids for ln in n.lines)]
    return Documents(invs, notes)


def owns_credit_note(conn: Connection, org_id: int, customer_id: int, credit_note_id: int) -> bool:
    n = credit_notes.get(conn, org_id, credit_note_id)
    return n is not None and n.customer_id == customer_id
