"""The message kinds: who gets each, whether it may wait for the morning or be
refused by a customer, its variables (with sample values for previews and for
checking an operator's template) and the templates shipped for it.

A kind's variables are fixed when the message is decided (the balance after
*this* payment, the due date of *that* invoice) and stored with the message;
money and dates arrive formatted for the org's locale.  Secret variables
(``secrets``) are not stored in the clear: see :mod:`billing.notify.schema`.

The portal and vouchers issues add their kinds here (registrations, orders,
tickets, voucher expiry).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from billing.notify.channels import EMAIL, SMS

CUSTOMER = "customer"      # to the customer's address or number
ADMIN = "admin"            # to the org's admin address (notify settings)
PHONE = "phone"            # to a bare number (a one-time code before any customer exists)
APPLICANT = "applicant"    # to the e-mail and number a registration gave (no customer yet)

_ORG = {"name": "Demo ISP", "phone": "+233302000000", "email": "billing@demo-isp.example"}
_CUSTOMER = {"name": "Ama Mensah", "first_name": "Ama", "username": "ama-mensah-4821",
             "email": "ama@example.com", "phone": "+233540000000"}
_COMMON = {"org": "The org: name, phone, email.",
           "customer": "The customer: name, first_name, username, email, phone.",
           "portal_url": "The customer portal's address."}
_COMMON_SAMPLE = {"org": _ORG, "customer": _CUSTOMER, "portal_url": "https://isp.example/demo/portal"}


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    audience: str                       # customer | admin | phone
    channels: tuple[str, ...]           # the default route
    subject: str                        # the shipped email subject
    text: str                           # the shipped email text (and WhatsApp text)
    sms: str                            # the shipped SMS text (short)
    variables: dict[str, str] = field(default_factory=dict)   # name -> what it holds
    sample: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()       # variables filled in at send time, shown redacted
    optional: bool = False              # marketing-type: a customer may opt out
    urgent: bool = False                # sent during quiet hours too
    attach: str | None = None           # a document attached to the email: invoice | receipt

    def all_variables(self) -> dict[str, str]:
        return ({**_COMMON, **self.variables} if self.audience == CUSTOMER
                else {"org": _COMMON["org"], **self.variables})

    def sample_vars(self) -> dict[str, Any]:
        """The kind's sample data, a copy of its own: a caller may change it (a preview's overrides)."""
        base = _COMMON_SAMPLE if self.audience == CUSTOMER else {"org": _ORG}
        return copy.deepcopy({**base, **self.sample})


_INVOICE = {"number": "INV-000123", "total": "GH₵120.00", "amount_due": "GH₵120.00",
            "due_date": "Dec 14, 2026", "issue_date": "Nov 30, 2026"}
_APPLICANT = {"name": "Ama Mensah", "first_name": "Ama", "email": "ama@example.com", "phone": "+233540000000"}
_SERVICE = {"product": "Home 20 Mbps", "username": "ama-mensah-4821", "start_date": "Nov 30, 2026"}

# -- orders and tickets (the portal's shop, issue 13 part d) ---------------------------------------------

_ORDER = {"number": "ORD-000042", "total": "GH₵180.00", "items": "Home 20 Mbps, Router rental",
          "method": "request", "note": "Please install on a Saturday."}
_TICKET = {"id": 7, "subject": "Order ORD-000042", "url": "https://isp.example/demo/portal/tickets/7"}
ORDER_KINDS = (
    Kind("order.placed", "An order placed on the portal", CUSTOMER, (EMAIL,),
         "Your order {{ order.number }} at {{ org.name }}",
         "Hello {{ customer.first_name }},\n\nThank you for your order {{ order.number }}: {{ order.items }}, "
         "{{ order.total }}.\n\n{% if order.method == 'gateway' %}Your services start as soon as your payment is "
         "confirmed.{% else %}We confirm the start date with you, then invoice you from that date. You may also pay "
         "it online at once from the order's page.{% endif %}\n\nSee it in the portal: {{ portal_url }}\n\n"
         "{{ org.name }}",
         "{{ org.name }}: order {{ order.number }} received ({{ order.total }}). {{ portal_url }}",
         {"order": "number, total (formatted), items (names), method (gateway, invoice, request), note."},
         {"order": _ORDER}),
    Kind("ticket.reply", "A reply from the admins in one of the customer's tickets", CUSTOMER, (EMAIL,),
         "Re: {{ ticket.subject }}",
         "Hello {{ customer.first_name }},\n\n{{ org.name }} replied to your ticket \u201c{{ ticket.subject }}\u201d:"
         "\n\n{{ reply }}\n\nRead it and answer in the portal: {{ ticket.url }}\n\n{{ org.name }}",
         "{{ org.name }} replied to \u201c{{ ticket.subject }}\u201d: {{ ticket.url }}",
         {"ticket": "id, subject, url (its page on the portal).", "reply": "The reply's text."},
         {"ticket": _TICKET, "reply": "We can install on Saturday 12 December."}),
    Kind("admin.order_placed", "A new order on the portal (to the admins)", ADMIN, (EMAIL,),
         "{{ org.name }}: new order {{ order.number }} from {{ customer_name }}",
         "{{ customer_name }} ({{ customer_username }}) placed order {{ order.number }}: {{ order.items }}, "
         "{{ order.total }}, {% if order.method == 'gateway' %}paid online{% elif order.method == 'request' %}"
         "as a request{% else %}to be invoiced{% endif %}.{% if order.note %}\n\nTheir note: {{ order.note }}"
         "{% endif %}\n\nApprove it with the actual start date through the API: POST /orders/{{ order_id }}/approve.",
         "{{ org.name }}: new order {{ order.number }} from {{ customer_name }} ({{ order.total }})",
         {"order": "number, total, items, method, note.", "order_id": "The order's id.",
          "customer_name": "Who ordered.", "customer_username": "Their customer number."},
         {"order": _ORDER, "order_id": 42, "customer_name": "Ama Mensah", "customer_username": "ama-mensah-4821"}),
    Kind("admin.ticket_opened", "A new ticket from a customer (to the admins)", ADMIN, (EMAIL,),
         "{{ org.name }}: new ticket #{{ ticket.id }} from {{ customer_name }}: {{ ticket.subject }}",
         "{{ customer_name }} ({{ customer_username }}) opened ticket #{{ ticket.id }} \u201c{{ ticket.subject }}"
         "\u201d:\n\n{{ message }}\n\nReply through the API: POST /tickets/{{ ticket.id }}/replies.",
         "{{ org.name }}: ticket #{{ ticket.id }} from {{ customer_name }}: {{ ticket.subject }}",
         {"ticket": "id, subject.", "message": "The customer's first message.", "customer_name": "Who wrote.",
          "customer_username": "Their customer number."},
         {"ticket": _TICKET, "message": "I would like to order (ORD-000042): ...", "customer_name": "Ama Mensah",
          "customer_username": "ama-mensah-4821"}),
    Kind("admin.ticket_replied", "A customer's reply in a ticket (to the admins)", ADMIN, (EMAIL,),
         "{{ org.name }}: {{ customer_name }} replied on ticket #{{ ticket.id }}: {{ ticket.subject }}",
         "{{ customer_name }} ({{ customer_username }}) replied on ticket #{{ ticket.id }} \u201c{{ ticket.subject }}"
         "\u201d:\n\n{{ message }}",
         "{{ org.name }}: {{ customer_name }} replied on ticket #{{ ticket.id }}",
         {"ticket": "id, subject.", "message": "The reply.", "customer_name": "Who wrote.",
          "customer_username": "Their customer number."},
         {"ticket": _TICKET, "message": "Saturday suits me.", "customer_name": "Ama Mensah",
          "customer_username": "ama-mensah-4821"}),
)

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("customer.welcome", "Welcome, with the customer's portal login", CUSTOMER, (EMAIL, SMS),
         "Welcome to {{ org.name }}",
         "Hello {{ customer.first_name }},\n\nWelcome to {{ org.name }}. Your customer number is "
         "{{ customer.username }}.\n\nYou can see your services, invoices and payments in the customer "
         "portal: {{ portal_url }}\n\nThank you for choosing us.\n{{ org.name }}",
         "Welcome to {{ org.name }}! Your customer number: {{ customer.username }}. Portal: {{ portal_url }}"),
    Kind("customer.credentials", "Welcome with the login details (an account an operator made, \u201csend "
         "credentials\u201d)", CUSTOMER, (EMAIL,),
         "Welcome to {{ org.name }}: your login details",
         "Hello {{ customer.first_name }},\n\nWelcome to {{ org.name }}. Your account is ready.\n\n"
         "  Username: {{ customer.username }}\n  Sign in with: {{ login_name }}\n  Password: {{ password }}\n\n"
         "Sign in to the customer portal: {{ login_url }}\n(You can choose your own password there with "
         "\u201cForgot your password?\u201d.){% if voucher %}\n\nYour {{ voucher.package }} voucher for the "
         "WiFi:\n  Code: {{ voucher_code }}\n  Password: {{ voucher_password }}{% endif %}\n\nSee your vouchers "
         "and buy more: {{ portal_url }}\n\n{{ org.name }}",
         "{{ org.name }}: your account {{ customer.username }} is ready. Sign in with {{ login_name }} / "
         "{{ password }} at {{ login_url }}",
         {"login_name": "What the customer signs in with (their e-mail address, else phone number).",
          "login_url": "The portal's sign-in page.",
          "password": "The first portal password (secret: filled in when sent).",
          "voucher": "The voucher assigned with the account: package (empty when none).",
          "voucher_code": "Its code (secret).", "voucher_password": "Its password (secret)."},
         {"login_name": "ama@example.com", "login_url": "https://isp.example/demo/portal/login",
          "password": "Xk3-p9qLm2", "voucher": {"package": "1 day, 2 GB"}, "voucher_code": "K7PM-2XQ9",
          "voucher_password": "hv4ta8"},
         secrets=("password", "voucher_code", "voucher_password"), urgent=True),
    Kind("invoice.issued", "A new invoice (the PDF attached)", CUSTOMER, (EMAIL,),
         "Invoice {{ invoice.number }} from {{ org.name }}",
         "Hello {{ customer.first_name }},\n\nYour invoice {{ invoice.number }} for {{ invoice.total }} is "
         "attached. Please pay {{ invoice.amount_due }} by {{ invoice.due_date }}.\n\nPay or see it online: "
         "{{ portal_url }}\n\n{{ org.name }}",
         "{{ org.name }}: invoice {{ invoice.number }}, {{ invoice.amount_due }} due {{ invoice.due_date }}. "
         "{{ portal_url }}",
         {"invoice": "number, total, amount_due, due_date, issue_date (formatted)."},
         {"invoice": _INVOICE}, attach="invoice"),
    Kind("payment.received", "A payment received (the receipt attached)", CUSTOMER, (EMAIL, SMS),
         "Payment received: {{ payment.amount }}",
         "Hello {{ customer.first_name }},\n\nWe received your payment of {{ payment.amount }} "
         "({{ payment.method }}) on {{ payment.date }}. Receipt {{ payment.receipt_number }} is attached.\n\n"
         "{% if balance_due %}Still to pay: {{ balance }}.{% else %}Your balance: {{ balance }}.{% endif %}"
         "\n\nThank you.\n{{ org.name }}",
         "{{ org.name }}: payment of {{ payment.amount }} received, receipt {{ payment.receipt_number }}. "
         "Balance: {{ balance }}.",
         {"payment": "amount, method, receipt_number, date (formatted).",
          "balance": "The customer's balance after it (formatted).",
          "balance_due": "Whether something is still owed (true/false)."},
         {"payment": {"amount": "GH₵120.00", "method": "cash", "receipt_number": "RC-000045",
                      "date": "Nov 30, 2026"}, "balance": "GH₵0.00", "balance_due": False},
         urgent=True, attach="receipt"),
    Kind("service.activated", "A service activated, with its login details", CUSTOMER, (EMAIL, SMS),
         "Your {{ service.product }} service is active",
         "Hello {{ customer.first_name }},\n\nYour {{ service.product }} service is active from "
         "{{ service.start_date }}.\n{% if service.username %}\nYour router login:\n  username: "
         "{{ service.username }}\n  password: {{ password }}\n{% endif %}\n{{ org.name }}",
         "{{ org.name }}: {{ service.product }} is active.{% if service.username %} Login: "
         "{{ service.username }} / {{ password }}{% endif %}",
         {"service": "product, username (its PPPoE or hotspot login, may be empty), start_date.",
          "password": "The login's password (secret: filled in when sent)."},
         {"service": _SERVICE, "password": "s3cret-pass"}, secrets=("password",), urgent=True),
    Kind("service.suspended", "A service suspended (the reason and how to pay)", CUSTOMER, (EMAIL, SMS),
         "Your {{ service.product }} service is suspended",
         "Hello {{ customer.first_name }},\n\nYour {{ service.product }} service is suspended: {{ reason }}."
         "\n{% if amount_due %}\nTo restore it, pay {{ amount_due }} at {{ portal_url }} - it comes back "
         "as soon as the payment is recorded.\n{% endif %}\n{{ org.name }}",
         "{{ org.name }}: {{ service.product }} suspended ({{ reason }}).{% if amount_due %} Pay "
         "{{ amount_due }} to restore: {{ portal_url }}{% endif %}",
         {"service": "product, username.", "reason": "Why, in words.",
          "amount_due": "What the customer owes now (formatted; empty when nothing)."},
         {"service": _SERVICE, "reason": "invoice INV-000123 unpaid", "amount_due": "GH₵120.00"}),
    Kind("service.resumed", "A service back on (after a payment or by an operator)", CUSTOMER, (SMS,),
         "Your {{ service.product }} service is back on",
         "Hello {{ customer.first_name }},\n\nYour {{ service.product }} service is active again.\n\n"
         "{{ org.name }}",
         "{{ org.name }}: {{ service.product }} is active again.",
         {"service": "product, username."}, {"service": _SERVICE}, urgent=True),
    Kind("service.plan_changed", "A plan change", CUSTOMER, (EMAIL,),
         "Your plan is now {{ service.product }}",
         "Hello {{ customer.first_name }},\n\nYour plan changed from {{ service.old_product }} to "
         "{{ service.product }}.\n\n{{ org.name }}",
         "{{ org.name }}: your plan is now {{ service.product }} (was {{ service.old_product }}).",
         {"service": "product, old_product, username."},
         {"service": {**_SERVICE, "old_product": "Home 10 Mbps"}}),
    Kind("usage.cap_warning", "Data use at 80 % or 100 % of the cycle's cap", CUSTOMER, (SMS,),
         "You have used {{ usage.percent }}% of your data",
         "Hello {{ customer.first_name }},\n\nYou have used {{ usage.used }} of your {{ usage.cap }} "
         "({{ usage.percent }}%) this cycle.{% if usage.percent >= 100 %} Your speed may be reduced until "
         "the cycle ends.{% endif %}\n\n{{ org.name }}",
         "{{ org.name }}: {{ usage.percent }}% of your {{ usage.cap }} used this cycle.",
         {"usage": "percent (80 or 100), used, cap (e.g. 40 GB), cycle_start."},
         {"usage": {"percent": 80, "used": "40 GB", "cap": "50 GB", "cycle_start": "Nov 1, 2026"}},
         optional=True),
    Kind("invoice.due_reminder", "A reminder before or after an invoice's due date", CUSTOMER, (EMAIL, SMS),
         "{% if days < 0 %}Invoice {{ invoice.number }} is due {{ when }}{% elif days == 0 %}Invoice "
         "{{ invoice.number }} is due today{% else %}Invoice {{ invoice.number }} is overdue{% endif %}",
         "Hello {{ customer.first_name }},\n\n{% if days <= 0 %}Your invoice {{ invoice.number }} "
         "({{ invoice.amount_due }}) is due {{ when }}.{% else %}Your invoice {{ invoice.number }} "
         "({{ invoice.amount_due }}) was due {{ when }} and is not paid yet.{% endif %}\n\nPay online: "
         "{{ portal_url }}\n\n{{ org.name }}",
         "{{ org.name }}: invoice {{ invoice.number }}, {{ invoice.amount_due }}, "
         "{% if days <= 0 %}due {{ when }}{% else %}overdue since {{ invoice.due_date }}{% endif %}. "
         "{{ portal_url }}",
         {"invoice": "number, total, amount_due, due_date, issue_date.",
          "days": "Days from the due date (negative: before it).", "when": "The same in words."},
         {"invoice": _INVOICE, "days": -3, "when": "in 3 days"}),
    Kind("service.expiry_warning", "A time-limited service about to expire", CUSTOMER, (SMS,),
         "Your {{ service.product }} expires {{ when }}",
         "Hello {{ customer.first_name }},\n\nYour {{ service.product }} expires {{ when }} "
         "({{ service.expires }}). Renew it in the portal: {{ portal_url }}\n\n{{ org.name }}",
         "{{ org.name }}: {{ service.product }} expires {{ when }}. Renew: {{ portal_url }}",
         {"service": "product, username, expires (formatted).", "when": "e.g. in 2 hours."},
         {"service": {**_SERVICE, "expires": "Dec 1, 2026, 6:00 PM"}, "when": "in 2 hours"}, optional=True),
    Kind("password.reset", "A password-reset link", CUSTOMER, (EMAIL, SMS),
         "Reset your {{ org.name }} password",
         "Hello {{ customer.first_name }},\n\nTo choose a new password for the customer portal, open this "
         "link within {{ minutes }} minutes:\n\n{{ reset_url }}\n\nIf you did not ask for this, ignore this "
         "message.\n\n{{ org.name }}",
         "{{ org.name }} password reset: {{ reset_url }} (valid {{ minutes }} min)",
         {"reset_url": "The link (secret: filled in when sent).", "minutes": "How long it works."},
         {"reset_url": "https://isp.example/demo/portal/reset/Xy12...", "minutes": 30},
         secrets=("reset_url",), urgent=True),
    Kind("otp.code", "A one-time code for a phone number", PHONE, (SMS,),
         "Your {{ org.name }} code",
         "Your {{ org.name }} code is {{ code }}. It expires in {{ minutes }} minutes.",
         "{{ code }} is your {{ org.name }} code. It expires in {{ minutes }} min.",
         {"code": "The code (secret).", "minutes": "How long it works."},
         {"code": "482913", "minutes": 10}, secrets=("code",), urgent=True),
    Kind("registration.received", "A registration received, waiting for approval", APPLICANT, (EMAIL, SMS),
         "We received your registration",
         "Hello {{ applicant.first_name }},\n\nThank you for registering with {{ org.name }}. We check every "
         "registration and tell you as soon as your account is ready.\n\n{{ org.name }}",
         "{{ org.name }}: we received your registration and tell you when your account is ready.",
         {"applicant": "The applicant: name, first_name, email, phone."},
         {"applicant": _APPLICANT}),
    Kind("registration.approved", "A registration approved: the account is ready", CUSTOMER, (EMAIL, SMS),
         "Your {{ org.name }} account is ready",
         "Hello {{ customer.first_name }},\n\nYour registration is approved{% if service.product %}: your "
         "{{ service.product }} service is active from {{ service.start_date }}{% endif %}.\n\nSign in to the "
         "customer portal with your e-mail address or phone number and the password you chose: {{ portal_url }}"
         "\n\n{{ org.name }}",
         "{{ org.name }}: your registration is approved. Sign in: {{ portal_url }}",
         {"service": "product, username, start_date (empty when the registration had no service)."},
         {"service": _SERVICE}, urgent=True),
    Kind("registration.rejected", "A registration rejected, with the reason", APPLICANT, (EMAIL, SMS),
         "Your registration with {{ org.name }}",
         "Hello {{ applicant.first_name }},\n\nWe are sorry: we cannot accept your registration.\n\n"
         "Reason: {{ reason }}\n\n{{ org.name }}",
         "{{ org.name }}: we cannot accept your registration: {{ reason }}",
         {"applicant": "The applicant: name, first_name, email, phone.", "reason": "Why, as the admin wrote it."},
         {"applicant": _APPLICANT, "reason": "We do not cover your area yet."}),
    Kind("registration.info_needed", "More information needed for a registration (a link back to the form)",
         APPLICANT, (EMAIL, SMS),
         "{{ org.name }} needs more information",
         "Hello {{ applicant.first_name }},\n\nTo finish your registration we need more information:\n\n"
         "{{ question }}\n\nPlease answer through this link within {{ days }} days (your form is filled in "
         "already):\n\n{{ link }}\n\n{{ org.name }}",
         "{{ org.name }} needs more information for your registration: {{ link }}",
         {"applicant": "The applicant: name, first_name, email, phone.", "question": "The admin's question.",
          "link": "The link back to the form (secret: filled in when sent).", "days": "How long it works."},
         {"applicant": _APPLICANT, "question": "Which house number?",
          "link": "https://isp.example/demo/portal/register/more/Xy12...", "days": 14},
         secrets=("link",), urgent=True),
    Kind("admin.registration_new", "A new registration to approve", ADMIN, (EMAIL,),
         "{{ org.name }}: new registration from {{ registration.name }}",
         "A new registration is waiting for approval{% if registration.resubmitted %} (the applicant answered "
         "your question){% endif %}:\n\n  {{ registration.name }}\n  {{ registration.email }}\n  "
         "{{ registration.phone }}\n\nRegistration {{ registration.id }}: approve, reject or ask for more "
         "information through the API (/api/v1/registrations/{{ registration.id }}).",
         "{{ org.name }}: new registration from {{ registration.name }} (id {{ registration.id }})",
         {"registration": "id, name, email, phone, resubmitted (true when it answers a question)."},
         {"registration": {"id": 17, "name": "Ama Mensah", "email": "ama@example.com", "phone": "+233540000000",
                           "resubmitted": False}}),
    Kind("admin.sms_balance_low", "The SMS gateway's balance below the threshold", ADMIN, (EMAIL,),
         "{{ org.name }}: SMS balance low ({{ balance }})",
         "The SMS gateway's balance is {{ balance }}, below the alert threshold of {{ threshold }}. "
         "Top it up so reminders and codes keep going out.",
         "{{ org.name }}: SMS balance {{ balance }} (below {{ threshold }})",
         {"balance": "The gateway's balance.", "threshold": "The alert threshold."},
         {"balance": "41.5", "threshold": "100"}, urgent=True),
    *ORDER_KINDS,
)}

#: Kinds that rules create (the offsets are the rules'); the others follow events or calls.
RULE_KINDS = ("invoice.due_reminder", "service.expiry_warning")


def get(name: str) -> Kind:
    return KINDS[name]
