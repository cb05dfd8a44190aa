"""Services: a customer's instance of a product, and its life.

States: ``pending`` → ``active`` → ``suspended`` → ``cancelled``, and
``pending`` → ``rejected``.  An internet service owns its login (a PPPoE or
hotspot username and secret): created with the service (``disabled`` while
pending), ``active`` when active, ``suspended`` in the org's suspension mode
when suspended, removed when cancelled or rejected (``services.username``
keeps the name).  Every login write goes through the AAA view's one write
path as the login's owner (``Actor.owner("service", id)``), in the
transaction of the service change, with a ``service_log`` row and the
``service.*`` event.  The money side of each step is :mod:`billing.charges`,
called after the service row and its login are written.

State changes are conditional UPDATEs on the state the change started from,
so two writers racing on one service settle by row count: the loser gets
ValidationError("state").  A rejected service publishes ``service.cancelled``
with state ``rejected`` (the glossary has no event of its own for it).
"""
from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import events, paging
from aaad.db import in_list
from aaad.errors import NotFound, ValidationError
from aaad.schema import logins
from aaad.view.write import Actor
from billing import catalogue, charges, customers, settings
from billing.catalogue import Product
from billing.events import (
    ServiceActivated,
    ServiceCancelled,
    ServiceCreated,
    ServicePlanChanged,
    ServiceResumed,
    ServiceSuspended,
)
from billing.schema import customers as customers_t
from billing.schema import products, service_log, services

if TYPE_CHECKING:
    from aaad.view.write import LoginWriter

LIVE = ("active", "suspended")
_IN_MAX = 5000  # ids per IN (...) list in the batch functions


@dataclass(frozen=True)
class Service:
    id: int
    org_id: int
    customer_id: int
    product_id: int
    state: str
    start_date: date | None
    end_date: date | None           # last day of service
    cancel_at: date | None          # cancellation scheduled (at period end)
    billed_through: date | None     # exclusive end of the last period invoiced
    periods_billed: int
    login_id: int | None
    username: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LogEntry:
    id: int
    service_id: int
    customer_id: int
    old_state: str | None
    new_state: str
    what: str
    reason: str
    invoice_id: int | None
    at: datetime


def _row(r: Any) -> Service:
    return Service(r.id, r.org_id, r.customer_id, r.product_id, r.state, r.start_date, r.end_date, r.cancel_at,
                   r.billed_through, r.periods_billed, r.login_id, r.username, r.created_at, r.updated_at)


def owner(service_id: int) -> Actor:
    """The actor a service writes its login as."""
    return Actor.owner("service", service_id)


def new_password(length: int = 10) -> str:
    """A random login secret an operator can read out (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- reads ----------------------------------------------------------------------------

def get(conn: Connection, org_id: int, service_id: int) -> Service | None:
    r = conn.execute(sa.select(services).where(services.c.org_id == org_id, services.c.id == service_id)).first()
    return None if r is None else _row(r)


def _require(conn: Connection, org_id: int, service_id: int) -> Service:
    s = get(conn, org_id, service_id)
    if s is None:
        raise NotFound("service", service_id)
    return s


_OF_CUSTOMER = (sa.select(services).where(services.c.org_id == sa.bindparam("org_id"),
                                          services.c.customer_id == sa.bindparam("customer_id"))
                .order_by(services.c.id))


_OF_CUSTOMER_PRODUCTS = (
    sa.select(services, products.c.name.label("product_name"), products.c.type.label("product_type"))
    .select_from(services.outerjoin(products, sa.and_(products.c.id == services.c.product_id,
                                                      products.c.org_id == services.c.org_id)))
    .where(services.c.org_id == sa.bindparam("org_id"), services.c.customer_id == sa.bindparam("customer_id"))
    .order_by(services.c.id))


def of_customer_with_products(conn: Connection, org_id: int, customer_id: int
                              ) -> list[tuple[Service, str | None, str | None]]:
    """The customer's services by id, each with its product's name and type (None: no such product in
    the org), in one statement."""
    return [(_row(r), r.product_name, r.product_type)
            for r in conn.execute(_OF_CUSTOMER_PRODUCTS, {"org_id": org_id, "customer_id": customer_id})]


def list_services(conn: Connection, org_id: int, customer_id: int | None = None,
                  state: str | None = None) -> list[Service]:
    """The org's services by id, optionally of one customer and/or in one state."""
    if customer_id is not None and state is None:      # the customer's (every portal page): prebuilt
        return [_row(r) for r in conn.execute(_OF_CUSTOMER, {"org_id": org_id, "customer_id": customer_id})]
    q = sa.select(services).where(services.c.org_id == org_id)
    if customer_id is not None:
        q = q.where(services.c.customer_id == customer_id)
    if state is not None:
        q = q.where(services.c.state == state)
    return [_row(r) for r in conn.execute(q.order_by(services.c.id))]


