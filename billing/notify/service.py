"""notify's running part, built by billing's service: the ``notify`` event subscriber, the
outbox sender, and the jobs (reminders, the SMS-balance check, pruning)."""
from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import date, time, timedelta
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.component import Core
from aaad.jobs import Job, JobContext
from aaad.schedules import Daily
from billing.notify import balance, otp, outbox, receipts, reminders
from billing.notify.config import NotifyConfig
from billing.notify.sender import ChannelCache, MessageSender
from billing.notify.subscribers import Subscribers

log = Logger()

SUBSCRIBER = "notify"
REMINDER_JOB = "notify.reminders"
BALANCE_JOB = "notify.sms_balance"
PRUNE_JOB = "notify.prune"


def policy(conf: NotifyConfig) -> otp.OtpPolicy:
    return otp.OtpPolicy(conf.otp_minutes, conf.otp_attempts, conf.otp_resend_seconds, conf.otp_per_hour)


class NotifyService:
    def __init__(self, core: Core, conf: NotifyConfig, *, base_url: Callable[[], str] = lambda: "",
                 http: Any = None):
        self.core = core
        self.conf = conf
        self.base_url = base_url
        self.channels = ChannelCache(core.db, core.box, core.reactor, http, timeout=conf.http_timeout,
                                     extra=self._extra)
        self.sender = MessageSender(core.db, core.box, core.clock, self.channels, poll_interval=conf.poll_interval,
                                    batch=conf.batch, per_channel=conf.per_channel, max_attempts=conf.max_attempts,
                                    backoff=conf.retry_backoff, backoff_max=conf.retry_backoff_max,
                                    stats=core.stats, max_rate=conf.max_rate)
        self.subscribers = Subscribers(core.box, base_url)
        if conf.enabled:
            for event_type, fn in self.subscribers.handlers():
                core.dispatcher.subscribe(SUBSCRIBER, event_type, fn, after_commit=self.sender.kick)
        core.scheduler.add(Job(REMINDER_JOB, conf.reminder_interval, self._reminders, per_org=True))
        core.scheduler.add(Job(BALANCE_JOB, Daily(time.fromisoformat(conf.balance_at)), self._balance,
                               per_org=True))
        core.scheduler.add(Job(PRUNE_JOB, 3600, self._prune))
        core.scheduler.on_leader.append(self._leader_changed)
        core.on_wake.append(self.sender.kick)
        self._started = False

    def _extra(self, channel: str, provider: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Settings the daemon fills in: Twilio's status callback at our public address."""
        if provider == "twilio" and not settings.get("status_callback") and self.base_url():
            return {"status_callback": receipts.callback_url(self.base_url())}
        return {}

    def _leader_changed(self, leader: bool) -> None:
        self.sender.enabled = leader and self.conf.enabled
        if self.sender.enabled:
            self.sender.kick()

    @defer.inlineCallbacks
    def _reminders(self, ctx: JobContext) -> Generator[Any, Any, dict[str, int]]:
        """Due-date reminders (once the org's reminders_at has come) and expiry warnings."""
        if not self.conf.enabled:
            return {}
        now = utcnow(self.core.clock)
        facts = yield ctx.db.read(outbox.org_facts, ctx.org_id, self.base_url())
        queued = {"due": 0, "expiry": 0}
        today: date | None = reminders.due_time_reached(facts, now)
        if today is not None:
            done = yield ctx.db.read(reminders.done_today, ctx.org_id)
            days = reminders.days_to_remind(done, today, self.conf.reminder_catch_up_days)
            if days and done is not None and (days[0] - done).days > 1:
                log.warn("due-date reminders of {n} missed day(s) from {first} to {last} are not sent: older than "
                         "[notify] reminder_catch_up_days ({k})", n=(days[0] - done).days - 1,
                         first=done + timedelta(days=1), last=days[0] - timedelta(days=1),
                         k=self.conf.reminder_catch_up_days)
            # the progress of a pass cut short belongs to the first day not done (its later days start at 0)
            resume = bool(days) and (done is None or days[0] == done + timedelta(days=1))
            after: int | None = int(ctx.progress or 0) if resume else 0
            for day in days:
                while after is not None:
                    n, after = yield ctx.checkpoint_after(_due_chunk, self.core.box, ctx.org_id, day, facts, after,
                                                          now, today, progress=lambda r: str(r[1] or 0))
                    queued["due"] += n
                after = 0
        n = yield ctx.db.write(_expiry_pass, self.core.box, ctx.org_id, facts, now)
        queued["expiry"] = n
        if queued["due"] or queued["expiry"]:
            self.sender.kick()
        return queued

    def _balance(self, ctx: JobContext) -> Any:
        return balance.check(ctx, self.core, self.channels)

    @defer.inlineCallbacks
    def _prune(self, ctx: JobContext) -> Generator[Any, Any, int]:
        now = utcnow(self.core.clock)
        n = yield ctx.db.write(outbox.prune, now - timedelta(days=self.conf.keep_days))
        yield ctx.db.write(otp.prune, now - timedelta(days=1))
        return int(n)

    def start(self) -> None:
        self.sender.enabled = self.core.dispatcher.enabled and self.conf.enabled
        self.sender.start()
        self._started = True

    @defer.inlineCallbacks
    def stop(self) -> Generator[Any, Any, None]:
        if self._started:
            yield self.sender.stop()


CHUNK = 2000


def _due_chunk(conn: Any, box: Any, org_id: int, day: date, facts: outbox.OrgFacts, after: int,
               now: Any, today: date | None = None) -> tuple[int, int | None]:
    """One chunk of ``day``'s due-date reminders, queued (worded as of ``today``, when ``day`` is a
    missed one caught up); the last chunk marks the day done."""
    drafts, more = reminders.due_drafts(conn, org_id, day, facts, after, CHUNK, as_of=today)
    n = len(outbox.queue(conn, box, org_id, drafts, now, facts=facts))
    if more is None:
        reminders.mark_done(conn, org_id, day, now)
    return n, more


def _expiry_pass(conn: Any, box: Any, org_id: int, facts: outbox.OrgFacts, now: Any) -> int:
    return len(outbox.queue(conn, box, org_id, reminders.expiry_drafts(conn, org_id, now, facts), now, facts=facts))
