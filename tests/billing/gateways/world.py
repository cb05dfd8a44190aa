"""A suspended subscriber and the gateways service over a synchronous database, for the gateway tests."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from twisted.internet import task

from aaad import orgs
from billing import dunning, payments
from billing.gateways import store
from billing.gateways.schema import gateway_transactions
from billing.gateways.service import Gateways
from billing.schema import payments as payments_t
from tests.billing.fixtures_c import D0, World, at, days, make_world
from tests.helpers import SyncDB

OWED = 115_00                      # 100.00 + 15 % VAT
LATE = at(D0 + days(20))           # past due (14 days) and grace (3 days)


@dataclass
class Suspended:
    w: World
    org: orgs.Org
    customer_id: int
    service_id: int
    db: SyncDB
    clock: task.Clock
    gateways: Gateways

    def now(self) -> datetime:
        return LATE

    def payments(self) -> list[payments.Payment]:
        return self.w.read(payments.list_payments, self.w.org_id, customer_id=self.customer_id)

    def tx(self, reference: str) -> Any:
        return self.w.read(store.get, self.w.org_id, reference)

    def count_payments(self) -> int:
        with self.w.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(payments_t).where(
                payments_t.c.org_id == self.w.org_id)).scalar_one())

    def count_tx(self) -> int:
        with self.w.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(gateway_transactions).where(
                gateway_transactions.c.org_id == self.w.org_id)).scalar_one())


def suspended_world(engine: Any, slug: str = "isp", username: str = "ann") -> Suspended:
    """Org ``slug`` with a customer whose one internet service dunning suspended for an
    unpaid invoice of 115.00 GHS; the clock at LATE."""
    w = make_world(engine, slug)
    w.tx(store.set_gateway, w.box, w.org_id, "test", LATE)     # none by default
    prod = w.internet_product()
    cid, sid = w.subscriber(username, prod)
    w.invoice(cid, 100_00, D0, taxable=True)
    w.tx(dunning.dunning_chunk, w.writer, w.org_id, LATE.date(), 0, 100, LATE)
    assert w.service(sid).state == "suspended" and w.balance(cid) == OWED
    org = w.read(orgs.get, w.org_id)
    clock = task.Clock()
    clock.advance(LATE.timestamp())
    db = SyncDB(engine)
    return Suspended(w, org, cid, sid, db, clock, Gateways(db, w.box, clock, w.writer))
