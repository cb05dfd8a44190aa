"""billing's events (DESIGN.md, event glossary), published in the transaction of the change.

Enforcement does not need them (it follows the logins); notifications and
the web do.  Payloads carry ids and the few facts a message needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aaad.events import event_type


@event_type("customer.created")
@dataclass(frozen=True)
class CustomerCreated:
    customer_id: int
    username: str
    name: str
    TYPE: ClassVar[str]


@event_type("customer.closed")
@dataclass(frozen=True)
class CustomerClosed:
    customer_id: int
    username: str
    TYPE: ClassVar[str]


@dataclass(frozen=True)
class _ServiceEvent:
    service_id: int
    customer_id: int
    product_id: int
    state: str
    reason: str


@event_type("service.created")
@dataclass(frozen=True)
class ServiceCreated(_ServiceEvent):
    TYPE: ClassVar[str]


@event_type("service.activated")
@dataclass(frozen=True)
class ServiceActivated(_ServiceEvent):
    TYPE: ClassVar[str]


@event_type("service.suspended")
@dataclass(frozen=True)
class ServiceSuspended(_ServiceEvent):
    invoice_id: int | None = None
    TYPE: ClassVar[str]


@event_type("service.resumed")
@dataclass(frozen=True)
class ServiceResumed(_ServiceEvent):
    TYPE: ClassVar[str]


@event_type("service.plan_changed")
@dataclass(frozen=True)
class ServicePlanChanged(_ServiceEvent):
    old_product_id: int = 0
    TYPE: ClassVar[str]


@event_type("service.cancelled")
@dataclass(frozen=True)
class ServiceCancelled(_ServiceEvent):
    TYPE: ClassVar[str]


@event_type("invoice.issued")
@dataclass(frozen=True)
class InvoiceIssued:
    invoice_id: int
    customer_id: int
    number: str
    total: int
    currency: str
    due_date: str       # ISO date
    TYPE: ClassVar[str]


@event_type("payment.received")
@dataclass(frozen=True)
class PaymentReceived:
    payment_id: int
    customer_id: int
    amount: int
    currency: str
    method: str
    receipt_number: str
    TYPE: ClassVar[str]


@event_type("credit_note.issued")
@dataclass(frozen=True)
class CreditNoteIssued:
    credit_note_id: int
    customer_id: int
    number: str
    total: int
    currency: str
    kind: str
    TYPE: ClassVar[str]


@event_type("order.placed")
@dataclass(frozen=True)
class OrderPlaced:
    order_id: int
    customer_id: int
    method: str                    # gateway | invoice | request
    total: int
    currency: str
    TYPE: ClassVar[str]


@event_type("order.paid")
@dataclass(frozen=True)
class OrderPaid:
    order_id: int
    customer_id: int
    total: int
    currency: str
    TYPE: ClassVar[str]


@event_type("registration.created")
@dataclass(frozen=True)
class RegistrationCreated:
    registration_id: int
    name: str
    resubmitted: bool = False     # the applicant answered an admin's request for more information
    TYPE: ClassVar[str]


@event_type("registration.approved")
@dataclass(frozen=True)
class RegistrationApproved:
    registration_id: int
    customer_id: int
    service_id: int | None
    TYPE: ClassVar[str]


@event_type("registration.rejected")
@dataclass(frozen=True)
class RegistrationRejected:
    registration_id: int
    reason: str
    TYPE: ClassVar[str]


@event_type("registration.info_requested")
@dataclass(frozen=True)
class RegistrationInfoRequested:
    registration_id: int
    question: str
    TYPE: ClassVar[str]


@event_type("ticket.opened")
@dataclass(frozen=True)
class TicketOpened:
    ticket_id: int
    customer_id: int
    subject: str
    order_id: int | None
    TYPE: ClassVar[str]


@event_type("ticket.replied")
@dataclass(frozen=True)
class TicketReplied:
    ticket_id: int
    customer_id: int
    ticket_message_id: int
    author: str         # customer | admin
    TYPE: ClassVar[str]


@event_type("voucher.sold")
@dataclass(frozen=True)
class VoucherSold:
    voucher_id: int
    customer_id: int
    package_id: int
    code: str
    price: int
    currency: str
    transaction_id: int | None = None
    TYPE: ClassVar[str]
