"""Gateway transactions: created pending, settled once, every step logged (``gateway_events``).

Exactly once.  :func:`settle` moves a transaction pending -> success with a
conditional UPDATE checked by its row count and, in the same transaction,
records the billing payment (:func:`billing.payments.record`, method = the
gateway's name, reference = the transaction's reference; that pair is also
unique in ``payments``).  So of two reports of the same success — a webhook
delivered twice, a webhook racing the return page or the re-check job — one
credits and the other finds nothing left to move.  A failure never overrides
a success (a late "failed" after "success" is logged and ignored); a success
after a failure is credited (the gateway says it took the money).  The amount
and currency of a success must be the transaction's, else it is logged and
refused.  A voucher purchase (purpose ``voucher``) records no payment: its voucher is
sold and the money booked as the sale (:func:`billing.voucher_sales.paid`), in the
same transaction, so a repeated report sells nothing twice.  Nothing here raises for
what a gateway reports: every outcome is a :class:`Settled` and a log row, so the
caller's transaction always commits it.
"""
from __future__ import annotations

import base64
import json
import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.logger import Logger

from aaad import paging
from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from aaad.view.write import LoginWriter
from billing import customers, ledger, payments, settings, voucher_sales
from billing.gateways import paystack
from billing.gateways.base import FAILED, PENDING, PURPOSES, STATUSES, SUCCESS, Transaction
from billing.gateways.schema import gateway_events, gateway_settings, gateway_transactions
from billing.orders import orders
from billing.schema import services as services_t
from billing.schema import suspensions

log = Logger()

#: The gateways an org can choose ("none": the portal offers no online payment).
GATEWAYS = ("test", "paystack", "none")
DEFAULT_GATEWAY = "none"      # safe: the test gateway lets a customer mark their own balance paid

# Outcomes of settle (also gateway_events.outcome).
CREDITED, DUPLICATE, MISMATCH, IGNORED, UNKNOWN = "credited", "duplicate", "mismatch", "ignored", "unknown"


