"""The demo ISP's billing (``aaad demo``, idempotent): settings, a catalogue,
customers with services in every state, and the last six weeks of billing
replayed day by day through the same functions the daemon runs (activations,
the daily billing run, payments, a plan change, a cancellation, dunning), so
the invoices, credit notes, payments and suspensions are the real thing."""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.view.write import LoginWriter
from billing import catalogue, customers, dunning, ledger, payments, run, services, settings

DAYS = 45  # how far back the replay starts


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    email: str
    phone: str
    login: str
    product: str
    start: int | None        # days ago the service started; None: pending approval
    pays: str                # all | first | none | credit


CUSTOMERS = [
    DemoCustomer("Ama Mensah", "ama@example.com", "+12025550101", "ama", "Home 10M", DAYS, "all"),
    DemoCustomer("Yaw Owusu", "yaw@example.com", "+12025550102", "yaw", "Home 10M", DAYS, "first"),
    DemoCustomer("Kofi Boateng", "kofi@example.com", "+12025550103", "kofi", "Prepaid 30 days", 3, "none"),
    DemoCustomer("Akosua Darko", "akosua@example.com", "+12025550104", "akosua", "Home 50M", 30, "credit"),
    DemoCustomer("Efua Nyarko", "efua@example.com", "+12025550105", "efua", "Hotspot day", 4, "all"),
    DemoCustomer("Esi Asante", "esi@example.com", "+12025550106", "esi", "Home 50M", None, "none"),
    DemoCustomer("Kwame Addo", "kwame@example.com", "+12025550107", "kwame", "Home 10M", DAYS, "all"),
]


def _at(d: date) -> datetime:
    return datetime.combine(d, time(9, 0), tzinfo=UTC)


