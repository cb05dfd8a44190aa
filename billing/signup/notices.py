"""The messages registrations decide: to the applicant (received, rejected, more information needed,
approved) and to the org's admins (a new registration).  The ``registration.*`` handlers run as part of
the notify subscriber (:class:`billing.notify.subscribers.Subscribers` lists them), writing outbox rows
in its transaction, keyed by the event so a redelivery writes nothing new.  The "more information"
link is not in any event (it is a secret): :func:`send_info_link` queues it when the admin asks.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.events import Event
from billing import catalogue, services
from billing.documents import format_day
from billing.events import RegistrationApproved, RegistrationCreated, RegistrationRejected
from billing.notify import outbox
from billing.notify.channels import EMAIL, SMS, WHATSAPP
from billing.signup import registrations
from billing.signup.registrations import Registration

Handler = Callable[[Connection, Event], None]


def applicant(reg: Registration) -> dict[str, str]:
    """The ``applicant`` variable."""
    words = reg.name.split()
    return {"name": reg.name, "first_name": words[0] if words else reg.name, "email": reg.email or "",
            "phone": reg.phone or ""}


def recipients(reg: Registration) -> dict[str, str]:
    """Where an applicant's messages go: the e-mail and number the registration gave."""
    out = {}
    if reg.email:
        out[EMAIL] = reg.email
    if reg.phone:
        out[SMS] = out[WHATSAPP] = reg.phone
    return out


def send_info_link(conn: Connection, box: SecretBox, reg: Registration, link: str, days: int,
                   now: datetime) -> list[int]:
    """Queue the "more information" message with its link (kept encrypted until sent)."""
    return outbox.queue(conn, box, reg.org_id, [outbox.Draft(
        "registration.info_needed", f"reginfo:{reg.id}:{int(now.timestamp())}", None,
        {"applicant": applicant(reg), "question": reg.question, "days": days}, {"link": link},
        to=recipients(reg))], now)


class RegistrationNotices:
    """The notify subscriber's registration handlers."""

    def __init__(self, box: SecretBox, base_url: Callable[[], str] = lambda: ""):
        self.box = box
        self.base_url = base_url

    def handlers(self) -> list[tuple[str, Handler]]:
        return [("registration.created", self.on_created), ("registration.approved", self.on_approved),
                ("registration.rejected", self.on_rejected)]

    def _queue(self, conn: Connection, ev: Event, drafts: list[outbox.Draft]) -> None:
        assert ev.created_at is not None
        outbox.queue(conn, self.box, ev.org_id, drafts, ev.created_at.astimezone(UTC),
                     facts=outbox.org_facts(conn, ev.org_id, self.base_url()))

    def on_created(self, conn: Connection, ev: Event) -> None:
        p: RegistrationCreated = ev.payload
        reg = registrations.get(conn, ev.org_id, p.registration_id)
        if reg is None:
            return
        drafts = [outbox.Draft("admin.registration_new", f"ev:{ev.id}", None, {"registration": {
            "id": reg.id, "name": reg.name, "email": reg.email or "", "phone": reg.phone or "",
            "resubmitted": p.resubmitted}}, event_id=ev.id)]
        if reg.customer_id is None and not p.resubmitted:
            drafts.append(outbox.Draft("registration.received", f"ev:{ev.id}:a", None,
                                       {"applicant": applicant(reg)}, event_id=ev.id, to=recipients(reg)))
        self._queue(conn, ev, drafts)

    def on_approved(self, conn: Connection, ev: Event) -> None:
        p: RegistrationApproved = ev.payload
        service = {"product": "", "username": "", "start_date": ""}
        svc = services.get(conn, ev.org_id, p.service_id) if p.service_id is not None else None
        if svc is not None:
            prod = catalogue.get_product(conn, ev.org_id, svc.product_id)
            f = outbox.org_facts(conn, ev.org_id, self.base_url())
            service = {"product": prod.name if prod else "", "username": svc.username or "",
                       "start_date": format_day(svc.start_date, f.locale) if svc.start_date else ""}
        self._queue(conn, ev, [outbox.Draft("registration.approved", f"ev:{ev.id}", p.customer_id,
                                            {"service": service}, event_id=ev.id)])

    def on_rejected(self, conn: Connection, ev: Event) -> None:
        p: RegistrationRejected = ev.payload
        reg = registrations.get(conn, ev.org_id, p.registration_id)
        if reg is None:
            return
        self._queue(conn, ev, [outbox.Draft("registration.rejected", f"ev:{ev.id}", None,
                                            {"applicant": applicant(reg), "reason": p.reason}, event_id=ev.id,
                                            to=recipients(reg))])