SORTS = {"id": services.c.id, "created_at": services.c.created_at, "updated_at": services.c.updated_at}


def page(conn: Connection, org_id: int, *, customer_id: int | None = None, state: str | None = None,
         product_id: int | None = None, username: str | None = None, sort: str = "id",
         cursor: str | None = None, limit: int = 50) -> paging.Page[Service]:
    """One page of the org's services (see :mod:`aaad.paging`), filtered like
    :func:`list_services`, by product and by login name; ``sort`` is a key of :data:`SORTS`."""
    query = sa.select(services).where(services.c.org_id == org_id)
    if customer_id is not None:
        query = query.where(services.c.customer_id == customer_id)
    if state is not None:
        query = query.where(services.c.state == state)
    if product_id is not None:
        query = query.where(services.c.product_id == product_id)
    if username is not None:
        query = query.where(services.c.username == username)
    return paging.page(conn, query, sort=sort, columns=SORTS, id_col=services.c.id, cursor=cursor,
                       limit=limit, row=_row)


def services_of_login(conn: Connection, org_id: int, login_id: int) -> list[Service]:
    """The services that own (or owned) a login id."""
    return [_row(r) for r in conn.execute(sa.select(services).where(
        services.c.org_id == org_id, services.c.login_id == login_id).order_by(services.c.id))]


def history(conn: Connection, org_id: int, *, service_id: int | None = None,
            customer_id: int | None = None) -> list[LogEntry]:
    """The service log (oldest first) of a service or of all a customer's services."""
    q = sa.select(service_log).where(service_log.c.org_id == org_id)
    if service_id is not None:
        q = q.where(service_log.c.service_id == service_id)
    if customer_id is not None:
        q = q.where(service_log.c.customer_id == customer_id)
    return [LogEntry(r.id, r.service_id, r.customer_id, r.old_state, r.new_state, r.what, r.reason,
                     r.invoice_id, r.at) for r in conn.execute(q.order_by(service_log.c.id))]


# -- helpers --------------------------------------------------------------------------

def _product(conn: Connection, org_id: int, product_id: int) -> Product:
    p = catalogue.get_product(conn, org_id, product_id)
    if p is None:
        raise NotFound("product", product_id)
    return p


def _log(conn: Connection, svc: Service, old: str | None, what: str, now: datetime, reason: str = "",
         invoice_id: int | None = None) -> None:
    conn.execute(service_log.insert().values(
        org_id=svc.org_id, service_id=svc.id, customer_id=svc.customer_id, old_state=old, new_state=svc.state,
        what=what, reason=reason, invoice_id=invoice_id, at=now))


def _transition(conn: Connection, svc: Service, new_state: str, now: datetime, **values: Any) -> Service:
    """Move ``svc`` from its state to ``new_state`` (conditional on the state it was read in)."""
    n = conn.execute(services.update().where(
        services.c.org_id == svc.org_id, services.c.id == svc.id, services.c.state == svc.state)
        .values(state=new_state, updated_at=now, **values)).rowcount
    if not n:
        raise ValidationError("state", f"service {svc.id} changed meanwhile (it is no longer {svc.state})")
    return _require(conn, svc.org_id, svc.id)


def _illegal(svc: Service, action: str) -> ValidationError:
    return ValidationError("state", f"cannot {action} service {svc.id}: it is {svc.state}")


def _sync_customer(conn: Connection, org_id: int, customer_id: int, now: datetime) -> None:
    """A customer whose live services are all suspended is suspended; one with an active
    service is active (a closed customer stays closed)."""
    live = [s.state for s in list_services(conn, org_id, customer_id=customer_id) if s.state in LIVE]
    c = customers.get(conn, org_id, customer_id)
    if c is None or c.status == "closed":
        return
    if live and all(s == "suspended" for s in live):
        customers.set_status(conn, org_id, customer_id, "suspended", now)
    elif "active" in live and c.status in ("suspended", "pending"):
        customers.set_status(conn, org_id, customer_id, "active", now)