@dataclass(frozen=True)
class GatewaySettings:
    org_id: int
    gateway: str                       # test | paystack | none
    secrets: dict[str, str]            # decrypted; never logged


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` did."""
    outcome: str                       # credited | duplicate | failed | ignored | pending | mismatch | unknown
    transaction: Transaction | None
    resumed_service_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Event:
    id: int
    org_id: int
    transaction_id: int | None
    reference: str | None
    gateway: str
    source: str
    outcome: str
    detail: str
    created_at: datetime


# -- settings ---------------------------------------------------------------------------------

def _secrets(box: SecretBox, blob: bytes | None) -> dict[str, str]:
    if not blob:
        return {}
    value = json.loads(box.decrypt(blob))
    return {str(k): str(v) for k, v in value.items()}


def gateway_settings_of(conn: Connection, box: SecretBox, org_id: int) -> GatewaySettings | None:
    """The org's gateway settings, None if it never used one (read-only)."""
    r = conn.execute(sa.select(gateway_settings).where(gateway_settings.c.org_id == org_id)).first()
    if r is None:
        return None
    return GatewaySettings(org_id, r.gateway, _secrets(box, r.secrets_enc))


def ensure_settings(conn: Connection, box: SecretBox, org_id: int, now: datetime) -> GatewaySettings:
    """The org's gateway settings, created with the defaults on first use: no gateway (``none``) and
    a random 32-byte key for its signatures (``test_key``, base64), stored encrypted."""
    found = gateway_settings_of(conn, box, org_id)
    if found is not None and "test_key" in found.secrets:
        return found
    if found is None:
        key = base64.b64encode(pysecrets.token_bytes(32)).decode("ascii")
        try:
            with conn.begin_nested():
                conn.execute(gateway_settings.insert().values(
                    org_id=org_id, gateway=DEFAULT_GATEWAY, secrets_enc=box.encrypt(json.dumps({"test_key": key})),
                    updated_at=now))
        except sa.exc.IntegrityError:
            pass    # another transaction created it first: use theirs
    else:
        merged = {**found.secrets, "test_key": base64.b64encode(pysecrets.token_bytes(32)).decode("ascii")}
        conn.execute(gateway_settings.update().where(gateway_settings.c.org_id == org_id)
                     .values(secrets_enc=box.encrypt(json.dumps(merged)), updated_at=now))
    got = gateway_settings_of(conn, box, org_id)
    assert got is not None
    return got


def set_gateway(conn: Connection, box: SecretBox, org_id: int, gateway: str, now: datetime) -> GatewaySettings:
    """Choose the org's gateway (``test``, ``paystack`` or ``none``); Paystack needs its secret key set first."""
    if gateway not in GATEWAYS:
        raise ValidationError("gateway", f"one of: {', '.join(GATEWAYS)}")
    st = ensure_settings(conn, box, org_id, now)
    if gateway == "paystack" and not st.secrets.get("paystack_secret_key"):
        raise ValidationError("paystack_secret_key", "set the org's Paystack secret key first")
    conn.execute(gateway_settings.update().where(gateway_settings.c.org_id == org_id)
                 .values(gateway=gateway, updated_at=now))
    got = gateway_settings_of(conn, box, org_id)
    assert got is not None
    return got


def set_paystack(conn: Connection, box: SecretBox, org_id: int, now: datetime, *,
                 secret_key: str | None = None, base_url: str | None = None) -> GatewaySettings:
    """Set the org's Paystack secret key (write-only: stored encrypted, never shown) and/or the API's
    base URL (``""``: Paystack's own, https://api.paystack.co).  ValidationError for a value that is
    not a Paystack secret key or not an http(s) URL."""
    found = ensure_settings(conn, box, org_id, now)
    merged = dict(found.secrets)
    if secret_key is not None:
        merged[paystack.SECRET_KEY] = paystack.check_secret_key(secret_key)
    if base_url is not None:
        if base_url.strip():
            merged[paystack.BASE_URL] = paystack.check_base_url(base_url)
        else:
            merged.pop(paystack.BASE_URL, None)
    conn.execute(gateway_settings.update().where(gateway_settings.c.org_id == org_id)
                 .values(secrets_enc=box.encrypt(json.dumps(merged)), updated_at=now))
    got = gateway_settings_of(conn, box, org_id)
    assert got is not None
    return got


def configure(conn: Connection, box: SecretBox, org_id: int, now: datetime, *, gateway: str | None = None,
              paystack_key: str | None = None) -> GatewaySettings:
    """The org's gateway settings written as the API and the console change them: the Paystack key
    (when given), then the gateway in use (when given)."""
    st = ensure_settings(conn, box, org_id, now)
    if paystack_key is not None:
        st = set_paystack(conn, box, org_id, now, secret_key=paystack_key)
    if gateway is not None:
        st = set_gateway(conn, box, org_id, gateway, now)
    return st


def public(st: GatewaySettings | None) -> dict[str, Any]:
    """What may be shown of the org's gateway settings: the gateway, whether a Paystack key is set and
    its mode (test/live), the Paystack base URL; never a secret."""
    secrets = st.secrets if st is not None else {}
    key = secrets.get(paystack.SECRET_KEY)
    return {"gateway": st.gateway if st is not None else DEFAULT_GATEWAY, "paystack_key_set": bool(key),
            "paystack_mode": paystack.key_mode(key) if key else None,
            "paystack_base_url": secrets.get(paystack.BASE_URL) or paystack.API_URL}


# -- transactions -----------------------------------------------------------------------------

def new_reference() -> str:
    """A random reference (120 bits; lower-case letters and digits, URL- and reference-safe)."""
    return "pay-" + base64.b32encode(pysecrets.token_bytes(15)).decode("ascii").lower()


def _tx(r: Any) -> Transaction:
    return Transaction(r.id, r.org_id, r.customer_id, r.reference, r.gateway, r.purpose, int(r.amount), r.currency,
                       r.status, r.provider_ref, r.payment_id, r.error, r.created_at, r.updated_at,
                       r.last_checked_at, r.order_id, r.package_id, r.voucher_id)


def get(conn: Connection, org_id: int, reference: str) -> Transaction | None:
    """The org's transaction of ``reference``."""
    r = conn.execute(sa.select(gateway_transactions).where(gateway_transactions.c.org_id == org_id,
                                                           gateway_transactions.c.reference == reference)).first()
    return None if r is None else _tx(r)


def get_for_customer(conn: Connection, org_id: int, customer_id: int, reference: str) -> Transaction:
    """The customer's own transaction of ``reference``; NotFound for anyone else's."""
    tx = get(conn, org_id, reference)
    if tx is None or tx.customer_id != customer_id:
        raise NotFound("payment", reference)
    return tx


def _find(conn: Connection, org_id: int, reference: str) -> Transaction | None:
    """:func:`get` for :func:`settle` (a seam the race tests line up on)."""
    return get(conn, org_id, reference)


def create(conn: Connection, org_id: int, customer_id: int, gateway: str, amount: int, currency: str,
           purpose: str, now: datetime, *, order_id: int | None = None,
           package_id: int | None = None) -> Transaction:
    """A new pending transaction with a random reference (``order_id``: the order it pays;
    ``package_id``: the voucher package it buys)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("amount", "a positive amount")
    if purpose not in PURPOSES:
        raise ValidationError("purpose", f"one of: {', '.join(PURPOSES)}")
    if not payments.customer_usernames(conn, org_id, {customer_id}):
        raise NotFound("customer", customer_id)
    reference = new_reference()
    conn.execute(gateway_transactions.insert().values(
        org_id=org_id, customer_id=customer_id, reference=reference, gateway=gateway, purpose=purpose,
        amount=amount, currency=currency, status=PENDING, created_at=now, updated_at=now, order_id=order_id,
        package_id=package_id))
    tx = get(conn, org_id, reference)
    assert tx is not None
    return tx


def create_for_balance(conn: Connection, box: SecretBox, org_id: int, customer_id: int,
                       now: datetime) -> Transaction:
    """A transaction for the customer's whole outstanding balance with the org's gateway;
    ValidationError("amount") when nothing is owed, ("gateway") when the org takes no online payment."""
    st = ensure_settings(conn, box, org_id, now)
    if st.gateway == "none":
        raise ValidationError("gateway", "online payment is not available; please contact us to pay")
    owed = ledger.balance(conn, org_id, customer_id)
    if owed <= 0:
        raise ValidationError("amount", "there is nothing to pay")
    return create(conn, org_id, customer_id, st.gateway, owed, settings.get(conn, org_id).currency, "balance", now)


def create_for_order(conn: Connection, box: SecretBox, org_id: int, customer_id: int, order_id: int,
                     now: datetime) -> Transaction:
    """A transaction for the total of the customer's order ``order_id`` with the org's gateway;
    NotFound for another customer's order, ValidationError("order") when it cannot be paid
    (paid, approved, cancelled), ("gateway") when the org takes no online payment."""
    o = orders.get(conn, org_id, order_id)
    if o is None or o.customer_id != customer_id:
        raise NotFound("order", order_id)
    orders.check_payable(o)
    st = ensure_settings(conn, box, org_id, now)
    if st.gateway == "none":
        raise ValidationError("gateway", "online payment is not available; please contact us to pay")
    return create(conn, org_id, customer_id, st.gateway, o.total, o.currency, "order", now, order_id=o.id)


def create_for_voucher(conn: Connection, box: SecretBox, org_id: int, customer_id: int, package_id: int,
                       now: datetime) -> Transaction:
    """A transaction buying one voucher of ``package_id`` (its price) with the org's gateway; NotFound
    for a package the portal does not sell or a closed customer, ValidationError("gateway") when the
    org takes no online payment, ("package_id") for a free package."""
    c = customers.get(conn, org_id, customer_id)
    if c is None or c.status == "closed":
        raise NotFound("customer", customer_id)
    p = voucher_sales.portal_package(conn, org_id, package_id)
    if p.price <= 0:
        raise ValidationError("package_id", "this package is free: ask us for a voucher")
    st = ensure_settings(conn, box, org_id, now)
    if st.gateway == "none":
        raise ValidationError("gateway", "online payment is not available; please contact us to buy a voucher")
    return create(conn, org_id, customer_id, st.gateway, p.price, settings.get(conn, org_id).currency, "voucher",
                  now, package_id=p.id)


def started(conn: Connection, org_id: int, reference: str, provider_ref: str, now: datetime) -> Transaction:
    """The gateway opened the payment: keep its id, log it."""
    conn.execute(gateway_transactions.update().where(gateway_transactions.c.org_id == org_id,
                                                     gateway_transactions.c.reference == reference)
                 .values(provider_ref=provider_ref, updated_at=now))
    tx = get(conn, org_id, reference)
    if tx is None:
        raise NotFound("payment", reference)
    log_event(conn, org_id, tx, tx.gateway, "start", "started", f"provider_ref {provider_ref}", now)
    return tx


def start_failed(conn: Connection, org_id: int, reference: str, error: str, now: datetime) -> Transaction:
    """The gateway could not open the payment: the transaction fails (nothing was taken)."""
    conn.execute(gateway_transactions.update().where(gateway_transactions.c.org_id == org_id,
                                                     gateway_transactions.c.reference == reference,
                                                     gateway_transactions.c.status == PENDING)
                 .values(status=FAILED, error=error[:500], updated_at=now))
    tx = get(conn, org_id, reference)
    if tx is None:
        raise NotFound("payment", reference)
    log_event(conn, org_id, tx, tx.gateway, "start", "error", error, now)
    return tx


def settle(conn: Connection, writer: LoginWriter, org_id: int, reference: str, status: str, amount: int,
           currency: str, provider_ref: str | None, now: datetime, *, source: str = "webhook",
           gateway: str | None = None) -> Settled:
    """Apply what a gateway reports of ``reference`` (see the module docstring); ``gateway``:
    the reporting gateway, which must be the transaction's."""
    if status not in STATUSES:
        raise ValueError(f"unknown gateway status {status!r}")
    tx = _find(conn, org_id, reference)
    name = gateway or (tx.gateway if tx else "?")
    if tx is None:
        log_event(conn, org_id, None, name, source, UNKNOWN, f"{status} for an unknown reference {reference!r}",
                  now, reference=reference)
        return Settled(UNKNOWN, None)
    if gateway is not None and gateway != tx.gateway:
        log_event(conn, org_id, tx, name, source, IGNORED, f"{status} from {gateway}, but the payment is "
                                                         f"{tx.gateway}'s", now)
        return Settled(IGNORED, tx)
    t = gateway_transactions.c
    mine = sa.and_(t.org_id == org_id, t.id == tx.id)
    if status == PENDING:
        conn.execute(gateway_transactions.update().where(mine).values(last_checked_at=now))
        log_event(conn, org_id, tx, name, source, PENDING, f"still pending (ours: {tx.status})", now)
        return Settled(PENDING, get(conn, org_id, reference))
    if status == FAILED:
        ref_kept = {"provider_ref": provider_ref} if provider_ref and not tx.provider_ref else {}
        n = conn.execute(gateway_transactions.update().where(mine, t.status == PENDING).values(
            status=FAILED, error="the gateway reports the payment failed", updated_at=now, last_checked_at=now,
            **ref_kept)).rowcount
        outcome = FAILED if n == 1 else IGNORED
        log_event(conn, org_id, tx, name, source, outcome,
                  "failed" if n == 1 else f"failed, but the payment is already {tx.status}: ignored", now)
        return Settled(outcome, get(conn, org_id, reference))
    # success
    if amount != tx.amount or currency != tx.currency:
        detail = f"success for {amount} {currency}, but the payment is for {tx.amount} {tx.currency}: refused"
        conn.execute(gateway_transactions.update().where(mine).values(error=detail, last_checked_at=now))
        log_event(conn, org_id, tx, name, source, MISMATCH, detail, now)
        log.warn("gateway {gateway} payment {reference} (org {org}): {detail}", gateway=name, reference=reference,
                 org=org_id, detail=detail)
        return Settled(MISMATCH, get(conn, org_id, reference))
    ref_given = {"provider_ref": provider_ref} if provider_ref else {}
    n = conn.execute(gateway_transactions.update().where(mine, t.status.in_((PENDING, FAILED))).values(
        status=SUCCESS, error=None, updated_at=now, last_checked_at=now, **ref_given)).rowcount
    if n != 1:
        log_event(conn, org_id, tx, name, source, DUPLICATE, "success, already credited", now)
        return Settled(DUPLICATE, get(conn, org_id, reference))
    if tx.purpose == "voucher":        # a voucher bought: sold now, the money booked as the sale
        sold = _sell_voucher(conn, writer, org_id, tx, now)
        if sold is not None:
            conn.execute(gateway_transactions.update().where(mine).values(voucher_id=sold))
            log_event(conn, org_id, tx, name, source, CREDITED, f"voucher {sold} sold", now)
            return Settled(CREDITED, get(conn, org_id, reference))
    result = payments.record(conn, writer, org_id, tx.customer_id, tx.amount, now, method=tx.gateway,
                             reference=tx.reference,
                             note=f"{tx.gateway} gateway" + (f", provider ref {provider_ref}" if provider_ref else ""))
    conn.execute(gateway_transactions.update().where(mine).values(payment_id=result.payment.id))
    if tx.order_id is not None:        # an order paid: its services start today (billing.orders)
        orders.paid(conn, writer, org_id, tx.order_id, settings.get(conn, org_id).today(now), now)
    log_event(conn, org_id, tx, name, source, CREDITED,
              f"receipt {result.payment.receipt_number}" + (" (after a failure)" if tx.status == FAILED else "")
              + (f"; resumed services {list(result.resumed_service_ids)}" if result.resumed_service_ids else ""),
              now)
    return Settled(CREDITED, get(conn, org_id, reference), result.resumed_service_ids)


def _sell_voucher(conn: Connection, writer: LoginWriter, org_id: int, tx: Transaction, now: datetime) -> int | None:
    """The voucher sold for the paid ``tx`` (its id), or None when it cannot be sold any more (the package
    withdrawn since the customer chose it): logged, and the caller keeps the money as the customer's
    credit, so nothing paid is lost."""
    try:
        with conn.begin_nested():
            return int(voucher_sales.paid(conn, writer, org_id, tx, now).id)
    except (NotFound, ValidationError) as e:
        log_event(conn, org_id, tx, tx.gateway, "sell", "error", f"no voucher sold ({e}): the payment is kept as "
                                                                   "the customer's credit", now)
        return None


def note_error(conn: Connection, org_id: int, reference: str, gateway: str, source: str, error: str,
               now: datetime) -> None:
    """A gateway call about ``reference`` failed (verify unreachable, ...): logged, still pending."""
    tx = get(conn, org_id, reference)
    if tx is not None:
        conn.execute(gateway_transactions.update().where(gateway_transactions.c.org_id == org_id,
                                                         gateway_transactions.c.id == tx.id)
                     .values(error=error[:500], last_checked_at=now))
    log_event(conn, org_id, tx, gateway, source, "error", error, now, reference=reference)


def pending(conn: Connection, org_id: int, *, after_id: int = 0, limit: int = 100) -> list[Transaction]:
    """The org's pending transactions, oldest first (the re-check job's work)."""
    t = gateway_transactions.c
    rows = conn.execute(sa.select(gateway_transactions).where(t.org_id == org_id, t.status == PENDING,
                                                              t.id > after_id).order_by(t.id).limit(limit))
    return [_tx(r) for r in rows]


def list_for_customer(conn: Connection, org_id: int, customer_id: int, limit: int = 20) -> list[Transaction]:
    """The customer's transactions, newest first."""
    t = gateway_transactions.c
    return [_tx(r) for r in conn.execute(sa.select(gateway_transactions).where(
        t.org_id == org_id, t.customer_id == customer_id).order_by(t.id.desc()).limit(limit))]


# -- the log ----------------------------------------------------------------------------------

def log_event(conn: Connection, org_id: int, tx: Transaction | None, gateway: str, source: str, outcome: str,
              detail: str, now: datetime, *, reference: str | None = None) -> None:
    """One line of ``gateway_events`` (and of the daemon's log)."""
    ref = tx.reference if tx is not None else reference
    conn.execute(gateway_events.insert().values(
        org_id=org_id, transaction_id=tx.id if tx is not None else None, reference=ref, gateway=gateway,
        source=source, outcome=outcome, detail=detail[:2000], created_at=now))
    log.info("gateway {gateway} {source} {reference} (org {org}): {outcome} {detail}", gateway=gateway,
             source=source, reference=ref, org=org_id, outcome=outcome, detail=detail)


def events_of(conn: Connection, org_id: int, reference: str | None = None, limit: int = 200) -> list[Event]:
    """The org's gateway log, oldest first (of one reference if given)."""
    e = gateway_events.c
    q = sa.select(gateway_events).where(e.org_id == org_id)
    if reference is not None:
        q = q.where(e.reference == reference)
    return [Event(r.id, r.org_id, r.transaction_id, r.reference, r.gateway, r.source, r.outcome, r.detail,
                  r.created_at) for r in conn.execute(q.order_by(e.id).limit(limit))]


@dataclass(frozen=True)
class AfterPayment:
    """What the return page tells the customer about a transaction."""
    transaction: Transaction
    receipt_number: str | None          # the billing payment's, once credited
    balance: int                        # what the customer owes now (negative: in credit)
    resumed: int                        # services resumed since the transaction began
    still_suspended: int                # services of the customer suspended now


def after_payment(conn: Connection, org_id: int, tx: Transaction) -> AfterPayment:
    """The customer's standing after ``tx``: its receipt, the balance, services resumed and still suspended."""
    receipt = None
    if tx.payment_id is not None:
        p = payments.get(conn, org_id, tx.payment_id)
        receipt = p.receipt_number if p is not None else None
    resumed = conn.execute(sa.select(sa.func.count()).select_from(suspensions).where(
        suspensions.c.org_id == org_id, suspensions.c.customer_id == tx.customer_id,
        suspensions.c.resumed_at >= tx.created_at, suspensions.c.resumed_by == "payment")).scalar_one()
    suspended = conn.execute(sa.select(sa.func.count()).select_from(services_t).where(
        services_t.c.org_id == org_id, services_t.c.customer_id == tx.customer_id,
        services_t.c.state == "suspended")).scalar_one()
    return AfterPayment(tx, receipt, ledger.balance(conn, org_id, tx.customer_id), int(resumed), int(suspended))


# -- for the admin API ------------------------------------------------------------------------

#: What :func:`page` sorts by (NOT NULL columns; the id breaks ties).
SORTS = {"id": gateway_transactions.c.id, "created_at": gateway_transactions.c.created_at,
         "amount": gateway_transactions.c.amount}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, status: str | None = None,
         reference: str | None = None, sort: str = "-id", cursor: str | None = None,
         limit: int = 50) -> paging.Page[Transaction]:
    """One page of the org's gateway transactions (see :mod:`aaad.paging`), of one customer, in one status."""
    t = gateway_transactions.c
    q = sa.select(gateway_transactions).where(t.org_id == org_id)
    if customer_id is not None:
        q = q.where(t.customer_id == customer_id)
    if status is not None:
        q = q.where(t.status == status)
    if reference is not None:
        q = q.where(t.reference == reference)
    return paging.page(conn, q, sort=sort, columns=SORTS, id_col=t.id, cursor=cursor, limit=limit, row=_tx)


def get_by_id(conn: Connection, org_id: int, transaction_id: int) -> Transaction:
    """The org's transaction ``transaction_id``; NotFound otherwise."""
    r = conn.execute(sa.select(gateway_transactions).where(gateway_transactions.c.org_id == org_id,
                                                           gateway_transactions.c.id == transaction_id)).first()
    if r is None:
        raise NotFound("gateway transaction", transaction_id)
    return _tx(r)


def events_of_transaction(conn: Connection, org_id: int, transaction_id: int) -> list[Event]:
    """The log of one of the org's transactions, oldest first."""
    e = gateway_events.c
    return [Event(r.id, r.org_id, r.transaction_id, r.reference, r.gateway, r.source, r.outcome, r.detail,
                  r.created_at) for r in conn.execute(sa.select(gateway_events).where(
                      e.org_id == org_id, e.transaction_id == transaction_id).order_by(e.id))]
