"""The admin console's reads on SQLite and PostgreSQL: the dashboard's figures, customer search
(name, username, login, phone in any form, e-mail, IP), the customer page, and org isolation."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import NotFound
from aaad.schema import logins, nas
from accounting.schema import sessions
from billing import console, customers, services
from billing.notify.schema import messages
from billing.orders import tickets
from billing.orders.schema import orders
from billing.schema import registrations
from enforcement import status_store
from enforcement.routeros import RouterStatus
from enforcement.schema import actions
from tests.billing.fixtures_c import World, at, make_world

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)       # Accra is UTC+0: local date 2026-11-20
TODAY = date(2026, 11, 20)


@dataclass
class Seeded:
    a: World
    b: World
    john: int
    jane: int
    kofi: int
    john_login: str
    jane_login: str
    john_b: int


def _nas(w: World, address: str) -> int:
    with w.engine.begin() as c:
        key = c.execute(nas.insert().values(org_id=w.org_id, name=f"r-{address}", address=address,
                                            secret_enc=w.box.encrypt(b"s"), created_at=NOW)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _session(w: World, nas_id: int, login_id: int, username: str, ip: str, start: datetime,
             stop: datetime | None = None) -> None:
    with w.engine.begin() as c:
        c.execute(sessions.insert().values(
            session_key=uuid.uuid4().hex, org_id=w.org_id, nas_id=nas_id, session_id=uuid.uuid4().hex[:8],
            login_id=login_id, username=username, framed_ip=ip, start_time=start, last_update=stop or start,
            stop_time=stop))


def _customer(w: World, name: str, seed: int, **kw: Any) -> int:
    return int(w.tx(customers.add, w.org_id, at(date(2026, 11, 1)), name=name, rng=random.Random(seed), **kw).id)


def _service(w: World, customer_id: int, product_id: int, username: str) -> services.Service:
    svc: services.Service = w.tx(services.add, w.writer, w.org_id, customer_id, product_id, at(date(2026, 11, 1)),
                                 start=date(2026, 11, 1), username=username, password="pw")
    return svc


@pytest.fixture
def seeded(engine: Any) -> Seeded:
    a = make_world(engine)
    b = make_world(engine, "other")
    pa, pb = a.internet_product(), b.internet_product()
    john = _customer(a, "John Doe", 1, email="John@Example.com", phone="0541234567")
    jane = _customer(a, "Jane Smith", 2, email="jane@example.com", phone="+233 20 123 4567")
    kofi = _customer(a, "Kofi Mensah-Doe", 3)
    for i in range(5):
        _customer(a, f"Filler Person {i}", 10 + i)
    john_b = _customer(b, "John Doe", 1, email="john@example.com", phone="0541234567")
    js, ks = _service(a, john, pa, "jdoe-ppp"), _service(a, jane, pa, "jsmith-ppp")
    kf = _service(a, kofi, pa, "kofi-ppp")
    sb = _service(b, john_b, pb, "jdoe-b")
    n_a, n_b = _nas(a, "192.0.2.1"), _nas(b, "192.0.2.2")
    assert js.login_id and ks.login_id and kf.login_id and sb.login_id
    _session(a, n_a, js.login_id, "jdoe-ppp", "10.0.0.5", NOW - timedelta(hours=2))            # open
    _session(a, n_a, ks.login_id, "jsmith-ppp", "10.0.0.9", NOW - timedelta(days=30),
             NOW - timedelta(days=29))                                                          # long ended
    _session(a, n_a, ks.login_id, "jsmith-ppp", "10.0.0.7", NOW - timedelta(days=2),
             NOW - timedelta(days=1))                                                           # recent
    _session(b, n_b, sb.login_id, "jdoe-b", "10.0.0.5", NOW - timedelta(hours=1))              # org B: same IP
    with engine.begin() as c:                                                                   # Kofi's fixed IP
        c.execute(logins.update().where(logins.c.id == kf.login_id).values(framed_ip="100.64.0.10"))
    return Seeded(a, b, john, jane, kofi, "jdoe-ppp", "jsmith-ppp", john_b)


def _search(w: World, q: str, **kw: Any) -> list[console.CustomerHit]:
    kw.setdefault("now", NOW)
    return list(w.read(console.search, w.org_id, q, **kw))


def _ids(hits: list[console.CustomerHit]) -> list[int]:
    return [h.id for h in hits]


# -- search ----------------------------------------------------------------------------------------

def test_search_by_name_words_any_case(seeded: Seeded) -> None:
    """Every word of the query must be in the name, in any case and order."""
    a = seeded.a
    assert _ids(_search(a, "john")) == [seeded.john]
    assert _ids(_search(a, "DOE JOHN")) == [seeded.john]
    hits = _search(a, "doe")
    assert set(_ids(hits)) == {seeded.john, seeded.kofi}
    assert all(h.matched == "name" and not h.exact for h in hits)
    assert _search(a, "john smith") == []


def test_search_prefix_ranks_above_a_word_inside(seeded: Seeded) -> None:
    """A name that starts with the text comes before one that only contains it."""
    a = seeded.a
    kofi_doe = _customer(a, "Doe Kwame", 30)
    assert _ids(_search(a, "doe"))[0] == kofi_doe


def test_search_by_username_exact_and_partial(seeded: Seeded) -> None:
    """The customer's username exactly (first, marked exact), or a part of it."""
    a = seeded.a
    john = a.read(customers.get, a.org_id, seeded.john)
    hits = _search(a, john.username.upper())
    assert hits[0].id == seeded.john and hits[0].exact and hits[0].matched == "username"
    part = _search(a, john.username[:-2])
    assert seeded.john in _ids(part)


