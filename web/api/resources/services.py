"""/services: customers' services and their life (approve, suspend, resume, change plan, cancel, reject).

A service owns its login (internet products): every action changes the
login through the AAA view's one write path in the same transaction, and the
router follows.  Each action is one call of :mod:`billing.services`.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from aaad.view import store
from billing import services
from web.api.declare import Call, Day, Id, In, ListQuery, Out, Page, Router

router = Router("services", "Customers' services: subscribe, approve, suspend, resume, change plan, cancel")

#: A calendar date a request may name: wide enough for any backdating or scheduling, narrow enough that
#: billing's period arithmetic never leaves the calendar (a start in 9999 would).

State = Literal["pending", "active", "suspended", "cancelled", "rejected"]
ServiceSort = Literal["id", "-id", "created_at", "-created_at", "updated_at", "-updated_at"]


class ServiceOut(Out):
    id: int
    customer_id: int
    product_id: int
    state: State
    start_date: date | None = Field(description="The actual start (set at approval).")
    end_date: date | None = Field(description="The last day of service (cancelled services).")
    cancel_at: date | None = Field(description="A cancellation scheduled at the end of what is billed.")
    billed_through: date | None = Field(description="Exclusive end of the last period invoiced.")
    periods_billed: int
    login_id: int | None = Field(description="The login it owns (internet services; null once removed at "
                                             "cancellation or rejection).")
    username: str | None = Field(description="Its PPPoE/hotspot name, kept after the login is removed.")
    created_at: datetime
    updated_at: datetime


class ServiceCreated(ServiceOut):
    password: str | None = Field(description="The login's generated password: shown only in this response "
                                             "(null when the request chose it, or without a login).")


class ServiceQuery(ListQuery):
    customer_id: Id | None = None
    product_id: Id | None = None
    state: State | None = None
    username: str | None = Field(None, max_length=253, description="The login name.")
    sort: ServiceSort = "id"


class ServiceIn(In):
    customer_id: Id
    product_id: Id
    start: Day | None = Field(None, description="Active from this date at once; without it the service is "
                                                 "pending until approved.")
    username: str | None = Field(None, min_length=1, max_length=253,
                                 description="The login's name (default: the customer's username).")
    password: str | None = Field(None, min_length=1, max_length=128,
                                 description="The login's secret (default: generated, shown once).")


class ServiceApproveIn(In):
    start: Day = Field(description="The actual start.  For an active service, a later start moves it and "
                                    "credits the unused days.")


class ServiceRejectIn(In):
    reason: str = Field("", max_length=500)


class ServiceSuspendIn(In):
    reason: str = Field(min_length=1, max_length=500, description="Recorded, and given to the customer "
                                                                  "(Reply-Message in reject mode).")


class ServiceResumeIn(In):
    reason: str = Field("", max_length=500)


class ServiceChangePlanIn(In):
    product_id: Id = Field(description="The new product, of the same type.")
    on: Day | None = Field(None, description="From this date (default: the org's today); the money is "
                                              "prorated from it.")


class ServiceCancelIn(In):
    at_period_end: bool = Field(False, description="Cancel at the end of what is billed instead of at once.")
    on: Day | None = Field(None, description="The first day without service (default: the org's today); "
                                              "the billed days from it are credited.  Not with at_period_end.")
    reason: str = Field("", max_length=500)


class ServicePath(In):
    service_id: Id


class ServiceLogOut(Out):
    id: int
    service_id: int
    customer_id: int
    old_state: str | None
    new_state: str
    what: str = Field(description="created, approved, start_moved, suspended, resumed, plan_changed, "
                                  "cancel_scheduled, cancelled, rejected.")
    reason: str
    invoice_id: int | None = Field(description="The invoice behind a dunning suspension.")
    at: datetime


def out(s: services.Service) -> ServiceOut:
    return ServiceOut.model_validate(s)


def _fields(fn: Callable[..., services.Service], **names: str) -> Callable[..., services.Service]:
    """``fn`` with the domain's names for things the body refers to (``customer``, ``product``) given as
    the body's fields (``customer_id``, ``product_id``): a reference to nothing is a bad field, 422."""
    def run(conn: Connection, *args: Any, **kwargs: Any) -> services.Service:
        try:
            return fn(conn, *args, **kwargs)
        except NotFound as e:
            if e.what in names:
                raise ValidationError(names[e.what], f"no {e.what} {e.key} in this org") from None
            raise
        except ValidationError as e:
            if e.field in names:
                raise ValidationError(names[e.field], e.message) from None
            raise
    run.__name__ = fn.__name__
    return run


@router.get("/services", summary="List services")
async def list_services(call: Call, query: ServiceQuery) -> Page[ServiceOut]:
    """The org's services, filtered by customer, product, state and login name."""
    p = await call.read(services.page, call.org_id, customer_id=query.customer_id, state=query.state,
                        product_id=query.product_id, username=query.username, sort=query.sort,
                        cursor=query.cursor, limit=query.limit)
    return Page[ServiceOut](items=[out(s) for s in p.items], next_cursor=p.next_cursor)


