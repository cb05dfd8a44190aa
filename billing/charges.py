"""The money side of a service's life: what starting, moving the start, changing
plan and cancelling cost or credit (the first invoice with its prorated period
and setup fee; the credit note for unused days; proration of a plan change).

:mod:`billing.services` calls these in the transaction of the service change,
after the service row and its login are written; each receives the service as
it is after the change.  Part (b) of issue 9 fills them in; until then they
charge nothing.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection


def on_activate(conn: Connection, org_id: int, service: Any, now: datetime) -> None:
    """A service became active from ``service.start_date``: invoice its first
    (prorated) period and setup fee."""


def on_start_moved(conn: Connection, org_id: int, service: Any, old_start: date, now: datetime) -> None:
    """An active, already invoiced service's actual start moved later (approval with
    a later date): credit note for the unused days ``[old_start, service.start_date)``."""


def on_plan_change(conn: Connection, org_id: int, service: Any, old_product_id: int, on: date,
                   now: datetime) -> None:
    """The service moved to ``service.product_id`` from ``old_product_id`` on ``on``:
    credit the old plan's unused days of the billed period, invoice the new plan's."""


def on_cancel(conn: Connection, org_id: int, service: Any, on: date, now: datetime) -> None:
    """The service ends on ``on`` (exclusive): credit the billed days after it."""
