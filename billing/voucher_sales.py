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

A cashier's sale at the counter (:func:`sell_at_counter`) is booked the same way: the
customer pays cash or mobile money for the voucher there and then, so it is a sale, not
credit.  Its method and reference (receipt-book number, mobile-money transaction id)
sell once per org: a double-clicked form or a retried request returns the voucher
already sold.

The vouchers themselves (packages, codes, their logins and states) are
:mod:`billing.vouchers`'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from accounting import store as acct_store
from billing import invoices, ledger, payments, settings
from billing.gateways.base import Transaction
from billing.ledger import Posting
from billing.schema import payments as payments_t
from billing.vouchers import vouchers
from billing.vouchers.schema import vouchers as vt


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


def _counter_sale(conn: Connection, org_id: int, method: str, reference: str) -> Any:
    """The voucher sold at the counter with this method and reference (id, customer, package), or None."""
    return conn.execute(sa.select(vt.c.id, vt.c.customer_id, vt.c.package_id).where(
        vt.c.org_id == org_id, vt.c.sale_method == method, vt.c.sale_reference == reference)).first()


def _same_sale(conn: Connection, writer: LoginWriter, org_id: int, row: Any, package_id: int, customer_id: int,
               method: str, reference: str, now: datetime) -> Any:
    """The voucher ``row`` names if it is this sale repeated; ValidationError on ``reference`` otherwise."""
    if row.customer_id == customer_id and row.package_id == package_id:
        return vouchers.require(conn, org_id, int(row.id), now, box=writer.box)
    raise ValidationError("reference", f"{method} reference {reference!r} was already used for voucher {row.id}")


def sell_at_counter(conn: Connection, writer: LoginWriter, org_id: int, package_id: int, customer_id: int,
                    now: datetime, *, method: str, reference: str) -> Any:
    """A cashier sells the customer one voucher of the active package ``package_id``, paid at the counter
    with ``method`` (checked as a payment's) and ``reference`` (required, at most 128 characters): the
    voucher at the package's price, with its password, and the sale booked as :func:`paid` books it
    (nothing for a free package).  Once per org, method and reference: the same sale again returns its
    voucher; a reference used by another sale or recorded as a payment is a ValidationError on
    ``reference``."""
    method = payments.check_method(method)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError("reference", "the receipt-book number or mobile-money transaction id")
    if len(reference) > 128:
        raise ValidationError("reference", "at most 128 characters")
    row = _counter_sale(conn, org_id, method, reference)
    if row is not None:
        return _same_sale(conn, writer, org_id, row, package_id, customer_id, method, reference, now)
    receipt = conn.execute(sa.select(payments_t.c.receipt_number).where(
        payments_t.c.org_id == org_id, payments_t.c.method == method, payments_t.c.reference == reference)).first()
    if receipt is not None:
        raise ValidationError("reference", f"{method} reference {reference!r} is already recorded as receipt "
                                           f"{receipt.receipt_number}")
    try:
        with conn.begin_nested():
            v = vouchers.sell(conn, writer, org_id, package_id, now, customer_id=customer_id)
            conn.execute(vt.update().where(vt.c.org_id == org_id, vt.c.id == v.id)
                         .values(sale_method=method, sale_reference=reference))
    except sa.exc.IntegrityError:
        # Another transaction sold with the same reference between our check and our update.
        row = _counter_sale(conn, org_id, method, reference)
        if row is None:
            raise
        return _same_sale(conn, writer, org_id, row, package_id, customer_id, method, reference, now)
    if v.price > 0:
        st = settings.get(conn, org_id)
        vat = vat_in(v.price, st.vat_bp)
        ledger.post(conn, org_id, "voucher_sale", [Posting(ledger.cash(method), v.price),
                                                   Posting(ledger.REVENUE, -(v.price - vat)),
                                                   Posting(ledger.VAT, -vat)],
                    st.today(now), now, ref_type="voucher", ref_id=v.id, customer_id=customer_id,
                    memo=f"voucher {v.id} sold at the counter ({method} {reference})")
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


def figures(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime, on_sale: int,
            st: settings.Settings | None = None) -> Figures:
    """The customer's voucher figures (the portal's dashboard: one read, a few queries); ``on_sale``: the
    packages the portal sells (the dashboard counts them with its other figures,
    ``packages.PORTAL_COUNT``); ``st``: the org's billing settings when the caller has them."""
    mine = vouchers.of_customer(conn, org_id, customer_id, now, box=box, st=st)
    usage = acct_store.logins_usage(conn, org_id, [v.login_id for v in mine if v.login_id is not None], now)
    today = sum(sum(u.today) + sum(u.unaggregated) for u in usage.values())
    total = sum(sum(u.total) + sum(u.unaggregated) for u in usage.values())
    return Figures(len(mine), [v for v in mine if v.state in USABLE], today, total, on_sale)


def packages(conn: Connection, org_id: int) -> list[Any]:
    """The packages the portal sells, cheapest first."""
    return sorted(vouchers.portal_packages(conn, org_id), key=lambda p: (p.price, p.id))


def history(conn: Connection, box: SecretBox, org_id: int, customer_id: int, now: datetime) -> list[Any]:
    """The customer's vouchers with their passwords, newest first."""
    return list(vouchers.of_customer(conn, org_id, customer_id, now, box=box))