def _payload(svc: Service, reason: str = "") -> dict[str, Any]:
    return {"service_id": svc.id, "customer_id": svc.customer_id, "product_id": svc.product_id,
            "state": svc.state, "reason": reason}


def _free_login_name(conn: Connection, org_id: int, base: str) -> str:
    name, n = base, 1
    while conn.execute(sa.select(logins.c.id).where(logins.c.org_id == org_id,
                                                    logins.c.username == name)).first() is not None:
        n += 1
        name = f"{base}-{n}"
    return name


# -- the life of a service ------------------------------------------------------------

#: Dates a service may start, change or end on: billing's period arithmetic runs months past them.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _check_day(field: str, d: date | None) -> None:
    if d is not None and not EARLIEST_DAY <= d <= LATEST_DAY:
        raise ValidationError(field, f"a date between {EARLIEST_DAY} and {LATEST_DAY}")


def add(conn: Connection, writer: LoginWriter, org_id: int, customer_id: int, product_id: int, now: datetime, *,
        start: date | None = None, username: str | None = None, password: str | None = None) -> Service:
    """Add a service of ``product_id`` for the customer: pending (``start`` None), or
    active from ``start`` at once.  An internet service gets its login (``username``,
    default the customer's username; ``password``, default random)."""
    _check_day("start", start)
    cust = customers.get(conn, org_id, customer_id)
    if cust is None:
        raise NotFound("customer", customer_id)
    if cust.status == "closed":
        raise ValidationError("customer", f"customer {cust.username} is closed")
    prod = _product(conn, org_id, product_id)
    if not prod.active:
        raise ValidationError("product", f"{prod.name} is no longer sold")
    if prod.type != "internet" and (username is not None or password is not None):
        raise ValidationError("username", "only internet services have a login")
    key = conn.execute(services.insert().values(org_id=org_id, customer_id=customer_id, product_id=product_id,
                                                state="pending", created_at=now, updated_at=now)
                       ).inserted_primary_key
    assert key is not None
    sid: int = key[0]
    if prod.type == "internet":
        name = username if username is not None else _free_login_name(conn, org_id, cust.username)
        lg = writer.create(conn, org_id, name, password if password is not None else new_password(), now,
                           actor=owner(sid), profile_id=prod.profile_id, data_cap=prod.data_cap, state="disabled")
        conn.execute(services.update().where(services.c.org_id == org_id, services.c.id == sid)
                     .values(login_id=lg.id, username=lg.username))
    svc = _require(conn, org_id, sid)
    _log(conn, svc, None, "created", now)
    events.publish(conn, org_id, ServiceCreated(**_payload(svc)), now)
    if start is not None:
        svc = approve(conn, writer, org_id, sid, start, now)
    return svc


def approve(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, start: date,
            now: datetime) -> Service:
    """Pending → active from ``start`` (login active; first invoice).  An active service
    given a later ``start`` (it was paid upfront and started later) moves its start
    date; the unused days are credited (:func:`billing.charges.on_start_moved`)."""
    _check_day("start", start if isinstance(start, date) else None)
    svc = _require(conn, org_id, service_id)
    if not isinstance(start, date) or isinstance(start, datetime):
        raise ValidationError("start", "a date")
    if svc.state == "pending":
        svc = _transition(conn, svc, "active", now, start_date=start)
        if svc.login_id is not None:
            writer.set_state(conn, org_id, svc.login_id, "active", now, actor=owner(svc.id),
                             reason="service activated")
        _log(conn, svc, "pending", "approved", now, f"active from {start.isoformat()}")
        events.publish(conn, org_id, ServiceActivated(**_payload(svc)), now)
        _sync_customer(conn, org_id, svc.customer_id, now)
        charges.on_activate(conn, org_id, svc, now)
        return _require(conn, org_id, service_id)
    if svc.state == "active" and svc.start_date is not None:
        if start == svc.start_date:
            return svc
        if start < svc.start_date:
            raise ValidationError("start", f"service {svc.id} is active since {svc.start_date.isoformat()}: "
                                           "its start can only move later")
        old = svc.start_date
        n = conn.execute(services.update().where(
            services.c.org_id == org_id, services.c.id == svc.id, services.c.state == "active",
            services.c.start_date == old).values(start_date=start, updated_at=now)).rowcount
        if not n:
            raise ValidationError("state", f"service {svc.id} changed meanwhile")
        svc = _require(conn, org_id, service_id)
        why = f"start moved from {old.isoformat()} to {start.isoformat()}"
        _log(conn, svc, "active", "start_moved", now, why)
        events.publish(conn, org_id, ServiceActivated(**_payload(svc, why)), now)
        charges.on_start_moved(conn, org_id, svc, old, now)
        return _require(conn, org_id, service_id)
    raise _illegal(svc, "approve")


