"""Reminder rules, clock-driven: an invoice due in 3 days gets exactly the configured
reminders across a simulated week (re-runs and restarts add none); expiry warnings
take the closest rule once; rules and offsets are checked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.errors import ValidationError
from aaad.schema import logins as login_t
from billing.notify import reminders
from billing.notify import settings as ns
from billing.notify.config import NotifyConfig
from billing.notify.service import NotifyService
from tests.billing import fixtures_c
from tests.billing.notify.harness import Notify, make
from tests.helpers import SyncDB

T0 = fixtures_c.T0
DAY = 1440


@pytest.fixture
def n(engine: Any) -> Notify:
    return make(engine, channels=("email",))


@dataclass
class _Ctx:
    """The part of a JobContext the reminder job uses: the org, its progress, the database, and
    checkpoints (each chunk and its progress in one transaction, as the scheduler's)."""
    org_id: int
    db: SyncDB
    progress: str | None = None

    def checkpoint_after(self, fn: Any, *args: Any, progress: Any) -> Any:
        def note(r: Any) -> Any:
            self.progress = progress(r)
            return r
        return self.db.write(fn, *args).addCallback(note)


def _pass(n: Notify, now: datetime, catch_up_days: int = 3) -> int:
    """One reminder job pass at ``now``: NotifyService._reminders itself, on SyncDB."""
    n.set_time(now)
    service = SimpleNamespace(conf=NotifyConfig(reminder_catch_up_days=catch_up_days),
                              core=SimpleNamespace(box=n.w.box, clock=n.clock),
                              base_url=lambda: "https://isp.example", sender=SimpleNamespace(kick=lambda: None))
    d = NotifyService._reminders(service, _Ctx(n.org_id, n.db))  # type: ignore[arg-type]
    got: list[dict[str, int]] = []
    d.addCallback(got.append)
    assert got, d
    return got[0]["due"] + got[0]["expiry"]


def test_a_week_of_due_reminders(n: Notify) -> None:
    """Rules -3d, 0, +2d; an invoice issued Nov 1 due Nov 4: reminders on Nov 1, 4 and 6 only,
    whatever the number of passes a day; a paid invoice gets no more."""
    for off in (-3 * DAY, 0, 2 * DAY):
        n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, off, T0)
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    inv = n.w.invoice(cid, 100_00, date(2026, 11, 1), due=date(2026, 11, 4))
    other = n.w.customer("kofi", "Kofi Boateng")
    n.contact(other, email="kofi@example.com")
    paid = n.w.invoice(other, 50_00, date(2026, 11, 1), due=date(2026, 11, 4))
    n.w.pay(other, paid.total, "paid-1", now=T0)
    sent_on: list[tuple[date, int, str]] = []
    for d in range(8):
        day = date(2026, 11, 1) + timedelta(days=d)
        for hour in (6, 9, 12, 18):            # before reminders_at (09:00) nothing; then at most once
            _pass(n, datetime(day.year, day.month, day.day, hour, tzinfo=UTC))
            n.pump()
        for m in n.messages(kind="invoice.due_reminder"):
            if m.created_at.date() == day:
                sent_on.append((day, m.vars["days"], m.vars["when"]))
    assert [(d.day, days) for d, days, _ in sent_on] == [(1, -3), (4, 0), (6, 2)]
    assert [w for _, _, w in sent_on] == ["in 3 days", "today", "2 days ago"]
    rows = n.messages(kind="invoice.due_reminder")
    assert {m.customer_id for m in rows} == {cid} and {m.state for m in rows} == {"sent"}
    assert rows[0].vars["invoice"]["number"] == inv.number
    assert rows[0].created_at == datetime(2026, 11, 1, 9, tzinfo=UTC)


def test_a_rerun_after_a_crash_queues_nothing_twice(n: Notify) -> None:
    """A pass whose day was not marked done (killed after the chunk, before the end) and is
    run again writes no second reminder."""
    n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, 0, T0)
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    n.w.invoice(cid, 100_00, date(2026, 11, 1), due=date(2026, 11, 1))
    now = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert _pass(n, now) == 1
    n.w.tx(lambda c: c.execute(sa.text("UPDATE notify_settings SET reminders_done_on = NULL")))
    assert _pass(n, now) == 0
    assert len(n.messages(kind="invoice.due_reminder")) == 1


def test_days_to_remind() -> None:
    """Today, and the missed days since the last finished pass, at most catch_up_days back; before
    any pass, today only; nothing once today is done."""
    d = date(2026, 11, 10)
    assert reminders.days_to_remind(None, d, 3) == [d]
    assert reminders.days_to_remind(d, d, 3) == []
    assert reminders.days_to_remind(d - timedelta(days=1), d, 3) == [d]
    assert reminders.days_to_remind(d - timedelta(days=3), d, 3) == [d - timedelta(days=2), d - timedelta(days=1), d]
    assert reminders.days_to_remind(d - timedelta(days=9), d, 2) == [d - timedelta(days=2), d - timedelta(days=1), d]
    assert reminders.days_to_remind(d - timedelta(days=9), d, 0) == [d]


