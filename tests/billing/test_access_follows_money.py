"""Inside the daemon, money and access change together: a dunning suspension and the
payment that clears it, run through the service functions on the writer, are seen by
the very next Access-Request (the writer hands the change to the AAA view before the
caller's Deferred fires), on SQLite and PostgreSQL."""
from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

from twisted.internet import task

from aaad import nas, orgs
from aaad.auth.controller import AuthController
from aaad.metrics import Stats
from aaad.radius import codec
from aaad.radius.server import AuthProtocol, RadiusConfig, RadiusStats
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from billing import catalogue, customers, dunning, ledger, payments, services, settings
from tests.helpers import SyncDB, result_of
from tests.radius.test_server import NAS_ADDR, SECRET, D, FakeTransport, pap_req, reply_of, text

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
LATE = datetime(2026, 2, 1, 9, tzinfo=UTC)


def test_suspension_and_payment_reach_the_next_request(engine: Any, box: Any) -> None:
    """Dunned: the next request is rejected ("account suspended"); paid: the next one is
    accepted at the plan's rate, with no change-feed poll in between."""
    w = LoginWriter(box)
    with engine.begin() as c:
        org = orgs.add(c, "isp", "ISP", T0, "UTC", "USD").id
        nas.add(c, box, org, "r", "127.0.0.1", SECRET.decode(), T0)
        settings.update(c, org, T0, grace_days=2, payment_terms_days=10, suspend_mode="reject")
        prod = catalogue.add_product(c, w, org, T0, name="Home", type="internet", price=3100, rate_limit="8M/8M")
        cust = customers.add(c, org, T0, name="Ann Late", rng=random.Random(1))
        services.add(c, w, org, cust.id, prod.id, T0, start=date(2026, 1, 1), username="ann", password="ann-pw")
    view = AAAView()
    with engine.connect() as c:
        view.load(load_snapshot(c, box))
    db = SyncDB(engine)
    db.writer.on_changes.append(view.apply_local)
    ctl = AuthController(view, D)
    view.listeners.append(ctl.on_view_change)
    clock = task.Clock()
    clock.advance(LATE.timestamp())
    proto = AuthProtocol(view, ctl, clock, RadiusStats(Stats()), None, RadiusConfig(reject_delay=0.0),
                         D.vendor_ids, None)
    tr = FakeTransport()
    proto.transport = tr  # type: ignore[assignment]

    def ask(ident: int) -> codec.Packet:
        req = pap_req("ann", "ann-pw", ident=ident)
        proto.datagramReceived(req, NAS_ADDR)
        return reply_of(tr, req)

    assert ask(1).code == codec.ACCESS_ACCEPT
    done = result_of(db.write(dunning.dunning_chunk, w, org, LATE.date(), 0, 100, LATE))
    assert done.suspended
    p = ask(2)
    assert p.code == codec.ACCESS_REJECT and text(p, "Reply-Message") == "account suspended"
    with engine.connect() as c:
        owed = ledger.balance(c, org, cust.id)
    res = result_of(db.write(payments.record, w, org, cust.id, owed, LATE, method="cash", reference="r1"))
    assert res.resumed_service_ids
    p = ask(3)
    assert p.code == codec.ACCESS_ACCEPT and text(p, "Mikrotik-Rate-Limit") == "8M/8M"
