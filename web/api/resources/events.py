"""/events: the org's event outbox (login.*, service.*, payment.received, ...) and dead deliveries.

Each subscriber (enforcement, notifications...) gets every event of its
types; one that keeps failing is parked as dead for that subscriber after
its retries.  A dead delivery is re-queued with ``POST /events/{event_id}/retry``
(as ``aaad events retry``); the leader's dispatcher delivers it at its next pass.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import Field

from aaad import events
from aaad.errors import NotFound
from web.api.coretypes import Text, UtcTime
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router

router = Router("events", "Events: what changed, and deliveries that failed")



class EventOut(Out):
    id: int
    type: str = Field(description="noun.past_tense, e.g. login.state_changed.")
    payload: dict[str, Any] = Field(description="The event's fields (declared by the package whose change it is).")
    created_at: UtcTime | None


class EventQuery(ListQuery):
    type: Text | None = Field(None, max_length=64, description="Only events of this type.")
    since: UtcTime | None = Field(None, description="Events at or after this time.")
    until: UtcTime | None = Field(None, description="Events before this time.")
    sort: Literal["-id", "id"] = Field("-id", description="-id: newest first.")


class EventPath(In):
    event_id: Id


class DeadDeliveryOut(Out):
    id: int = Field(description="The delivery's id.")
    event_id: int
    type: str | None = Field(description="The event's type.")
    subscriber: str = Field(description="Who failed to take the event.")
    state: Literal["failing", "dead", "retry"]
    attempts: int
    last_error: str | None
    next_attempt_at: UtcTime | None
    updated_at: UtcTime


class DeadDeliveryQuery(ListQuery):
    subscriber: Text | None = Field(None, max_length=100)
    event_id: Id | None = None
    sort: Literal["-id", "id", "-event_id", "event_id", "-updated_at", "updated_at"] = "-id"


class EventRetryIn(In):
    subscriber: Text | None = Field(None, min_length=1, max_length=100,
                                    description="Only for this subscriber (default: every one it died for).")


class EventRetryOut(Out):
    event_id: int
    subscribers: list[str] = Field(description="Those the event is re-queued for.")


def out(e: events.Event) -> EventOut:
    payload = e.payload
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        payload = dataclasses.asdict(payload)
    return EventOut(id=e.id, type=e.type, payload=payload if isinstance(payload, dict) else {"value": payload},
                    created_at=e.created_at)


@router.get("/events", summary="List events")
async def list_events(call: Call, query: EventQuery) -> Page[EventOut]:
    """The org's events, newest first, of one type and in a time range. Delivered events are pruned
    after a while."""
    p = await call.read(events.page, call.org_id, types=[query.type] if query.type else None, since=query.since,
                        until=query.until, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[EventOut](items=[out(e) for e in p.items], next_cursor=p.next_cursor)


@router.get("/events/dead", summary="List dead deliveries")
async def list_dead_events(call: Call, query: DeadDeliveryQuery) -> Page[DeadDeliveryOut]:
    """Deliveries of the org's events that failed for good, newest first: each names the event, the
    subscriber and its last error."""
    p = await call.read(events.page_failures, call.org_id, state="dead", subscriber=query.subscriber,
                        event_id=query.event_id, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[DeadDeliveryOut](items=[DeadDeliveryOut.model_validate(f) for f in p.items], next_cursor=p.next_cursor)


@router.get("/events/{event_id}", summary="An event")
async def get_event(call: Call, path: EventPath) -> EventOut:
    e = await call.read(events.get, call.org_id, path.event_id)
    if e is None:
        raise NotFound("event", path.event_id)
    return out(e)


@router.post("/events/{event_id}/retry", summary="Retry a dead event", status=200)
async def retry_event(call: Call, path: EventPath, body: EventRetryIn) -> EventRetryOut:
    """Re-queue the event for every subscriber it is dead for (or one): delivered once more at the
    dispatcher's next pass. 422 naming ``event_id`` (or ``subscriber``) when it is not dead."""
    names = await call.write(events.retry_dead_in_org, call.org_id, path.event_id, call.now,
                             subscriber=body.subscriber, target=f"event {path.event_id}")
    return EventRetryOut(event_id=path.event_id, subscribers=names)