def test_search_by_login_name(seeded: Seeded) -> None:
    """A login's user name finds the customer whose service owns it."""
    hits = _search(seeded.a, "jsmith-ppp")
    assert hits[0].id == seeded.jane and hits[0].matched == "login" and hits[0].exact
    assert "jsmith-ppp" in hits[0].detail


def test_search_by_whole_identifier_lists_only_its_owner(seeded: Seeded) -> None:
    """A login or username with a digit, typed whole and found, is an exact form: no name scan
    adds the customers whose name merely contains it; a part of it still finds them by name."""
    a = seeded.a
    owner = _customer(a, "Ama Owusu", 40)
    _service(a, owner, a.internet_product("Site 20M"), "cpe-1001")
    other = _customer(a, "cpe-1001 annex", 41)
    assert _ids(_search(a, "cpe-1001")) == [owner]
    assert _ids(_search(a, "cpe-100")) == [other]
    assert _ids(_search(a, "annex")) == [other]


@pytest.mark.parametrize("form", ["0541234567", "+233541234567", "233 54 123 4567", "054-123-4567"])
def test_search_by_phone_in_any_form(seeded: Seeded, form: str) -> None:
    """The phone number however it is typed (national, international, spaced, dashed)."""
    hits = _search(seeded.a, form)
    assert _ids(hits) == [seeded.john]
    assert hits[0].matched == "phone" and hits[0].exact and hits[0].phone == "+233541234567"


def test_search_by_email_any_case(seeded: Seeded) -> None:
    """The e-mail address, case-insensitively (addresses are stored lower-cased)."""
    hits = _search(seeded.a, "JANE@example.COM")
    assert _ids(hits) == [seeded.jane] and hits[0].matched == "email"


def test_search_by_ip_open_recent_and_fixed(seeded: Seeded) -> None:
    """An open session's IP, a session that ended recently, a login's fixed IP; a session that
    ended long ago is not recent (unless no ``now`` is given)."""
    a = seeded.a
    hits = _search(a, "10.0.0.5")
    assert _ids(hits) == [seeded.john] and hits[0].matched == "ip" and "open session" in hits[0].detail
    assert _ids(_search(a, "10.0.0.7")) == [seeded.jane]
    assert _search(a, "10.0.0.9") == []
    assert _ids(_search(a, "10.0.0.9", now=None)) == [seeded.jane]
    fixed = _search(a, "100.64.0.10")
    assert _ids(fixed) == [seeded.kofi] and "fixed IP" in fixed[0].detail


def test_exact_matches_come_first(seeded: Seeded) -> None:
    """A customer whose login is exactly the text comes before names containing it."""
    a = seeded.a
    fan = _customer(a, "Mr jdoe-ppp Junior", 41)           # the text inside a name
    hits = _search(a, "jdoe-ppp")
    assert hits[0].id == seeded.john and hits[0].exact
    assert [h.id for h in hits[1:]] == [fan] and not hits[1].exact


def test_search_never_finds_another_orgs_customers(seeded: Seeded) -> None:
    """Org B's John (same name, e-mail, phone, IP) is never found from org A, and the other way."""
    a, b = seeded.a, seeded.b
    for q in ("john", "john@example.com", "0541234567", "10.0.0.5", "jdoe-b", "jdoe-ppp"):
        assert seeded.john_b not in _ids(_search(a, q)), q
    assert _ids(_search(b, "john")) == [seeded.john_b]
    assert _search(b, "jdoe-ppp") == [] and _search(b, "100.64.0.10") == []