def reject(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, now: datetime, *,
           reason: str = "") -> Service:
    """Pending → rejected; its login removed."""
    svc = _require(conn, org_id, service_id)
    if svc.state != "pending":
        raise _illegal(svc, "reject")
    svc = _transition(conn, svc, "rejected", now)
    if svc.login_id is not None:
        writer.remove(conn, org_id, svc.login_id, now, actor=owner(svc.id))
    _log(conn, svc, "pending", "rejected", now, reason)
    events.publish(conn, org_id, ServiceCancelled(**_payload(svc, reason)), now)
    return svc


def suspend(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, now: datetime, *,
            reason: str, invoice_id: int | None = None) -> Service:
    """Active → suspended: the login suspended in the org's suspension mode with the
    reason; the customer suspended if all their live services are."""
    svc = _require(conn, org_id, service_id)
    if svc.state != "active":
        raise _illegal(svc, "suspend")
    svc = _transition(conn, svc, "suspended", now)
    if svc.login_id is not None:
        mode = settings.get(conn, org_id).suspend_mode
        writer.set_state(conn, org_id, svc.login_id, "suspended", now, actor=owner(svc.id),
                         suspend_mode=mode, reason=reason)
    _log(conn, svc, "active", "suspended", now, reason, invoice_id)
    events.publish(conn, org_id, ServiceSuspended(**_payload(svc, reason), invoice_id=invoice_id), now)
    _sync_customer(conn, org_id, svc.customer_id, now)
    return svc


def suspend_many(conn: Connection, writer: LoginWriter, org_id: int, items: list[tuple[int, str, int | None]],
                 now: datetime) -> list[Service]:
    """:func:`suspend` for many services at once (a dunning chunk): ``items`` are
    ``(service id, reason, invoice id)``.  The same outcome as suspending each in turn
    (rows, change feed, each service's events in the same order, customers' statuses;
    the same errors: every service must be active), in a few statements per chunk:
    grouped conditional UPDATEs, :meth:`LoginWriter.set_state_many`, one ``service_log``
    INSERT, one events INSERT, and the customers' statuses synced set-wise."""
    if not items:
        return []
    ids = [sid for sid, _, _ in items]
    found = {s.id: s for s in _services_in(conn, org_id, ids)}
    seen: set[int] = set()
    for sid in ids:
        svc = found.get(sid)
        if svc is None:
            raise NotFound("service", sid)
        if svc.state != "active" or sid in seen:
            raise _illegal(svc if sid not in seen else dataclasses.replace(svc, state="suspended"), "suspend")
        seen.add(sid)
    for i in range(0, len(ids), _IN_MAX):
        part = ids[i:i + _IN_MAX]
        n = conn.execute(services.update().where(
            services.c.org_id == org_id, in_list(services.c.id), services.c.state == "active")
            .values(state="suspended", updated_at=now), {"ids": part}).rowcount
        if n != len(part):
            raise ValidationError("state", f"{len(part) - n} of services {part} changed meanwhile "
                                           "(no longer active)")
    after = {s.id: s for s in _services_in(conn, org_id, ids)}
    done = [after[sid] for sid in ids]
    with_login = [(svc.login_id, svc.id, reason) for svc, (_, reason, _) in zip(done, items, strict=True)
                  if svc.login_id is not None]
    if with_login:
        mode = settings.get(conn, org_id).suspend_mode
        writer.set_state_many(conn, org_id, [(lid, owner(sid)) for lid, sid, _ in with_login], "suspended", now,
                              suspend_mode=mode, reasons={lid: reason for lid, _, reason in with_login})
    conn.execute(service_log.insert(), [
        {"org_id": org_id, "service_id": svc.id, "customer_id": svc.customer_id, "old_state": "active",
         "new_state": svc.state, "what": "suspended", "reason": reason, "invoice_id": invoice_id, "at": now}
        for svc, (_, reason, invoice_id) in zip(done, items, strict=True)])
    events.publish_many(conn, org_id, [ServiceSuspended(**_payload(svc, reason), invoice_id=invoice_id)
                                       for svc, (_, reason, invoice_id) in zip(done, items, strict=True)], now)
    _sync_customers(conn, org_id, list(dict.fromkeys(svc.customer_id for svc in done)), now)
    return done


