"""Vouchers on the portal: a customer's purchase through the org's gateway, an operator's voucher
assigned with a new account, and the figures the customer's dashboard shows.

A purchase is a gateway transaction of purpose ``voucher`` naming the package
(:func:`billing.gateways.store.create_for_voucher`).  When the gateway reports it
successful, :func:`billing.gateways.store.settle` (exactly once, by its conditional
UPDATE) calls :func:`paid` in the same transaction: the money is booked as a sale
(cash in, revenue and the VAT the price includes) — not as customer credit, which
the billing run would spend on the customer's next invoice — and one voucher of
the package is sold to the customer (:func:`billing.vouchers.vouchers.sell`).  A
repeated webhook, or the return page racing it, finds the transaction settled and
sells nothing.

The vouchers themselves (packages, codes, their logins and states) are
:mod:`billing.vouchers`'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from accounting import store as acct_store
from billing import invoices, ledger, settings
from billing.gateways.base import Transaction
from billing.ledger import Posting
from billing.vouchers import vouchers


def portal_package(conn: Connection, org_id: int, package_id: int) -> Any:
    """The org's package ``package_id`` if it is sold on the portal (NotFound otherwise)."""
    for p in vouchers.portal_packages(conn, org_id):
        if p.id == package_id:
            return p
    raise NotFound("voucher package", package_id)


def vat_in(amount: int, vat_bp: int) -> int:
    """The VAT included in a gross ``amount`` at ``vat_bp`` basis points (rounded half-even)."""
    if vat_bp <= 0:
        return 0
    q, r = divmod(amount * vat_bp, 10_000 + vat_bp)
    twice = 2 * r
    if twice > 10_000 + vat_bp or (twice == 10_000 + vat_bp and q % 2 == 1):
        q += 1
    return q


def paid(conn: Connection, writer: LoginWriter, org_id: int, tx: Transaction, now: datetime) -> Any:
    """The voucher purchase ``tx`` was paid: book the sale and sell the voucher (see the module
    docstring); the voucher.  NotFound / ValidationError when the package cannot be sold any more
    (the caller then keeps the money as the customer's credit)."""
    if tx.package_id is None:
        raise ValidationError("package_id", "not a voucher purchase")
    st = settings.get(conn, org_id)
    v = vouchers.sell(conn, writer, org_id, tx.package_id, now, customer_id=tx.customer_id, transaction_id=tx.id)
    vat = vat_in(tx.amount, st.vat_bp)
    ledger.post(conn, org_id, "voucher_sale", [Posting(ledger.cash(tx.gateway), tx.amount),
                                               Posting(ledger.REVENUE, -(tx.amount - vat)),
                                               Posting(ledger.VAT, -vat)],
                st.today(now), now, ref_type="gateway_tx", ref_id=tx.id, customer_id=tx.customer_id,
                memo=f"voucher {v.id} sold online ({tx.gateway} {tx.reference})")
    return v


def assign(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, customer_id: int, now: datetime,
           *, charge: bool = False) -> Any:
    """An operator gives the customer a voucher of ``package_id`` (any active package of the org, on
    the portal or not): free (the voucher's price is 0), or with ``charge`` sold at the package's price
    and a one-off invoice of it (VAT as the org's settings say)."""
    try:
        # Free: the voucher records 0 as its price; charged: the package's price, invoiced.
        v = vouchers.sell(conn, writer, org_id, package_id, now, customer_id=customer_id,
                          price=None if charge else 0)
    except NotFound:
        raise ValidationError("package_id", f"no voucher package {package_id} in this org") from None
    if charge and v.price > 0:
        invoices.issue_one_off(conn, org_id, customer_id,
                               [invoices.LineIn(f"Voucher {v.package_name}", v.price)], now)
    return v


def of_transaction(conn: Connection, box: SecretBox, org_id: int, customer_id: int, voucher_id: int | None,
                   now: datetime) -> Any:
    """The customer's voucher ``voucher_id`` as the portal shows it, with its password (None if not theirs)."""
    if voucher_id is None:
        return None
    return next((v for v in vouchers.of_customer(conn, org_id, customer_id, now, box=box) if v.id == voucher_id),
                None)


@dataclass(frozen=True)
class Figures:
    """The dashboard's voucher figures for one customer."""
    purchased: int                  # vouchers the customer bought or was given
    active: list[Any]               # the ones still usable (unused or active), credentials and what is left
    today: int                      # octets in+out of all their vouchers today (the org's day)
    total: int                      # octets in+out of all their vouchers ever
    on_sale: int                    # packages the portal sells


USABLE = ("unused", "active")


def figures(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime) -> Figures:
    """The customer's voucher figures (the portal's dashboard: one read, a few queries)."""
    mine = vouchers.of_customer(conn, org_id, customer_id, now, box=box)
    usage = acct_store.logins_usage(conn, org_id, [v.login_id for v in mine if v.login_id is not None], now)
    today = sum(sum(u.today) + sum(u.unaggregated) for u in usage.values())
    total = sum(sum(u.total) + sum(u.unaggregated) for u in usage.values())
    on_sale = len(vouchers.portal_packages(conn, org_id))
    return Figures(len(mine), [v for v in mine if v.state in USABLE], today, total, on_sale)


def packages(conn: Connection, org_id: int) -> list[Any]:
    """The packages the portal sells, cheapest first."""
    return sorted(vouchers.portal_packages(conn, org_id), key=lambda p: (p.price, p.id))


def history(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime) -> list[Any]:
    """The customer's vouchers with their passwords, newest first."""
    return list(vouchers.of_customer(conn, org_id, customer_id, now, box=box))