def test_search_edge_cases(seeded: Seeded) -> None:
    """Blank text finds nothing; LIKE wildcards are literal; the limit is kept."""
    a = seeded.a
    assert _search(a, "   ") == []
    assert _search(a, "%") == [] and _search(a, "_") == []
    assert len(_search(a, "filler", limit=3)) == 3
    assert len(_search(a, "person")) == 5


# -- the dashboard ---------------------------------------------------------------------------------

def test_figures(seeded: Seeded) -> None:
    """Each figure counts its org's rows only, money in minor units on the org's calendar."""
    a, b = seeded.a, seeded.b
    a.invoice(seeded.john, 100_00, date(2026, 10, 1))                  # due 10-15: in arrears
    a.invoice(seeded.jane, 40_00, date(2026, 11, 15))                  # due 11-29: open, not late
    a.invoice(seeded.kofi, 10_00, date(2026, 11, 15))
    a.pay(seeded.kofi, 10_00, "K1", now=NOW - timedelta(hours=3))      # today: settles Kofi's invoice
    a.pay(seeded.jane, 15_00, "J1", now=at(date(2026, 11, 2)))         # this month
    a.pay(seeded.jane, 5_00, "J0", now=at(date(2026, 10, 31)))         # last month
    b.invoice(seeded.john_b, 999_00, date(2026, 10, 1))
    b.pay(seeded.john_b, 1_00, "B1", now=NOW - timedelta(hours=1))
    with a.engine.begin() as c:
        for w, status in ((a, "pending"), (a, "pending"), (a, "rejected"), (b, "pending")):
            c.execute(registrations.insert().values(org_id=w.org_id, status=status, name="Applicant",
                                                    created_at=NOW, updated_at=NOW))
        for w, cid, status in ((a, seeded.john, "placed"), (a, seeded.jane, "active"), (b, seeded.john_b, "placed")):
            c.execute(orders.insert().values(org_id=w.org_id, customer_id=cid, status=status, net=1, vat=0,
                                             total=1, currency="GHS", created_at=NOW, updated_at=NOW))
        for w, state in ((a, "failed"), (a, "done"), (b, "failed")):
            c.execute(actions.insert().values(org_id=w.org_id, kind="disconnect", cause="manual", username="u",
                                              nas_id=1, session_row=0, state=state, created_at=NOW))
        for w, state in ((a, "failed"), (a, "failed"), (a, "sent"), (b, "failed")):
            c.execute(messages.insert().values(org_id=w.org_id, kind="invoice.issued", channel="email",
                                               recipient="x@example.com", dedupe=uuid.uuid4().hex, state=state,
                                               not_before=NOW, created_at=NOW, updated_at=NOW))
        ra = c.execute(sa.select(nas.c.id).where(nas.c.org_id == a.org_id)).scalar_one()
        rb = c.execute(sa.select(nas.c.id).where(nas.c.org_id == b.org_id)).scalar_one()
        status_store.record(c, a.org_id, ra, RouterStatus(False, error="timeout", checked_at=NOW))
        status_store.record(c, b.org_id, rb, RouterStatus(False, error="timeout", checked_at=NOW))
    a.tx(tickets.open_ticket, a.org_id, seeded.john, "No internet", "Since this morning", NOW)
    # voucher sales at the counter: two today, one earlier this month, one last month; one in org b
    from billing import voucher_sales
    from billing.vouchers import packages
    for w, cid, ref, when in ((a, seeded.john, "V1", NOW - timedelta(hours=2)), (a, seeded.jane, "V2", NOW),
                              (a, seeded.kofi, "V3", at(date(2026, 11, 3))),
                              (a, seeded.kofi, "V0", at(date(2026, 10, 30))),
                              (b, seeded.john_b, "VB", NOW)):
        pkg = w.tx(packages.add, w.writer, w.org_id, when, name=f"Day {ref}", price=3_00, validity_hours=24)
        w.tx(voucher_sales.sell_at_counter, w.writer, w.org_id, pkg.id, cid, when, method="cash", reference=ref)
    t = a.tx(tickets.open_ticket, a.org_id, seeded.jane, "Invoice", "A question", NOW)
    a.tx(tickets.reply, a.org_id, t.ticket.id, "admin", "Answered", NOW)

    f = a.read(console.figures, a.org_id, NOW)
    assert (f.currency, f.today) == ("GHS", TODAY)
    got = {x.key: (x.count, x.amount) for x in f.all()}
    assert got == {
        "online_sessions": (1, None),
        "revenue_today": (1, 10_00),
        "revenue_month": (2, 25_00),
        "voucher_sales_today": (2, 6_00),
        "voucher_sales_month": (3, 9_00),
        "open_invoices": (2, 100_00 + 20_00),          # Jane's 40 less the 15 + 5 she paid
        "arrears": (1, 100_00),
        "pending_registrations": (2, None),
        "placed_orders": (1, None),
        "open_tickets": (1, None),
        "routers_down": (1, None),
        "failed_actions": (1, None),
        "failed_messages": (2, None),
    }
    assert f.arrears.query == {"state": "open", "due_before": "2026-11-20"}
    assert f.arrears.href == "/admin/invoices?state=open&due_before=2026-11-20"
    assert f.open_invoices.list == "invoices" and f.failed_messages.query == {"state": "failed"}
    assert f.voucher_sales_today.list == "vouchers" and set(f.voucher_sales_month.query) == {"sold_since"}
    fb = b.read(console.figures, b.org_id, NOW)
    assert (fb.revenue_today.amount, fb.arrears.amount, fb.online_sessions.count) == (1_00, 998_00, 1)
    assert (fb.voucher_sales_today.count, fb.voucher_sales_today.amount) == (1, 3_00)
    with pytest.raises(NotFound):
        a.read(console.figures, 9999, NOW)


