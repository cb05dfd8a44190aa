"""A year of billing driven by the clock: the daily billing run at 00:30 (the scheduler
under a fake clock, as in the daemon) and, at 10:00, starts, a start moved from 01/01 to
14/01, upgrades, downgrades, cancellations at once and at period end, and payments (late,
partial, over): every invoice, every credit note and every balance equals the table below,
computed by hand (the arithmetic is in the comments)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from twisted.internet import task

from aaad import orgs
from aaad.jobs import Job, Scheduler
from aaad.schedules import Daily, local_instant
from aaad.view.write import LoginWriter
from billing import catalogue, customers, ledger, payments, run, services, settings
from billing.schema import credit_notes as cn_t
from billing.schema import invoices as inv_t
from tests.billing.fixtures_b import invoice, note
from tests.helpers import SyncDB

D = date
TZ = ZoneInfo("Europe/Berlin")
ANN, BOB, CY, DEE, EVE = 1, 2, 3, 4, 5      # customer ids, created in this order

# Proration is cumulative (billing.money): the days [s, e) of the period [p0, p1) of D days
# cost R(P*(e-p0)/D) - R(P*(s-p0)/D), R = half-even.  Discounts: the same share of that.
#
# INVOICES: number -> (customer, issue date, [(kind, period start, period end, net)])
R, P, S, U, DG = "recurring", "proration", "setup", "upgrade", "downgrade"
INVOICES: dict[str, tuple[int, date, list[tuple[str, date, date | None, int]]]] = {
    # Ann: Fibre 20 (2500/month) from 01/01, paid upfront
    "INV-000001": (ANN, D(2027, 1, 1), [(R, D(2027, 1, 1), D(2027, 2, 1), 2500)]),
    "INV-000002": (ANN, D(2027, 2, 1), [(R, D(2027, 2, 1), D(2027, 3, 1), 2500)]),
    # Cy: prepaid 30 days (1500) from 10/02: 10/02 + 30 days = 12/03
    "INV-000003": (CY, D(2027, 2, 10), [(R, D(2027, 2, 10), D(2027, 3, 12), 1500)]),
    "INV-000004": (ANN, D(2027, 3, 1), [(R, D(2027, 3, 1), D(2027, 4, 1), 2500)]),
    "INV-000005": (CY, D(2027, 3, 12), [(R, D(2027, 3, 12), D(2027, 4, 11), 1500)]),
    # Bob: Fibre 50 (4000, setup 1000) from 17/03: 4000 - R(4000*16/31 = 2064.52) = 4000 - 2065 = 1935
    "INV-000006": (BOB, D(2027, 3, 17), [(S, D(2027, 3, 17), None, 1000), (P, D(2027, 3, 17), D(2027, 4, 1), 1935)]),
    "INV-000007": (ANN, D(2027, 4, 1), [(R, D(2027, 4, 1), D(2027, 5, 1), 2500)]),
    "INV-000008": (BOB, D(2027, 4, 1), [(R, D(2027, 4, 1), D(2027, 5, 1), 4000)]),
    # Ann upgrades to Fibre 50 on 10/04 (April: 30 days, 9 used): 4000 - R(4000*9/30) = 2800
    "INV-000009": (ANN, D(2027, 4, 10), [(U, D(2027, 4, 10), D(2027, 5, 1), 2800)]),
    "INV-000010": (CY, D(2027, 4, 11), [(R, D(2027, 4, 11), D(2027, 5, 11), 1500)]),
    "INV-000011": (ANN, D(2027, 5, 1), [(R, D(2027, 5, 1), D(2027, 6, 1), 4000)]),
    "INV-000012": (BOB, D(2027, 5, 1), [(R, D(2027, 5, 1), D(2027, 6, 1), 4000)]),
    "INV-000013": (CY, D(2027, 5, 11), [(R, D(2027, 5, 11), D(2027, 6, 10), 1500)]),
    # Eve: Promo (3000, 50 % off the first 3 periods) from 20/05: gross 3000 - R(3000*19/31 = 1838.71) = 1161;
    # discount R(3000/2) - R(1839/2 = 919.5 -> 920) = 580; net 581
    "INV-000014": (EVE, D(2027, 5, 20), [(P, D(2027, 5, 20), D(2027, 6, 1), 581)]),
    "INV-000015": (ANN, D(2027, 6, 1), [(R, D(2027, 6, 1), D(2027, 7, 1), 4000)]),
    "INV-000016": (BOB, D(2027, 6, 1), [(R, D(2027, 6, 1), D(2027, 7, 1), 4000)]),
    "INV-000017": (EVE, D(2027, 6, 1), [(R, D(2027, 6, 1), D(2027, 7, 1), 1500)]),     # period 2 of 3
    "INV-000018": (CY, D(2027, 6, 10), [(R, D(2027, 6, 10), D(2027, 7, 10), 1500)]),
    # Bob cancels at period end on 15/06: cancel_at 01/07, nothing billed from July
    "INV-000019": (ANN, D(2027, 7, 1), [(R, D(2027, 7, 1), D(2027, 8, 1), 4000)]),
    "INV-000020": (EVE, D(2027, 7, 1), [(R, D(2027, 7, 1), D(2027, 8, 1), 1500)]),     # period 3 of 3
    "INV-000021": (CY, D(2027, 7, 10), [(R, D(2027, 7, 10), D(2027, 8, 9), 1500)]),
    "INV-000022": (ANN, D(2027, 8, 1), [(R, D(2027, 8, 1), D(2027, 9, 1), 4000)]),
    "INV-000023": (EVE, D(2027, 8, 1), [(R, D(2027, 8, 1), D(2027, 9, 1), 3000)]),
    # Ann downgrades to Fibre 20 on 20/08 (19 of 31 days used): 2500 - R(2500*19/31 = 1532.26) = 968
    "INV-000024": (ANN, D(2027, 8, 20), [(DG, D(2027, 8, 20), D(2027, 9, 1), 968)]),
    "INV-000025": (ANN, D(2027, 9, 1), [(R, D(2027, 9, 1), D(2027, 10, 1), 2500)]),
    "INV-000026": (EVE, D(2027, 9, 1), [(R, D(2027, 9, 1), D(2027, 10, 1), 3000)]),
    "INV-000027": (ANN, D(2027, 10, 1), [(R, D(2027, 10, 1), D(2027, 11, 1), 2500)]),
    "INV-000028": (EVE, D(2027, 10, 1), [(R, D(2027, 10, 1), D(2027, 11, 1), 3000)]),
    # Eve moves to Fibre 20 on 01/10 at 10:00, after the run billed October on Promo
    "INV-000029": (EVE, D(2027, 10, 1), [(DG, D(2027, 10, 1), D(2027, 11, 1), 2500)]),
    "INV-000030": (ANN, D(2027, 11, 1), [(R, D(2027, 11, 1), D(2027, 12, 1), 2500)]),
    "INV-000031": (EVE, D(2027, 11, 1), [(R, D(2027, 11, 1), D(2027, 12, 1), 2500)]),
    # Dee: day pass (100/day, 10 % off the first 5 days) from 25/11
    **{f"INV-{32 + i:06d}": (DEE, D(2027, 11, 25 + i), [(R, D(2027, 11, 25 + i), D(2027, 11, 26 + i), 90)])
       for i in range(5)},
    "INV-000037": (DEE, D(2027, 11, 30), [(R, D(2027, 11, 30), D(2027, 12, 1), 100)]),
    "INV-000038": (ANN, D(2027, 12, 1), [(R, D(2027, 12, 1), D(2028, 1, 1), 2500)]),
    "INV-000039": (DEE, D(2027, 12, 1), [(R, D(2027, 12, 1), D(2027, 12, 2), 100)]),
    "INV-000040": (EVE, D(2027, 12, 1), [(R, D(2027, 12, 1), D(2028, 1, 1), 2500)]),
    # Dee cancelled at once on 10/12: billed up to and including 10/12
    **{f"INV-{41 + i:06d}": (DEE, D(2027, 12, 2 + i), [(R, D(2027, 12, 2 + i), D(2027, 12, 3 + i), 100)])
       for i in range(9)},
}

# CREDIT NOTES: number -> (customer, issue date, kind, credited invoice, [(period start, period end, net)])
CREDIT_NOTES: dict[str, tuple[int, date, str, str, list[tuple[date, date, int]]]] = {
    # Ann's start moved from 01/01 to 14/01: 13 days of January: R(2500*13/31 = 1048.39) = 1048
    "CN-000001": (ANN, D(2027, 1, 14), "unused_days", "INV-000001", [(D(2027, 1, 1), D(2027, 1, 14), 1048)]),
    # upgrade on 10/04: Fibre 20's 21 unused April days: 2500 - R(2500*9/30) = 1750
    "CN-000002": (ANN, D(2027, 4, 10), "upgrade", "INV-000007", [(D(2027, 4, 10), D(2027, 5, 1), 1750)]),
    # Cy cancelled at once on 20/07: 20 of the 30 days [10/07, 09/08): 1500 - R(1500*10/30) = 1000
    "CN-000003": (CY, D(2027, 7, 20), "cancellation", "INV-000021", [(D(2027, 7, 20), D(2027, 8, 9), 1000)]),
    # downgrade on 20/08: Fibre 50's 12 unused August days: 4000 - R(4000*19/31 = 2451.61) = 1548 (> 968)
    # (it credits the invoice that billed August on Fibre 50; the new plan's invoice follows it)
    "CN-000004": (ANN, D(2027, 8, 20), "downgrade", "INV-000022", [(D(2027, 8, 20), D(2027, 9, 1), 1548)]),
    # Eve: all of October on Promo (period 6: no discount) credited, 3000 > 2500
    "CN-000005": (EVE, D(2027, 10, 1), "downgrade", "INV-000028", [(D(2027, 10, 1), D(2027, 11, 1), 3000)]),
    # Dee cancelled at once on 10/12: the day billed that morning (period 16: no discount)
    "CN-000006": (DEE, D(2027, 12, 10), "cancellation", "INV-000049", [(D(2027, 12, 10), D(2027, 12, 11), 100)]),
}

# PAYMENTS: (date, customer, amount)
PAYMENTS = [
    (D(2027, 1, 20), ANN, 1452),     # the rest of INV-1 after the credit note (2500 - 1048)
    (D(2027, 2, 5), ANN, 10000),     # 2500 for INV-2, 7500 credit used on the next invoices
    (D(2027, 2, 12), CY, 9000),      # 1500 for INV-3, 7500 credit
    (D(2027, 4, 5), BOB, 2000),      # partial, and late (INV-6 was due 31/03)
    (D(2027, 6, 3), EVE, 2081),      # 581 + 1500
    (D(2027, 6, 20), BOB, 12935),    # everything else Bob owes: 2935 + 3 * 4000 - 2000
    (D(2027, 9, 15), ANN, 20000),
    (D(2027, 12, 20), EVE, 10000),
]

# BALANCES on 31/12 = invoices - payments - credit notes:
#   Ann: 4 * 2500 (Jan-Apr) + 2800 + 4 * 4000 (May-Aug) + 968 + 4 * 2500 (Sep-Dec) = 39768;
#        - (1452 + 10000 + 20000) - (1048 + 1750 + 1548) = 3970
#   Bob: 2935 + 3 * 4000 - 14935 = 0
#   Cy:  6 * 1500 - 9000 - 1000 = -1000 (credit)
#   Dee: 5 * 90 + 11 * 100 - 100 = 1450
#   Eve: 581 + 1500 + 1500 + 3 * 3000 + 3 * 2500 - 12081 - 3000 = 5000
BALANCES = {ANN: 3970, BOB: 0, CY: -1000, DEE: 1450, EVE: 5000}


def test_a_year_of_billing(engine: Any, box: Any) -> None:
    """Every invoice, credit note and balance of the year equals the hand-computed table."""
    writer = LoginWriter(box)
    clock = task.Clock()
    db = SyncDB(engine)
    sched = Scheduler(db, clock)
    sched.add(Job(run.JOB, Daily(time(0, 30)), lambda ctx: run.run_job(ctx, writer, 2), per_org=True))

    def local(d: date, hour: int, minute: int = 0) -> datetime:
        return local_instant(d, time(hour, minute), TZ)

    t0 = local(D(2027, 1, 1), 0, 10)
    with engine.begin() as c:
        org = orgs.add(c, "isp", "ISP", t0, "Europe/Berlin", "EUR").id
        settings.update(c, org, t0, billing_day=1, payment_terms_days=14)
        f20 = catalogue.add_product(c, writer, org, t0, name="Fibre 20", type="internet", price=2500,
                                    rate_limit="20M/20M").id
        f50 = catalogue.add_product(c, writer, org, t0, name="Fibre 50", type="internet", price=4000,
                                    setup_fee=1000, rate_limit="50M/50M").id
        pre = catalogue.add_product(c, writer, org, t0, name="Prepaid 30", type="internet", price=1500,
                                    period="days", period_days=30, rate_limit="10M/10M").id
        day = catalogue.add_product(c, writer, org, t0, name="Day pass", type="internet", price=100,
                                    period="daily", rate_limit="5M/5M").id
        catalogue.add_discount(c, org, day, t0, kind="percent", value=1000, periods=5)
        promo = catalogue.add_product(c, writer, org, t0, name="Promo", type="internet", price=3000,
                                      rate_limit="30M/30M").id
        catalogue.add_discount(c, org, promo, t0, kind="percent", value=5000, periods=3)
        ids = [customers.add(c, org, t0, name=n).id for n in ("Ann Lee", "Bob Ray", "Cy Fox", "Dee Kim", "Eve Poe")]
    assert ids == [ANN, BOB, CY, DEE, EVE]
    svc: dict[int, int] = {}

    def add(c: Any, now: datetime, who: int, product: int, start: date) -> None:
        svc[who] = services.add(c, writer, org, who, product, now, start=start).id

    actions: dict[date, Any] = {
        D(2027, 1, 1): lambda c, now: add(c, now, ANN, f20, D(2027, 1, 1)),
        D(2027, 1, 14): lambda c, now: services.approve(c, writer, org, svc[ANN], D(2027, 1, 14), now),
        D(2027, 2, 10): lambda c, now: add(c, now, CY, pre, D(2027, 2, 10)),
        D(2027, 3, 17): lambda c, now: add(c, now, BOB, f50, D(2027, 3, 17)),
        D(2027, 4, 10): lambda c, now: services.change_plan(c, writer, org, svc[ANN], f50, now),
        D(2027, 5, 20): lambda c, now: add(c, now, EVE, promo, D(2027, 5, 20)),
        D(2027, 6, 15): lambda c, now: services.cancel(c, writer, org, svc[BOB], now, at_period_end=True),
        D(2027, 7, 20): lambda c, now: services.cancel(c, writer, org, svc[CY], now),
        D(2027, 8, 20): lambda c, now: services.change_plan(c, writer, org, svc[ANN], f20, now),
        D(2027, 10, 1): lambda c, now: services.change_plan(c, writer, org, svc[EVE], f20, now),
        D(2027, 11, 25): lambda c, now: add(c, now, DEE, day, D(2027, 11, 25)),
        D(2027, 12, 10): lambda c, now: services.cancel(c, writer, org, svc[DEE], now),
    }
    paid = {d: (who, amount) for d, who, amount in PAYMENTS}
    d = D(2027, 1, 1)
    while d <= D(2027, 12, 31):
        clock.advance(local(d, 0, 30).timestamp() - clock.seconds())
        sched.tick()                                   # the billing run of the day
        now = local(d, 10)
        clock.advance(now.timestamp() - clock.seconds())
        with engine.begin() as c:
            if d in actions:
                actions[d](c, now)
            if d in paid:
                payments.record(c, writer, org, paid[d][0], paid[d][1], now, method="bank",
                                reference=f"{d.isoformat()}-{paid[d][0]}")
        d += timedelta(days=1)

    with engine.connect() as c:
        got_inv = {}
        for i in c.execute(sa.select(inv_t.c.id).where(inv_t.c.org_id == org).order_by(inv_t.c.seq)).scalars():
            inv = invoice(c, org, i)
            got_inv[inv.number] = (inv.customer_id, inv.issue_date,
                                   [(ln.kind, ln.period_start, ln.period_end, ln.net) for ln in inv.lines])
            assert inv.total == sum(ln.total for ln in inv.lines)
        assert got_inv == INVOICES
        number_of = {r[0]: r[1] for r in c.execute(sa.select(inv_t.c.id, inv_t.c.number).where(inv_t.c.org_id == org))}
        got_cn = {}
        for i in c.execute(sa.select(cn_t.c.id).where(cn_t.c.org_id == org).order_by(cn_t.c.seq)).scalars():
            n = note(c, org, i)
            got_cn[n.number] = (n.customer_id, n.issue_date, n.kind, number_of.get(n.invoice_id),
                                [(ln.period_start, ln.period_end, ln.net) for ln in n.lines])
        assert got_cn == CREDIT_NOTES
        assert {cid: ledger.balance(c, org, cid) for cid in BALANCES} == BALANCES
        assert ledger.credit_available(c, org, CY) == 1000
        assert ledger.check(c, org) == []
        assert [s.state for s in services.list_services(c, org)] == ["active", "cancelled", "cancelled", "active",
                                                                      "cancelled"]
