"""Customer accounts, the two ways a hotspot operator makes them.

- An operator creates one (:func:`create`: ``aaad customer add``, ``POST /customers``):
  the customer (:func:`billing.customers.add`, the username generated from the name),
  optionally a voucher of a package assigned at once (free, or ``charge``: a one-off
  invoice of the package's price), optionally "send credentials": a first portal password,
  random, set and e-mailed with the username and the portal's sign-in link (the kind
  ``customer.credentials``; the password travels encrypted in the outbox until sent and is
  never stored in the clear).  One transaction: all of it or nothing.
- A visitor registers on the portal of an org whose sign-up is in ``hotspot`` mode
  (:func:`self_register`): no approval, the customer is made active at once with the
  password they typed; the web signs them in.  ``customer.created`` brings the usual
  welcome e-mail (``customer.welcome``).

Closing a customer (:func:`billing.customers.close`) ends their portal sessions at the next
request (:mod:`web.portal.sessions` refuses a closed customer's) and keeps their vouchers and
purchase history: vouchers are not services, closing touches none of them.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from aaad import orgs, urls
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from billing import customers, voucher_sales
from billing.notify import outbox
from billing.signup import forms, registrations

#: A first password's length (letters and digits: about 71 bits).
PASSWORD_CHARS = 12
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Created:
    """What :func:`create` did."""
    customer: customers.Customer
    voucher: Any | None             # the voucher assigned (billing.vouchers), or None
    charged: bool                   # an invoice of the voucher's price was issued
    credentials_sent: bool          # a customer.credentials e-mail was queued


def new_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_CHARS))


def create(conn: Connection, writer: LoginWriter, box: SecretBox, org_id: int, now: datetime, *,
           base_url: str = "", package_id: int | None = None, charge: bool = False,
           send_credentials: bool = False, **fields: Any) -> Created:
    """An operator's new customer (see the module docstring); ``fields`` as
    :func:`billing.customers.add` takes them; ``base_url``: the public web address, for the
    links in the e-mail.  ValidationError("send_credentials") without an e-mail address."""
    if send_credentials and not (fields.get("email") or "").strip():
        raise ValidationError("send_credentials", "the credentials go by e-mail: give the customer's e-mail address")
    c = customers.add(conn, org_id, now, **fields)
    voucher = None
    if package_id is not None:
        voucher = voucher_sales.assign(conn, writer, org_id, package_id, c.id, now, charge=charge)
    if send_credentials:
        send(conn, box, org_id, c, now, base_url=base_url, voucher=voucher)
        c = customers.get(conn, org_id, c.id) or c        # has_password now
    return Created(c, voucher, bool(voucher is not None and charge and voucher.price > 0), send_credentials)


def send(conn: Connection, box: SecretBox, org_id: int, c: customers.Customer, now: datetime, *,
         base_url: str = "", voucher: Any | None = None) -> str:
    """Set a new random portal password for ``c`` and queue the ``customer.credentials`` e-mail with it
    (and the voucher's code and password when one was assigned); the password."""
    password = new_password()
    customers.set_password(conn, org_id, c.id, password, now)
    facts = outbox.org_facts(conn, org_id, base_url)
    variables: dict[str, Any] = {"login_name": c.email or c.phone or c.username,
                                 "login_url": urls.portal_url(base_url, _slug(conn, org_id), "login"),
                                 "voucher": {}}
    secret = {"password": password, "voucher_code": "", "voucher_password": ""}
    if voucher is not None:
        variables["voucher"] = {"package": voucher.package_name}
        secret.update(voucher_code=voucher.code, voucher_password=voucher.password or voucher.code)
    outbox.queue(conn, box, org_id, [outbox.Draft("customer.credentials", f"cred:{c.id}:{now.isoformat()}", c.id,
                                                  variables, secret)], now, facts=facts)
    return password


def reset_password(conn: Connection, org_id: int, customer_id: int, now: datetime) -> str:
    """A new random portal password for the org's customer (NotFound if none), returned to be shown
    once to the operator who tells the customer; the old one stops working."""
    password = new_password()
    customers.set_password(conn, org_id, customer_id, password, now)
    return password


def resend_credentials(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime, *,
                       base_url: str = "") -> customers.Customer:
    """Send the customer their sign-in details again (:func:`send`: a new portal password by e-mail).
    NotFound if the org has no such customer; ValidationError("email") without an e-mail address,
    ValidationError("status") for a closed customer."""
    c = customers.get(conn, org_id, customer_id)
    if c is None:
        raise NotFound("customer", customer_id)
    if c.status == "closed":
        raise ValidationError("status", "the customer is closed")
    if not (c.email or "").strip():
        raise ValidationError("email", "the credentials go by e-mail: give the customer an e-mail address first")
    send(conn, box, org_id, c, now, base_url=base_url)
    return customers.get(conn, org_id, customer_id) or c


def _slug(conn: Connection, org_id: int) -> str:
    org = orgs.get(conn, org_id)
    return org.slug if org is not None else ""


def self_register(conn: Connection, org_id: int, form: forms.Clean, now: datetime, *,
                  zone: str | None = None) -> customers.Customer:
    """A visitor's own account on a portal in ``hotspot`` mode: the customer, active, with the password
    they typed (publishes ``customer.created``: the welcome e-mail).  ValidationError("form") when the
    sign-up is closed or not in hotspot mode, or for a duplicate e-mail or phone (one message,
    :data:`billing.signup.registrations.DUPLICATE`)."""
    st = forms.get_settings(conn, org_id)
    if not st.enabled or st.mode != "hotspot":
        raise ValidationError("form", "Registration is closed.")
    registrations.check_unique(conn, org_id, form.email, form.phone)
    c = customers.add(conn, org_id, now, name=form.name, email=form.email, phone=form.phone, address=form.address,
                      zone=zone or st.default_zone, custom_fields=form.custom, status="active")
    customers.set_password(conn, org_id, c.id, form.password, now)
    return c