def test_revenue_follows_the_orgs_local_day(engine: Any) -> None:
    """Revenue "today" starts at the org's local midnight, not UTC's."""
    from aaad import orgs
    from billing import settings
    from tests.billing.fixtures_c import World as W
    with engine.begin() as c:
        o = orgs.add(c, "tokyo", "Tokyo", NOW, "Asia/Tokyo", "JPY")
        settings.update(c, o.id, NOW, country="JP")
    w = W(engine, o.id, seeded_writer(), seeded_box())
    cid = w.customer("taro-1", "Taro")
    local_midnight = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)        # 00:00 on the 21st in Tokyo
    w.pay(cid, 500, "T1", now=local_midnight - timedelta(minutes=1))
    w.pay(cid, 700, "T2", now=local_midnight + timedelta(minutes=1))
    f = w.read(console.figures, o.id, local_midnight + timedelta(hours=1))
    assert f.today == date(2026, 11, 21)
    assert (f.revenue_today.count, f.revenue_today.amount) == (1, 700)
    assert f.revenue_month.amount == 1200


def seeded_writer() -> Any:
    from aaad.view.write import LoginWriter
    return LoginWriter(seeded_box())


def seeded_box() -> Any:
    from aaad.crypto import SecretBox
    return SecretBox(b"k" * 32)


# -- the customer page -----------------------------------------------------------------------------

def test_customer_page(seeded: Seeded) -> None:
    """The customer, services with logins and live sessions, money, documents, tickets, timeline."""
    a = seeded.a
    a.invoice(seeded.john, 100_00, date(2026, 10, 1))
    a.invoice(seeded.john, 30_00, date(2026, 11, 15))
    a.pay(seeded.john, 20_00, "P1", now=at(date(2026, 11, 16)))
    a.tx(tickets.open_ticket, a.org_id, seeded.john, "No internet", "Since this morning", NOW)
    p = a.read(console.customer_page, a.box, a.org_id, seeded.john, NOW)
    assert p.customer.name == "John Doe" and p.currency == "GHS" and p.today == TODAY
    (sv,) = p.services
    assert sv.product_name == "Home 10M" and sv.login is not None and sv.login.username == "jdoe-ppp"
    assert [s.framed_ip for s in sv.sessions] == ["10.0.0.5"] and p.live_sessions == 1
    assert (p.money.balance, p.money.overdue, p.money.open_invoices) == (110_00, 80_00, 2)
    assert [i.open_amount for i in p.open_invoices] == [80_00, 30_00]
    assert [i.total for i in p.invoices] == [30_00, 100_00, 0]     # newest first (the service's own is free)
    assert [x.reference for x in p.payments] == ["P1"]
    assert p.credit_notes == () and [t.subject for t in p.tickets] == ["No internet"]
    assert p.timeline[0].kind == "payment" and p.timeline[0].balance == 110_00   # newest first
    assert any(i.kind.startswith("service.") for i in p.timeline)


def test_customer_page_of_another_org_is_not_found(seeded: Seeded) -> None:
    """Org A's page of org B's customer id: NotFound, nothing read."""
    with pytest.raises(NotFound):
        seeded.a.read(console.customer_page, seeded.a.box, seeded.a.org_id, seeded.john_b, NOW)


# -- indexes on PostgreSQL -------------------------------------------------------------------------

_BIG = ("customers", "acct_sessions", "logins", "services", "payments", "invoices")