def test_a_missed_day_is_caught_up_at_the_next_pass(n: Notify) -> None:
    """Rules -3d and 0; no pass runs on Nov 1 (the daemon was down): the Nov 2 pass sends Nov 1's
    3-day reminder, worded from Nov 2 ("in 2 days"), then Nov 4's reminder comes on its day;
    nothing is sent twice."""
    for off in (-3 * DAY, 0):
        n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, off, T0)
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    n.w.invoice(cid, 100_00, date(2026, 10, 20), due=date(2026, 11, 4))
    n.w.tx(reminders.mark_done, n.org_id, date(2026, 10, 31), T0)   # the last pass before the outage
    got = []
    for day in (2, 3, 4, 5):
        for hour in (9, 15):
            _pass(n, datetime(2026, 11, day, hour, tzinfo=UTC))
            n.pump()
        got = [(m.created_at.day, m.vars["days"], m.vars["when"]) for m in n.messages(kind="invoice.due_reminder")]
    assert got == [(2, -2, "in 2 days"), (4, 0, "today")]
    assert n.w.read(reminders.done_today, n.org_id) == date(2026, 11, 5)


def test_missed_days_beyond_the_catch_up_window_are_skipped(n: Notify) -> None:
    """Down for a week with a 2-day window: only the last two missed days and today are looked at."""
    n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, 0, T0)
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    inv = {due.day: n.w.invoice(cid, 10_00, date(2026, 10, 20), due=due)
           for due in (date(2026, 11, 3), date(2026, 11, 8), date(2026, 11, 10))}
    n.w.tx(reminders.mark_done, n.org_id, date(2026, 11, 1), T0)
    assert _pass(n, datetime(2026, 11, 10, 9, tzinfo=UTC), catch_up_days=2) == 2
    n.pump()
    got = {m.vars["invoice"]["number"]: m.vars["days"] for m in n.messages(kind="invoice.due_reminder")}
    assert got == {inv[8].number: 2, inv[10].number: 0}


def test_reminders_at_is_local_time(engine: Any) -> None:
    """An org with reminders at 18:00 gets nothing from the 09:00 pass."""
    n = make(engine, channels=("email",))
    n.w.tx(ns.update, n.org_id, T0, reminders_at="18:00")
    n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, 0, T0)
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com")
    n.w.invoice(cid, 100_00, date(2026, 11, 1), due=date(2026, 11, 1))
    assert _pass(n, datetime(2026, 11, 1, 9, tzinfo=UTC)) == 0
    assert _pass(n, datetime(2026, 11, 1, 18, tzinfo=UTC)) == 1


def test_expiry_warning_closest_rule_once(n: Notify) -> None:
    """Rules -1d and -2h; a login expiring Nov 3 18:00: the 1-day warning from Nov 2 18:00, the
    2-hour one from 16:00, each once (passes every 30 minutes)."""
    n.w.tx(ns.set_route, n.org_id, "service.expiry_warning", ["email"], T0)
    n.w.tx(reminders.add_rule, n.org_id, reminders.EXPIRY, -DAY, T0)
    n.w.tx(reminders.add_rule, n.org_id, reminders.EXPIRY, -120, T0)
    pid = n.w.internet_product()
    cid, sid = n.w.subscriber("ama", pid)
    n.contact(cid, email="ama@example.com")
    ends = datetime(2026, 11, 3, 18, tzinfo=UTC)
    login_id = n.w.service(sid).login_id
    n.w.tx(lambda c: c.execute(login_t.update().where(login_t.c.id == login_id).values(expires_at=ends)))
    n.deliver()
    got = []
    t = datetime(2026, 11, 2, 12, tzinfo=UTC)
    while t <= ends + timedelta(hours=1):
        _pass(n, t)
        t += timedelta(minutes=30)
        got = [(m.created_at, m.vars["when"]) for m in n.messages(kind="service.expiry_warning")]
    assert got == [(datetime(2026, 11, 2, 18, tzinfo=UTC), "in 1 day"),
                   (datetime(2026, 11, 3, 16, tzinfo=UTC), "in 2 hours")]


def test_rules_are_checked() -> None:
    """Due reminders are whole days; expiry warnings come before; offsets parse as written."""
    with pytest.raises(ValidationError):
        reminders.check_rule(reminders.DUE, 90)
    with pytest.raises(ValidationError):
        reminders.check_rule(reminders.EXPIRY, 60)
    with pytest.raises(ValidationError):
        reminders.check_rule("customer.welcome", 0)
    assert [reminders.parse_offset(t) for t in ("-3d", "0", "+2d", "-2h", "-30m", "2 days")] == [
        -3 * DAY, 0, 2 * DAY, -120, -30, 2 * DAY]
    with pytest.raises(ValidationError):
        reminders.parse_offset("soon")
    assert reminders.describe_offset(reminders.DUE, -3 * DAY) == "3 days before the due date"
    assert reminders.describe_offset(reminders.EXPIRY, -120) == "2 hours before expiry"


def test_a_duplicate_rule_is_refused(n: Notify) -> None:
    n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, 0, T0)
    with pytest.raises(ValidationError) as e:
        n.w.tx(reminders.add_rule, n.org_id, reminders.DUE, 0, T0)
    assert e.value.field == "offset_minutes"
