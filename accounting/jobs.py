"""Accounting's periodic jobs: usage aggregation (with the FUP decision), stale-session cleanup, pruning.

Each job runs on the app's scheduler (once per period, never overlapping,
only on the leader instance) and commits in chunks through the writer, so it
never holds the writer for more than one chunk.  Aggregation checkpoints its
cursor with each chunk (``JobContext.checkpoint``): the ``agg_*`` update,
the bucket upserts, the cycle usage, any ``usage.quota_exceeded`` event
and any FUP throttle change (``login.throttled``, through the write path)
of a chunk commit together, so a crash between chunks neither loses nor
double counts anything.

The ``usage.quota_exceeded`` subscriber (``accounting.exhaust``) sets a
login whose profile says ``block_when_exhausted`` to ``exhausted`` through
the write path, in the dispatcher's transaction: the login row, its change
row and ``login.state_changed`` commit exactly once with the subscriber's
position (and the subscriber is idempotent besides).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.component import Core
from aaad.events import Event
from aaad.jobs import Job, JobContext
from accounting import store
from accounting.config import AccountingConfig
from accounting.tracker import Tracker

log = Logger()

AGGREGATE = "acct.aggregate"
STALE = "acct.close_stale"
PRUNE = "acct.prune"
EXHAUST = "accounting.exhaust"


class AccountingJobs:
    """The jobs and the quota subscriber, bound to one app's db, tracker and RRD store."""

    def __init__(self, core: Core, conf: AccountingConfig, tracker: Tracker, rrd: Any = None):
        self.core = core
        self.db = core.db
        self.clock = core.clock
        self.conf = conf
        self.tracker = tracker
        self.rrd = rrd
        self.last_aggregation: dict[str, Any] = {}
        self.skipped = core.stats.counter(
            "acct_aggregation_skipped_total",
            "Sessions left out of usage aggregation because their counters are impossible (negative or beyond 2^62).")
        self.failures = core.stats.counter(
            "acct_aggregation_failures_total",
            "Usage aggregation runs that failed (the job_runs row says failed; the next tick retries).")

    def register(self, scheduler: Any, dispatcher: Any) -> None:
        scheduler.add(Job(AGGREGATE, self.conf.aggregation_interval, self.aggregate))
        scheduler.add(Job(STALE, 300, self.close_stale))
        scheduler.add(Job(PRUNE, 3600, self.prune))
        dispatcher.subscribe(EXHAUST, "usage.quota_exceeded", self.on_quota_exceeded)

    def aggregate(self, ctx: JobContext) -> defer.Deferred[Any]:
        """Move new session octets into the buckets of the slot before this period."""
        def failed(f: Any) -> Any:
            self.failures[""] += 1
            log.failure("usage aggregation failed (usage, quotas and graphs wait for the next run)", f)
            return f
        return self._aggregate(ctx).addErrback(failed)

    @defer.inlineCallbacks
    def _aggregate(self, ctx: JobContext):  # type: ignore[no-untyped-def]
        slot = ctx.period_start - timedelta(seconds=self.conf.aggregation_interval)
        now = utcnow(self.clock)
        after = int(ctx.progress or 0)
        n = chunks = throttled = 0
        slot_rows: dict[tuple[int, int, datetime], list[int]] = {}  # (org, login, slot) -> [rx, tx] over all chunks
        while True:
            # The cursor is known once the chunk ran: it is the checkpoint,
            # committed with the chunk under the job's lease.
            chunk = yield ctx.checkpoint_after(store.aggregate_chunk, after, self.conf.aggregation_chunk,
                                               slot, now, self.core.login_writer,
                                               progress=lambda c: str(c.last_id))
            if chunk.sessions == 0:
                break
            chunks += 1
            n += chunk.sessions
            if chunk.skipped:
                self.skipped[""] += chunk.skipped
                log.warn("usage aggregation skipped {n} sessions with impossible counters", n=chunk.skipped)
            after = chunk.last_id
            throttled += len(chunk.throttled)
            for org, lid, sl, rx, tx in chunk.slot_rows:
                acc = slot_rows.setdefault((org, lid, sl), [0, 0])
                acc[0] += rx
                acc[1] += tx
            if chunk.sessions < self.conf.aggregation_chunk:
                break
        self.last_aggregation = {"sessions": n, "chunks": chunks, "logins": len(slot_rows),
                                 "throttled": throttled}
        if slot_rows and self.rrd is not None:
            self.rrd.update_many([(*k, v[0], v[1]) for k, v in slot_rows.items()]).addErrback(
                lambda f: log.failure("RRD update after aggregation failed", f))
        if n:
            log.info("usage aggregated: {n} sessions in {chunks} chunks, slot {slot}; "
                     "{throttled} FUP level changes", n=n, chunks=chunks, slot=slot.isoformat(),
                     throttled=throttled)
        return n

    @defer.inlineCallbacks
    def close_stale(self, ctx: JobContext):  # type: ignore[no-untyped-def]
        """Close open sessions with no update for twice their interim interval plus the grace."""
        now = utcnow(self.clock)
        after = 0
        total = 0
        while True:
            chunk = yield self.db.write(store.close_stale_chunk, after, self.conf.aggregation_chunk, now,
                                        self.conf.default_interim, self.conf.stale_grace)
            self.tracker.closed(chunk.closed_logins)
            total += chunk.closed
            after = chunk.last_id
            if chunk.scanned < self.conf.aggregation_chunk:
                break
        if total:
            log.info("closed {n} stale sessions", n=total)
        return total

    @defer.inlineCallbacks
    def prune(self, ctx: JobContext):  # type: ignore[no-untyped-def]
        """Delete usage buckets past their level's retention, and old closed sessions."""
        from accounting.usage import expired_before
        now = utcnow(self.clock)
        c = self.conf
        out = {}
        for level, days in (("slot", c.retention_5m), ("hour", c.retention_hourly), ("day", c.retention_daily)):
            cutoff = expired_before(now, level, timedelta(days=days))  # type: ignore[arg-type]
            out[level] = yield self.db.write(store.prune_usage, level, cutoff)
        if c.retention_sessions:
            out["sessions"] = yield self.prune_sessions(now - timedelta(days=c.retention_sessions))
        return out

    @defer.inlineCallbacks
    def prune_sessions(self, before: Any):  # type: ignore[no-untyped-def]
        """Delete sessions closed before ``before`` (and aggregated), one chunk per transaction."""
        after = total = 0
        limit = self.conf.aggregation_chunk
        while True:
            ids = yield self.db.read(store.expired_session_ids, before, after, limit)
            if not ids:
                return total
            total += yield self.db.write(store.delete_sessions, ids, before)
            after = ids[-1]
            if len(ids) < limit:
                return total

    def on_quota_exceeded(self, conn: Connection, ev: Event) -> None:
        """Set a block-when-exhausted login to ``exhausted`` (idempotent)."""
        exhaust_if_blocking(conn, self.core.login_writer, ev.org_id, ev.payload.login_id,
                            utcnow(self.clock), datetime.fromisoformat(ev.payload.cycle_start))


def exhaust_if_blocking(conn: Any, writer: Any, org_id: int, login_id: int, now: Any,
                        cycle_start: Any = None) -> bool:
    """In the caller's transaction: an active login whose profile blocks when
    exhausted becomes ``exhausted`` through the write path; False otherwise."""
    from aaad.view import store as view_store
    lg = view_store.get_login(conn, writer.box, org_id, login_id)
    if lg is None or lg.state != "active" or lg.profile_id is None:
        return False
    prof = view_store.get_profile(conn, org_id, lg.profile_id)
    if prof is None or not prof.block_when_exhausted:
        return False
    log.info("login {user} used up its data cap: exhausted", user=lg.username)
    return bool(writer.exhaust(conn, org_id, login_id, now, cycle_start))