def seed(engine: Engine, box: SecretBox, now: datetime, outbox_dir: str | None = None) -> Iterator[str]:
    """Seed the demo org's billing (skipped when its catalogue exists); with ``outbox_dir``,
    notifications too (email and SMS written as files there)."""
    w = LoginWriter(box)
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        if org is None:
            return
        if catalogue.product_by_name(c, org.id, "Home 10M") is not None:
            yield "billing demo already seeded"
            return
    today = now.date()
    first = today - timedelta(days=DAYS)
    t0 = _at(first)
    with engine.begin() as c:
        settings.update(c, org.id, t0, country="US", vat_bp=1500, billing_day=1, payment_terms_days=7,
                        grace_days=3, suspend_mode="walled_garden", brand_name="Demo ISP",
                        brand_colour="#0a66d6", brand_address="1 Fibre Road, Springfield",
                        brand_tax_id="VAT-0042", locale="en_US")
        yield "billing settings: VAT 15 % on top, billing day 1, 7 days to pay, 3 days grace, walled garden"
        catalogue.add_product(c, w, org.id, t0, name="Home 10M", type="internet", price=2500,
                                    setup_fee=1000, rate_limit="10M/10M", fup_rate_limit="1M/1M",
                                    interim_interval=300, pool="pppoe-pool")
        p50 = catalogue.add_product(c, w, org.id, t0, name="Home 50M", type="internet", price=4500,
                                    rate_limit="50M/50M", interim_interval=300, address_list="premium")
        catalogue.add_discount(c, org.id, p50.id, t0, kind="percent", value=2000, periods=3)
        catalogue.add_product(c, w, org.id, t0, name="Hotspot day", type="internet", price=100, period="daily",
                              rate_limit="2M/2M", session_timeout=86400, interim_interval=60)
        catalogue.add_product(c, w, org.id, t0, name="Prepaid 30 days", type="internet", price=2000,
                              period="days", period_days=30, rate_limit="20M/20M", data_cap=50 * 1024 ** 3)
        catalogue.add_product(c, w, org.id, t0, name="Static IP", type="recurring", price=500)
        catalogue.add_product(c, w, org.id, t0, name="Router installation", type="one_time", price=3000,
                              on_portal=False)
        yield ("products: Home 10M $25/mo (+$10 setup), Home 50M $45/mo (20 % off 3 months), Hotspot day $1, "
               "Prepaid 30 days $20, Static IP $5/mo, Router installation $30")
        ids: dict[str, tuple[int, int]] = {}
        rng = random.Random(2026)
        for dc in CUSTOMERS:
            cust = customers.add(c, org.id, t0, name=dc.name, email=dc.email, phone=dc.phone, rng=rng,
                                 status="pending" if dc.start is None else "active")
            customers.set_password(c, org.id, cust.id, f"{dc.login}-pass", t0)   # the portal's sign-in
            ids[dc.login] = (cust.id, 0)
    # Replay the weeks day by day: starts, the billing run, payments, changes, dunning.
    for back in range(DAYS, -1, -1):
        day = today - timedelta(days=back)
        at = _at(day) if back else now
        with engine.begin() as c:
            for dc in CUSTOMERS:
                cid = ids[dc.login][0]
                if dc.start == back or (dc.start is None and back == 2):
                    prod = catalogue.product_by_name(c, org.id, dc.product)
                    assert prod is not None
                    svc = services.add(c, w, org.id, cid, prod.id, at, start=None if dc.start is None else day,
                                       username=dc.login, password=f"{dc.login}-pass")
                    ids[dc.login] = (cid, svc.id)
            after = 0
            while True:
                chunk = run.run_chunk(c, w, org.id, day, after, 300, at)
                if chunk.customers < 300:
                    break
                after = chunk.last_customer_id
            if day.day == 1:
                run.apply_credits(c, org.id, day, at)
            for dc in CUSTOMERS:
                cid, sid = ids[dc.login]
                owed = ledger.balance(c, org.id, cid)
                if dc.pays == "credit" and dc.start == back:
                    payments.record(c, w, org.id, cid, 20_000, at, method="bank", reference=f"demo-{dc.login}-1",
                                    note="paid a few months ahead")
                elif owed > 0 and (dc.pays == "all" or (dc.pays == "first" and back == DAYS - 2)):
                    payments.record(c, w, org.id, cid, owed, at, method="mobile_money",
                                    reference=f"demo-{dc.login}-{day.isoformat()}")
            if back == 10:
                cid, sid = ids["kwame"]
                services.cancel(c, w, org.id, sid, at, reason="moved out of the area")
                customers.close(c, w, org.id, cid, at, "moved out of the area")
                left = ledger.credit_available(c, org.id, cid)
                if left > 0:  # the unused days of the month, paid back
                    payments.refund(c, org.id, cid, left, at, method="mobile_money",
                                    reference=f"demo-refund-{cid}", reason="unused days after closing")
            if back == 12:
                cid, sid = ids["ama"]
                big = catalogue.product_by_name(c, org.id, "Home 50M")
                assert big is not None
                services.change_plan(c, w, org.id, sid, big.id, at, on=day)
            after = 0
            while True:
                dun = dunning.dunning_chunk(c, w, org.id, day, after, 300, at)
                if dun.scanned < 300:
                    break
                after = dun.last_customer_id
    yield ("customers: ama (paid up, upgraded to 50M mid-month), yaw (unpaid: suspended into the walled garden), "
           "kofi (prepaid, invoice open), akosua (paid ahead: in credit), efua (daily hotspot), "
           "esi (service pending approval), kwame (closed, unused days refunded); logins <name>/<name>-pass; "
           "portal sign-in <email>/<name>-pass")
    with engine.begin() as c:
        from billing.gateways import store as gateways
        gateways.set_gateway(c, box, org.id, "test", now)
    yield "online payment: the built-in test gateway (a page with Succeed / Stay pending / Fail; demo only)"
    yield from seed_portal(engine, w, now)
    yield from seed_vouchers(engine, w, now)
    if outbox_dir:
        yield from seed_notify(engine, box, _at(first), outbox_dir)


def seed_notify(engine: Engine, box: SecretBox, now: datetime, outbox_dir: str) -> Iterator[str]:
    """The demo's notifications: email and SMS to files in ``outbox_dir`` (no mail server or SMS
    account needed), the admins' address, due-date reminders and an expiry warning."""
    from billing.notify import reminders
    from billing.notify import settings as ns
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        if org is None:
            return
        for channel in ("email", "sms"):
            ns.set_channel(c, box, org.id, channel, now, provider="file",
                           settings={"directory": outbox_dir, "from_address": "billing@demo-isp.example"}
                           if channel == "email" else {"directory": outbox_dir})
        ns.update(c, org.id, now, admin_email="noc@demo-isp.example", reminders_at="09:00")
        for off in (-3 * reminders.DAY, 0, 2 * reminders.DAY):
            reminders.add_rule(c, org.id, reminders.DUE, off, now)
        reminders.add_rule(c, org.id, reminders.EXPIRY, -reminders.DAY, now)
    yield (f"notifications: email and SMS written to {outbox_dir} (channel provider 'file'); due-date "
           "reminders 3 days before, on and 2 days after; expiry warnings 1 day before")