@router.get("/services/{service_id}", summary="A service")
async def get_service(call: Call, path: ServicePath) -> ServiceOut:
    s = await call.read(services.get, call.org_id, path.service_id)
    if s is None:
        raise NotFound("service", path.service_id)
    return out(s)


@router.get("/services/{service_id}/history", summary="A service's history")
async def list_service_history(call: Call, path: ServicePath) -> Page[ServiceLogOut]:
    """Every change of the service, oldest first (the whole history on one page)."""
    def run(conn: Connection) -> list[services.LogEntry]:
        if services.get(conn, call.org_id, path.service_id) is None:
            raise NotFound("service", path.service_id)
        return services.history(conn, call.org_id, service_id=path.service_id)
    found = await call.read(run)
    return Page[ServiceLogOut](items=[ServiceLogOut.model_validate(e) for e in found], next_cursor=None)


@router.post("/services", summary="Subscribe a customer to a product")
async def create_service(call: Call, body: ServiceIn) -> ServiceCreated:
    """A new service of the product for the customer: pending until approved, or active from ``start`` at
    once (first invoice issued).  An internet service gets its login (disabled while pending)."""
    writer, box = call.deps.login_writer, call.deps.box
    add = _fields(services.add, customer="customer_id", product="product_id")

    def subscribe(conn: Connection) -> ServiceCreated:
        s = add(conn, writer, call.org_id, body.customer_id, body.product_id, call.now, start=body.start,
                username=body.username, password=body.password)
        password = None
        if s.login_id is not None and body.password is None:
            lg = store.get_login(conn, box, call.org_id, s.login_id)
            password = lg.password.decode() if lg is not None else None
        return ServiceCreated.model_validate({**out(s).model_dump(), "password": password})
    return await call.write(subscribe, target="service")


@router.post("/services/{service_id}/approve", summary="Approve a service", status=200)
async def approve_service(call: Call, path: ServicePath, body: ServiceApproveIn) -> ServiceOut:
    """Pending -> active from the actual start date: its login active, the first invoice issued.  For an
    active service, a later start moves it and credits the unused days."""
    s = await call.write(services.approve, call.deps.login_writer, call.org_id, path.service_id, body.start,
                         call.now, target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)


@router.post("/services/{service_id}/reject", summary="Reject a pending service", status=200)
async def reject_service(call: Call, path: ServicePath, body: ServiceRejectIn) -> ServiceOut:
    """Pending -> rejected; its login removed."""
    s = await call.write(services.reject, call.deps.login_writer, call.org_id, path.service_id, call.now,
                         reason=body.reason, target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)


@router.post("/services/{service_id}/suspend", summary="Suspend a service", status=200)
async def suspend_service(call: Call, path: ServicePath, body: ServiceSuspendIn) -> ServiceOut:
    """Active -> suspended: its login suspended in the org's suspension mode with the reason (the router
    follows); the customer suspended when all their live services are."""
    s = await call.write(services.suspend, call.deps.login_writer, call.org_id, path.service_id, call.now,
                         reason=body.reason, target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)


@router.post("/services/{service_id}/resume", summary="Resume a service", status=200)
async def resume_service(call: Call, path: ServicePath, body: ServiceResumeIn) -> ServiceOut:
    """Suspended -> active: its login active again; the customer back to active."""
    s = await call.write(services.resume, call.deps.login_writer, call.org_id, path.service_id, call.now,
                         reason=body.reason or "resumed by an operator", target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)


@router.post("/services/{service_id}/change-plan", summary="Change a service's plan", status=200)
async def change_service_plan(call: Call, path: ServicePath, body: ServiceChangePlanIn) -> ServiceOut:
    """Move the service to another product of the same type from ``on``: its login's profile and data cap
    follow at once; a live service's money is prorated (credit note and invoice)."""
    change = _fields(services.change_plan, product="product_id")
    s = await call.write(change, call.deps.login_writer, call.org_id, path.service_id, body.product_id,
                         call.now, on=body.on, target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)


@router.post("/services/{service_id}/cancel", summary="Cancel a service", status=200)
async def cancel_service(call: Call, path: ServicePath, body: ServiceCancelIn) -> ServiceOut:
    """Cancel an active or suspended service at once (ending the day before ``on``: its login removed, the
    billed days after it credited), or with ``at_period_end`` at the end of what is billed (``cancel_at``;
    the billing run completes it)."""
    s = await call.write(services.cancel, call.deps.login_writer, call.org_id, path.service_id, call.now,
                         at_period_end=body.at_period_end, on=body.on, reason=body.reason,
                         target=f"service {path.service_id}",
                         before=lambda conn: services.get(conn, call.org_id, path.service_id))
    return out(s)