def _services_in(conn: Connection, org_id: int, ids: list[int]) -> list[Service]:
    out: list[Service] = []
    for i in range(0, len(ids), _IN_MAX):
        # org_id + 0: by the ids, not the org's whole (org_id, state) index (SQLite, no statistics)
        out += [_row(r) for r in conn.execute(sa.select(services).where(
            services.c.org_id + 0 == org_id, in_list(services.c.id)), {"ids": ids[i:i + _IN_MAX]})]
    return out


def _sync_customers(conn: Connection, org_id: int, customer_ids: list[int], now: datetime) -> None:
    """:func:`_sync_customer` for many customers after their services changed: one read
    of their live services' states, one UPDATE per status they move to (the UPDATE's
    conditions are the rule's conditions on the customer's status)."""
    live: dict[int, set[str]] = {}
    for i in range(0, len(customer_ids), _IN_MAX):
        for cid, state in conn.execute(sa.select(services.c.customer_id, services.c.state).where(
                services.c.org_id + 0 == org_id, in_list(services.c.customer_id), services.c.state.in_(LIVE)),
                {"ids": customer_ids[i:i + _IN_MAX]}):
            live.setdefault(cid, set()).add(state)
    to_suspend = [cid for cid in customer_ids if live.get(cid) == {"suspended"}]
    to_activate = [cid for cid in customer_ids if "active" in live.get(cid, ())]
    for target, cids, when in (("suspended", to_suspend, customers_t.c.status.not_in(("suspended", "closed"))),
                               ("active", to_activate, customers_t.c.status.in_(("suspended", "pending")))):
        for i in range(0, len(cids), _IN_MAX):
            conn.execute(customers_t.update().where(customers_t.c.org_id + 0 == org_id, in_list(customers_t.c.id), when)
                         .values(status=target, updated_at=now), {"ids": cids[i:i + _IN_MAX]})


def resume(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, now: datetime, *,
           reason: str) -> Service:
    """Suspended → active: the login active again; the customer back to active."""
    svc = _require(conn, org_id, service_id)
    if svc.state != "suspended":
        raise _illegal(svc, "resume")
    svc = _transition(conn, svc, "active", now)
    if svc.login_id is not None:
        writer.set_state(conn, org_id, svc.login_id, "active", now, actor=owner(svc.id), reason=reason)
    _log(conn, svc, "suspended", "resumed", now, reason)
    events.publish(conn, org_id, ServiceResumed(**_payload(svc, reason)), now)
    _sync_customer(conn, org_id, svc.customer_id, now)
    return svc


def _plan_change(conn: Connection, org_id: int, service_id: int, product_id: int, now: datetime,
                 on: date | None) -> tuple[Service, Product, Product, date]:
    """The checks of a plan change: the service, its product, the new one and the day it takes effect."""
    _check_day("on", on)
    svc = _require(conn, org_id, service_id)
    if svc.state not in ("pending", "active", "suspended"):
        raise _illegal(svc, "change the plan of")
    old = _product(conn, org_id, svc.product_id)
    new = _product(conn, org_id, product_id)
    if new.id == old.id:
        raise ValidationError("product", f"service {svc.id} is already on {new.name}")
    if new.type != old.type:
        raise ValidationError("product", f"{new.name} is a {new.type} product; service {svc.id} is {old.type}")
    if not new.active:
        raise ValidationError("product", f"{new.name} is no longer sold")
    when = on if on is not None else settings.get(conn, org_id).today(now)
    if svc.start_date is not None and when < svc.start_date:
        raise ValidationError("on", f"before the service's start ({svc.start_date.isoformat()})")
    return svc, old, new, when


def quote_change(conn: Connection, org_id: int, service_id: int, product_id: int, now: datetime, *,
                 on: date | None = None) -> charges.PlanChangeQuote:
    """What :func:`change_plan` with the same arguments would book (the credit for the old plan's unused
    days, the new plan's charge), without changing anything; the same checks, the same errors."""
    svc, old, new, when = _plan_change(conn, org_id, service_id, product_id, now, on)
    row = charges.service_row(conn, org_id, svc.id)
    if svc.state not in LIVE:
        st = settings.get(conn, org_id)
        return charges.PlanChangeQuote(svc.id, old.id, new.id, old.name, new.name, when, st.today(now), st.currency)
    return charges.quote_plan_change(conn, org_id, row, old.id, new.id, when, now)


