"""Reminder rules and the passes that turn them into messages.

A rule is a kind and an offset: ``invoice.due_reminder`` at -3 days, 0 and +2
days of an invoice's due date (whole days); ``service.expiry_warning`` at -1
day or -2 hours of a time-limited service's end.  The reminder job runs every
few minutes per org:

- due reminders are decided once the org's local time has reached its
  ``reminders_at`` (09:00 by default), for the open invoices whose due date is
  today minus the rule's offset; each (rule, invoice) once;
- expiry warnings are decided for the services whose end falls within the
  rule's lead time from now; a service inside several rules' lead times gets
  the closest rule only; each (rule, service, end) once.

The draft keys make a re-run (after a crash, or the next pass the same day)
write nothing new.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_datetime, format_timedelta
from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from aaad.schema import logins as login_t
from billing.notify import kinds
from billing.notify.outbox import Draft, OrgFacts
from billing.notify.schema import rules as rule_t
from billing.notify.schema import settings as set_t
from billing.notify.subscribers import invoice_fields
from billing.schema import invoices as inv_t
from billing.schema import products as prod_t
from billing.schema import services as svc_t

DUE = "invoice.due_reminder"
EXPIRY = "service.expiry_warning"
DAY = 1440


@dataclass(frozen=True)
class Rule:
    id: int
    org_id: int
    kind: str
    offset_minutes: int
    enabled: bool

    @property
    def describe(self) -> str:
        return describe_offset(self.kind, self.offset_minutes)


def describe_offset(kind: str, minutes: int) -> str:
    """-4320 -> "3 days before the due date"; 0 -> "on the due date"; 120 -> "2 hours after expiry"."""
    what = "the due date" if kind == DUE else "expiry"
    if minutes == 0:
        return f"on {what}" if kind == DUE else f"at {what}"
    m = abs(minutes)
    if m % DAY == 0:
        n, unit = m // DAY, "day"
    elif m % 60 == 0:
        n, unit = m // 60, "hour"
    else:
        n, unit = m, "minute"
    return f"{n} {unit}{'s' if n != 1 else ''} {'before' if minutes < 0 else 'after'} {what}"


_OFFSET = re.compile(r"([+-]?)(\d{1,4})\s*(d|h|m|days?|hours?|minutes?)", re.I)


def parse_offset(text: str) -> int:
    """"-3d", "+2d", "0", "-2h", "-30m" -> minutes (ValidationError("offset"))."""
    t = text.strip()
    if t in ("0", "+0", "-0"):
        return 0
    m = _OFFSET.fullmatch(t)
    if not m:
        raise ValidationError("offset", f"{text!r}: give a signed duration like -3d, 0, +2d or -2h "
                                        "(negative: before)")
    n = int(m.group(2)) * {"d": DAY, "h": 60, "m": 1}[m.group(3)[0].lower()]
    return -n if m.group(1) == "-" else n


def _rule(r: Any) -> Rule:
    return Rule(r.id, r.org_id, r.kind, r.offset_minutes, bool(r.enabled))


def check_rule(kind: str, offset_minutes: int) -> None:
    if kind not in kinds.RULE_KINDS:
        raise ValidationError("kind", f"rules exist for {', '.join(kinds.RULE_KINDS)}")
    if kind == DUE:
        if offset_minutes % DAY:
            raise ValidationError("offset_minutes", "due-date reminders are in whole days (a multiple of 1440)")
        if abs(offset_minutes) > 90 * DAY:
            raise ValidationError("offset_minutes", "at most 90 days before or after")
    else:
        if offset_minutes >= 0:
            raise ValidationError("offset_minutes", "an expiry warning comes before expiry (negative)")
        if offset_minutes < -30 * DAY:
            raise ValidationError("offset_minutes", "at most 30 days before")


def add_rule(conn: Connection, org_id: int, kind: str, offset_minutes: int, now: datetime,
             enabled: bool = True) -> Rule:
    check_rule(kind, offset_minutes)
    dup = conn.execute(sa.select(rule_t.c.id).where(rule_t.c.org_id == org_id, rule_t.c.kind == kind,
                                                    rule_t.c.offset_minutes == offset_minutes)).first()
    if dup is not None:
        raise ValidationError("offset_minutes", f"rule {dup.id} already sends {kind} "
                                                f"{describe_offset(kind, offset_minutes)}")
    rid = conn.execute(rule_t.insert().values(org_id=org_id, kind=kind, offset_minutes=offset_minutes,
                                              enabled=enabled, created_at=now, updated_at=now)).inserted_primary_key
    assert rid is not None
    return get_rule(conn, org_id, int(rid[0]))


def get_rule(conn: Connection, org_id: int, rule_id: int) -> Rule:
    r = conn.execute(sa.select(rule_t).where(rule_t.c.org_id == org_id, rule_t.c.id == rule_id)).first()
    if r is None:
        raise NotFound("rule", rule_id)
    return _rule(r)


def list_rules(conn: Connection, org_id: int, kind: str | None = None) -> list[Rule]:
    q = sa.select(rule_t).where(rule_t.c.org_id == org_id)
    if kind:
        q = q.where(rule_t.c.kind == kind)
    return [_rule(r) for r in conn.execute(q.order_by(rule_t.c.kind, rule_t.c.offset_minutes))]


def set_rule_enabled(conn: Connection, org_id: int, rule_id: int, enabled: bool, now: datetime) -> Rule:
    get_rule(conn, org_id, rule_id)
    conn.execute(rule_t.update().where(rule_t.c.org_id == org_id, rule_t.c.id == rule_id)
                 .values(enabled=enabled, updated_at=now))
    return get_rule(conn, org_id, rule_id)


def remove_rule(conn: Connection, org_id: int, rule_id: int) -> None:
    get_rule(conn, org_id, rule_id)
    conn.execute(rule_t.delete().where(rule_t.c.org_id == org_id, rule_t.c.id == rule_id))


# -- the passes ----------------------------------------------------------------------------

def _days_words(days: int, locale: str) -> str:
    if days == 0:
        return "today"
    return format_timedelta(timedelta(days=days), granularity="day", threshold=10, add_direction=True,
                            locale=locale)


def days_to_remind(done: date | None, today: date, catch_up_days: int) -> list[date]:
    """The org's local dates whose due-date reminders are still to go out, oldest first: ``today``
    and the days missed since the last finished pass (``done``: the daemon was down at
    reminders_at), at most ``catch_up_days`` back.  Before the first pass ever, today only."""
    if done is not None and done >= today:
        return []
    first = today if done is None else max(done + timedelta(days=1), today - timedelta(days=catch_up_days))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def due_drafts(conn: Connection, org_id: int, today: date, f: OrgFacts, after_invoice: int = 0,
               limit: int = 2000, as_of: date | None = None) -> tuple[list[Draft], int | None]:
    """Due-date reminders for ``today`` (the org's local date) for up to ``limit`` invoices
    by id after ``after_invoice``: the drafts, and the id to continue after (None: done).
    ``as_of``: the local date they go out on, when later than ``today`` (a missed day caught
    up): their wording ("in 2 days") counts from it."""
    rules = [r for r in list_rules(conn, org_id, DUE) if r.enabled]
    if not rules:
        return [], None
    by_due = {today - timedelta(days=r.offset_minutes // DAY): r for r in rules}
    c = inv_t.c
    q = (sa.select(c.id, c.customer_id, c.number, c.total, c.paid, c.currency, c.due_date, c.issue_date)
         .where(c.org_id == org_id, c.state == "open", c.due_date.in_(list(by_due)), c.total > c.paid,
                c.id > after_invoice).order_by(c.id).limit(limit))
    rows = conn.execute(q).all()
    drafts: list[Draft] = []
    for r in rows:
        rule = by_due[r.due_date]
        days = ((as_of or today) - r.due_date).days
        inv = invoice_fields(r.number, r.total, r.total - r.paid, r.currency, r.due_date, r.issue_date, f.locale)
        drafts.append(Draft(DUE, f"due:{rule.id}:{r.id}", r.customer_id,
                            {"invoice": inv, "days": days, "when": _days_words(-days, f.locale)}))
    return drafts, (rows[-1].id if len(rows) == limit else None)


def done_today(conn: Connection, org_id: int) -> date | None:
    """The local date of the org's last finished due-date pass."""
    return conn.execute(sa.select(set_t.c.reminders_done_on).where(set_t.c.org_id == org_id)).scalar()


def mark_done(conn: Connection, org_id: int, today: date, now: datetime) -> None:
    if conn.execute(set_t.update().where(set_t.c.org_id == org_id)
                    .values(reminders_done_on=today)).rowcount == 0:
        conn.execute(set_t.insert().values(org_id=org_id, reminders_done_on=today, updated_at=now))


@dataclass(frozen=True)
class Expiring:
    service_id: int
    customer_id: int
    product: str
    username: str
    ends_at: datetime        # UTC


def expiring(conn: Connection, org_id: int, now: datetime, until: datetime, tz: str) -> list[Expiring]:
    """Active services ending in [now, until]: their login's ``expires_at``, or the end of
    their last day (``end_date``, local)."""
    s, p, lg = svc_t.c, prod_t.c, login_t.c
    out: list[Expiring] = []
    q1 = (sa.select(s.id, s.customer_id, p.name, s.username, lg.expires_at)
          .join(prod_t, p.id == s.product_id).join(login_t, lg.id == s.login_id)
          .where(s.org_id == org_id, s.state == "active", lg.expires_at.is_not(None),
                 lg.expires_at >= now, lg.expires_at <= until))
    for r in conn.execute(q1):
        out.append(Expiring(r.id, r.customer_id, r.name, r.username or "", r.expires_at))
    zone = ZoneInfo(tz)
    first = now.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    q2 = (sa.select(s.id, s.customer_id, p.name, s.username, s.end_date).join(prod_t, p.id == s.product_id)
          .where(s.org_id == org_id, s.state == "active", s.end_date.is_not(None), s.end_date >= first,
                 s.end_date <= last))
    seen = {e.service_id for e in out}
    for r in conn.execute(q2):
        ends = datetime.combine(r.end_date + timedelta(days=1), time(0), zone).astimezone(now.tzinfo)
        if r.id not in seen and now <= ends <= until:
            out.append(Expiring(r.id, r.customer_id, r.name, r.username or "", ends))
    return out


def expiry_drafts(conn: Connection, org_id: int, now: datetime, f: OrgFacts) -> list[Draft]:
    rules = sorted((r for r in list_rules(conn, org_id, EXPIRY) if r.enabled), key=lambda r: -r.offset_minutes)
    if not rules:
        return []
    longest = max(-r.offset_minutes for r in rules)
    zone = ZoneInfo(f.timezone)
    drafts = []
    for e in expiring(conn, org_id, now, now + timedelta(minutes=longest), f.timezone):
        left = e.ends_at - now
        rule = next(r for r in rules if left <= timedelta(minutes=-r.offset_minutes))  # the closest lead time
        when = format_timedelta(left, granularity="minute", threshold=1, add_direction=True, locale=f.locale)
        drafts.append(Draft(EXPIRY, f"exp:{rule.id}:{e.service_id}:{e.ends_at.strftime('%Y%m%d%H%M')}",
                            e.customer_id,
                            {"service": {"product": e.product, "username": e.username,
                                         "expires": format_datetime(e.ends_at.astimezone(zone), "medium",
                                                                    locale=f.locale)},
                             "when": when}))
    return drafts


def due_time_reached(f: OrgFacts, now: datetime) -> date | None:
    """The org's local date when its local time is at or past ``reminders_at``, else None."""
    local = now.astimezone(ZoneInfo(f.timezone))
    at = time.fromisoformat(f.settings.reminders_at)
    return local.date() if local.time().replace(tzinfo=None) >= at else None