def seed_portal(engine: Engine, writer: LoginWriter, now: datetime) -> Iterator[str]:
    """The demo's self-service: sign-up open (with approval), two coverage zones, a contract, checkout
    by gateway or request, a pending registration, and kofi's order as a request with its ticket answered."""
    from billing.orders import cart as shop
    from billing.orders import checkout, tickets
    from billing.signup import contracts, coverage, forms, registrations
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        if org is None:
            return
        home = catalogue.product_by_name(c, org.id, "Home 10M")
        forms.update_settings(c, org.id, now, enabled=True, approval="required",
                              default_product_id=home.id if home else None, default_zone="Central")
        coverage.add_zone(c, org.id, now, name="Central", areas=["Downtown", "Riverside"], postcodes=["SP1*"])
        coverage.add_zone(c, org.id, now, name="Hillside", geojson={
            "type": "Polygon", "coordinates": [[[-0.20, 5.60], [-0.15, 5.60], [-0.15, 5.65], [-0.20, 5.65],
                                                [-0.20, 5.60]]]})
        contracts.add_version(c, org.id, now, title="Demo ISP service agreement", body=CONTRACT)
        shop.update_shop_settings(c, org.id, now, checkout="both", request_via="ticket")
        registrations.seed_one(c, org.id, now)
        kofi = customers.find(c, org.id, "kofi@example.com")
        static = catalogue.product_by_name(c, org.id, "Static IP")
        if kofi is not None and static is not None:
            shop.add(c, org.id, kofi.id, static.id, now)
            placed = checkout.place_cart(c, writer, org.id, kofi.id, now, method="request",
                                         note="For my home office, please.")
            if placed.ticket_id is not None:
                tickets.reply(c, org.id, placed.ticket_id, "admin", "Thanks Kofi: we can set it up next week. "
                              "Pay the order from its page whenever suits you.", now, author_name="Support")
    yield ("portal self-service: sign-up open with approval (zones Central: Downtown, Riverside, SP1*; Hillside: "
           "a polygon), a contract to sign, checkout by gateway or as a request; one registration pending; kofi's "
           "Static IP order as a request, its ticket answered")


def seed_vouchers(engine: Engine, writer: LoginWriter, now: datetime) -> Iterator[str]:
    """The demo's hotspot vouchers: three packages, a batch of printed cards and a voucher efua bought."""
    from billing.vouchers import batches, packages, vouchers
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        if org is None or packages.by_name(c, org.id, "1 hour") is not None:
            return
        hour = packages.add(c, writer, org.id, now, name="1 hour", price=100, rate_limit="2M/2M", time_limit=3600,
                            code_only=True, code_length=6)
        day = packages.add(c, writer, org.id, now, name="1 day", price=300, rate_limit="5M/5M",
                           data_limit=1_000_000_000, validity_hours=24)
        packages.add(c, writer, org.id, now, name="Week pass", price=1000, rate_limit="10M/10M",
                     data_limit=10_000_000_000, validity_hours=7 * 24, shared_users=2)
        b = batches.create(c, writer, org.id, hour.id, 20, now, note="front desk")
        card = vouchers.list_for_batch(c, org.id, b.id)[0]
        efua = customers.find(c, org.id, "efua@example.com")
        sold = vouchers.sell(c, writer, org.id, day.id, now, customer_id=efua.id) if efua is not None else None
    yield ("vouchers: packages 1 hour $1 (code-only), 1 day $3 (1 GB, 24 h from first use), Week pass $10 "
           f"(10 GB, 7 days, 2 devices); batch {b.id}: 20 '1 hour' cards (aaad voucher batch export {b.id} "
           f"--pdf cards.pdf), e.g. code {card.code} (code-only: password = code)"
           + (f"; efua bought a '1 day' voucher: {sold.code} / {sold.password}" if sold is not None else ""))


CONTRACT = """1. Demo ISP provides internet access at the speed of the chosen plan, as far as the network allows.
2. Plans are billed monthly in advance on the 1st; the first month is prorated from the start date.
3. Invoices are due 7 days after issue. After 3 more days an unpaid service is suspended until paid.
4. Fair use: a plan's data cap, where it has one, slows the service down rather than stopping it.
5. Either side may end the service at the end of a billing month; unused days are refunded."""