def _plans(conn: Any, run: Any) -> list[str]:
    """The plans of the statements ``run(conn)`` executes, with sequential scans priced out (a plan
    that still scans a table has no index to use)."""
    from sqlalchemy import event
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))
    event.listen(conn, "before_cursor_execute", grab)
    try:
        run(conn)
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    conn.exec_driver_sql("SET enable_seqscan = off")
    return ["\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + s, p)) for s, p in seen]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_search_and_figures_use_indexes_on_postgresql(seeded: Seeded) -> None:
    """EXPLAIN on PostgreSQL: no form of search, no read of the customer page and none of the
    dashboard's big-table figures needs a sequential scan of customers, sessions, logins, services,
    payments or invoices (nor, for the page, journal entries and postings)."""
    a = seeded.a
    john = a.read(customers.get, a.org_id, seeded.john)
    from billing.schema import customers as customers_t
    with a.engine.begin() as c:      # enough rows for the planner to prefer the indexes it would at 100,000
        c.execute(customers_t.insert(), [
            {"org_id": a.org_id, "username": f"cust-{i:05d}", "name": f"Customer {i:05d}", "status": "active",
             "email": f"c{i}@bench.example", "phone": f"+23324{i:07d}", "created_at": NOW, "updated_at": NOW}
            for i in range(20_000)])
    with a.engine.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    with a.engine.connect() as conn:
        for q in ("john", "doe john", "0541234567", "+233 54 123 4567", "john@example.com", "10.0.0.5",
                  "100.64.0.10", "jdoe-ppp", john.username, "mensah"):
            plans = _plans(conn, lambda c, q=q: console.search(c, a.org_id, q, now=NOW))
            if q in ("john", "mensah"):
                assert any("ix_customers_name_trgm" in p for p in plans), plans
            if q in ("0541234567", "john@example.com", john.username):
                assert any("uq_customers_org_" in p for p in plans), plans
            if q == "10.0.0.5":
                assert any("ix_acct_sessions_org_ip" in p for p in plans), plans
            for plan in plans:
                bad = [t for t in _BIG if f"Seq Scan on {t}" in plan]
                assert not bad, f"search {q!r}:\n{plan}"
        for plan in _plans(conn, lambda c: console.customer_page(c, a.box, a.org_id, seeded.john, NOW)):
            bad = [t for t in (*_BIG, "journal_entries", "postings") if f"Seq Scan on {t}" in plan]
            assert not bad, f"customer page:\n{plan}"
        plans = _plans(conn, lambda c: console.figures(c, a.org_id, NOW))
        assert any("ix_journal_entries_org_kind_posted" in p for p in plans), plans
        for plan in plans:
            bad = [t for t in _BIG if f"Seq Scan on {t}" in plan]
            assert not bad, f"figures:\n{plan}"
        conn.rollback()


# -- the benchmark's harness -----------------------------------------------------------------------

def test_bench_console_runs_small() -> None:
    """bench/bench_console.py loads a small org on SQLite and finds every searched customer in every form."""
    import importlib.util
    import sys

    from tests.billing.test_bench_billing import bench_module
    from tests.conftest import ROOT
    bench_module()                                   # bench_billing, as bench_console imports it
    spec = importlib.util.spec_from_file_location("bench_console", ROOT / "bench" / "bench_console.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_console"] = mod
    spec.loader.exec_module(mod)
    o = mod.parse_args(["--customers", "60", "--calls", "21", "--warmup", "0", "--databases", "sqlite",
                        "--open-sessions", "30", "--closed-sessions", "20"])
    res = mod.bench_database(o, "sqlite")
    assert all(v["not_found"] == 0 for k, v in res["search"].items() if k != "all"), res["search"]
    assert res["customer_page"]["n"] == 21 and res["figures_ms"] > 0


# -- the console's lists ---------------------------------------------------------------------------

def test_names_and_owners_of_logins_stay_in_the_org(seeded: Seeded) -> None:
    """The lists name customers and the owners of logins of the org only; another org's ids are left out."""
    a, b = seeded.a, seeded.b
    assert a.read(console.customer_names, a.org_id, {seeded.john, seeded.jane, seeded.john_b}) == {
        seeded.john: "John Doe", seeded.jane: "Jane Smith"}
    assert a.read(console.customer_names, a.org_id, []) == {}
    page = a.read(console.customer_page, a.box, a.org_id, seeded.john, NOW)
    lg = page.services[0].login
    assert lg is not None
    assert a.read(console.owners_of_logins, a.org_id, [lg.id]) == {lg.id: (seeded.john, "John Doe")}
    assert b.read(console.owners_of_logins, b.org_id, [lg.id]) == {}