def change_plan(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, product_id: int,
                now: datetime, *, on: date | None = None) -> Service:
    """Move the service to another product of the same type from ``on`` (default: the
    org's today): the login's profile and data cap follow; a live service's money is
    prorated (:func:`billing.charges.on_plan_change`, as :func:`quote_change` quotes it)."""
    svc, old, new, when = _plan_change(conn, org_id, service_id, product_id, now, on)
    n = conn.execute(services.update().where(
        services.c.org_id == org_id, services.c.id == svc.id, services.c.state == svc.state,
        services.c.product_id == old.id).values(product_id=new.id, updated_at=now)).rowcount
    if not n:
        raise ValidationError("state", f"service {svc.id} changed meanwhile")
    if svc.login_id is not None:
        writer.set_profile(conn, org_id, svc.login_id, now, actor=owner(svc.id), profile_id=new.profile_id,
                           data_cap=new.data_cap)
    svc = _require(conn, org_id, service_id)
    why = f"{old.name} -> {new.name} from {when.isoformat()}"
    _log(conn, svc, svc.state, "plan_changed", now, why)
    events.publish(conn, org_id, ServicePlanChanged(**_payload(svc, why), old_product_id=old.id), now)
    if svc.state in LIVE:
        charges.on_plan_change(conn, org_id, svc, old.id, when, now)
    return _require(conn, org_id, service_id)


def cancel(conn: Connection, writer: LoginWriter, org_id: int, service_id: int, now: datetime, *,
           at_period_end: bool = False, on: date | None = None, reason: str = "") -> Service:
    """Cancel an active or suspended service: at once, ending on ``on`` (exclusive;
    default the org's today): login removed, the billed days after it credited
    (:func:`billing.charges.on_cancel`); or ``at_period_end``: scheduled for the end
    of what is billed (``cancel_at``), completed by the billing run
    (:func:`complete_due_cancellations`)."""
    _check_day("on", on)
    svc = _require(conn, org_id, service_id)
    if svc.state not in LIVE:
        raise _illegal(svc, "cancel")
    today = settings.get(conn, org_id).today(now)
    if at_period_end:
        if on is not None:
            raise ValidationError("on", "a cancellation at period end takes no date")
        at = svc.billed_through or today
        n = conn.execute(services.update().where(
            services.c.org_id == org_id, services.c.id == svc.id, services.c.state == svc.state)
            .values(cancel_at=at, updated_at=now)).rowcount
        if not n:
            raise ValidationError("state", f"service {svc.id} changed meanwhile")
        svc = _require(conn, org_id, service_id)
        _log(conn, svc, svc.state, "cancel_scheduled", now, reason or f"cancels on {at.isoformat()}")
        return svc
    when = on if on is not None else today
    if svc.start_date is not None and when < svc.start_date:
        raise ValidationError("on", f"before the service's start ({svc.start_date.isoformat()})")
    old_state = svc.state
    svc = _transition(conn, svc, "cancelled", now, end_date=when - timedelta(days=1), cancel_at=None)
    if svc.login_id is not None:
        writer.remove(conn, org_id, svc.login_id, now, actor=owner(svc.id))
    why = reason or f"ends on {when.isoformat()}"
    _log(conn, svc, old_state, "cancelled", now, why)
    events.publish(conn, org_id, ServiceCancelled(**_payload(svc, why)), now)
    _sync_customer(conn, org_id, svc.customer_id, now)
    charges.on_cancel(conn, org_id, svc, when, now)
    return _require(conn, org_id, service_id)


def complete_due_cancellations(conn: Connection, writer: LoginWriter, org_id: int, today: date,
                               now: datetime) -> int:
    """Cancel the live services whose scheduled cancellation (``cancel_at``) is due on or
    before ``today``, each ending on its ``cancel_at``.  Returns how many."""
    due = conn.execute(sa.select(services.c.id, services.c.cancel_at).where(
        services.c.org_id == org_id, services.c.state.in_(LIVE), services.c.cancel_at.is_not(None),
        services.c.cancel_at <= today).order_by(services.c.id)).all()
    for r in due:
        cancel(conn, writer, org_id, r.id, now, on=r.cancel_at, reason="cancelled at period end")
    return len(due)
